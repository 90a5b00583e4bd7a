//! [`KvStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{err, Cached, SqliteStorage};
use crate::storage::{KvStore, StorageError};

#[async_trait]
impl KvStore for SqliteStorage {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_owned();
        self.read(move |c: &Connection| {
            c.row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(err)
        })
        .await
    }

    async fn kv_put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.write(move |c: &Connection| {
            c.exec(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn kv_compare_and_put(
        &self,
        key: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError> {
        self.swap_if_equal(
            "UPDATE kv SET value = ?3 WHERE key = ?1 AND value = ?2",
            key,
            expected,
            value,
        )
        .await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.write(move |c: &Connection| {
            c.exec("DELETE FROM kv WHERE key = ?1", [key])
                .map(|_| ())
                .map_err(err)
        })
        .await
    }

    async fn kv_list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
                )
                .map_err(err)?;
            let keys = stmt
                .query_map([&prefix], |r| r.get::<_, String>(0))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            let mut out: Vec<String> = Vec::new();
            for key in keys {
                let rest = key.get(prefix.len()..).unwrap_or_default();
                let child = match rest.find('/') {
                    Some(i) => rest.get(..=i).unwrap_or(rest).to_owned(),
                    None => rest.to_owned(),
                };
                if !child.is_empty() && out.last() != Some(&child) {
                    out.push(child);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn kv_delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let prefix = prefix.to_owned();
        self.write(move |c: &Connection| {
            c.exec(
                "DELETE FROM kv WHERE substr(key, 1, length(?1)) = ?1",
                [prefix],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn kv_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.scan_pairs(
            "SELECT key, value FROM kv WHERE key > ?1 ORDER BY key LIMIT ?2",
            after,
            limit,
        )
        .await
    }
}
