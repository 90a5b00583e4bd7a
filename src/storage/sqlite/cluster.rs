//! [`ClusterStore`] on SQLite: one process owns the file, but nodes and locks work the same.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::rows::node_from_row;
use super::{err, millis, Cached, SqliteStorage};
use crate::storage::{ClusterStore, NodeRecord, StorageError};

#[async_trait]
impl ClusterStore for SqliteStorage {
    fn shared(&self) -> bool {
        false
    }

    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StorageError> {
        let node = node.clone();
        self.write(move |c: &Connection| {
            c.exec(
                "INSERT INTO nodes (id, hostname, api_addr, version, started_at, heartbeat_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET \
                 hostname=excluded.hostname, api_addr=excluded.api_addr, \
                 version=excluded.version, heartbeat_at=excluded.heartbeat_at",
                params![
                    node.id,
                    node.hostname,
                    node.api_addr,
                    node.version,
                    millis(node.started_at),
                    millis(node.heartbeat_at)
                ],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn node_list(&self) -> Result<Vec<NodeRecord>, StorageError> {
        self.read(|c: &Connection| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, hostname, api_addr, version, started_at, heartbeat_at \
                     FROM nodes ORDER BY id",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], node_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn node_remove(&self, id: &str) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.write(move |c: &Connection| {
            c.exec("DELETE FROM nodes WHERE id = ?1", [id])
                .map(|_| ())
                .map_err(err)
        })
        .await
    }

    async fn lock_try(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c: &Connection| {
            c.exec(
                "INSERT INTO locks (name, holder, expires_at) VALUES (?1, ?2, ?4) \
                 ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, \
                 expires_at=excluded.expires_at \
                 WHERE locks.holder = excluded.holder OR locks.expires_at <= ?3",
                params![name, holder, millis(now), millis(until)],
            )
            .map(|n| n == 1)
            .map_err(err)
        })
        .await
    }

    async fn lock_release(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c: &Connection| {
            c.exec(
                "DELETE FROM locks WHERE name = ?1 AND holder = ?2",
                [name, holder],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn lock_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        let name = name.to_owned();
        self.read(move |c: &Connection| {
            c.row(
                "SELECT holder FROM locks WHERE name = ?1 AND expires_at > ?2",
                params![name, millis(now)],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)
        })
        .await
    }
}
