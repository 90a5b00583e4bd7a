//! [`KvStore`] on PostgreSQL (the `kv_notify` trigger feeds the change feed).

use async_trait::async_trait;

use super::{pg_err, PostgresStorage};
use crate::storage::{KvStore, StorageError};

#[async_trait]
impl KvStore for PostgresStorage {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self
            .query("SELECT value FROM kv WHERE key = $1", &[&key])
            .await?;
        rows.first()
            .map(|r| r.try_get(0).map_err(pg_err))
            .transpose()
    }

    async fn kv_put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO kv (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .await
        .map(|_| ())
    }

    async fn kv_compare_and_put(
        &self,
        key: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError> {
        self.execute(
            "UPDATE kv SET value = $3 WHERE key = $1 AND value = $2",
            &[&key, &expected, &value],
        )
        .await
        .map(|changed| changed == 1)
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM kv WHERE key = $1", &[&key])
            .await
            .map(|_| ())
    }

    async fn kv_list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        // One row per direct child: the part of the key after the prefix, up to and including
        // the next '/'.
        let rows = self
            .query(
                "SELECT child FROM (SELECT DISTINCT CASE WHEN strpos(rest, '/') > 0 \
                     THEN left(rest, strpos(rest, '/')) ELSE rest END AS child \
                 FROM (SELECT substr(key, length($1) + 1) AS rest FROM kv \
                       WHERE starts_with(key, $1)) k WHERE rest <> '') c \
                 ORDER BY child COLLATE \"C\"",
                &[&prefix],
            )
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(pg_err)).collect()
    }

    async fn kv_delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM kv WHERE starts_with(key, $1)", &[&prefix])
            .await
            .map(|_| ())
    }

    async fn kv_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.scan_pairs(
            "SELECT key, value FROM kv WHERE key COLLATE \"C\" > $1 \
             ORDER BY key COLLATE \"C\" LIMIT $2",
            after,
            limit,
        )
        .await
    }
}
