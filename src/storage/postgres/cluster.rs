//! [`ClusterStore`] on PostgreSQL: the nodes sharing the database, and named locks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::rows::node_from_row;
use super::{millis, pg_err, PostgresStorage};
use crate::storage::{ClusterStore, NodeRecord, StorageError};

#[async_trait]
impl ClusterStore for PostgresStorage {
    fn shared(&self) -> bool {
        true
    }

    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO nodes (id, hostname, api_addr, version, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
             hostname = excluded.hostname, api_addr = excluded.api_addr, \
             version = excluded.version, heartbeat_at = excluded.heartbeat_at",
            &[
                &node.id,
                &node.hostname,
                &node.api_addr,
                &node.version,
                &millis(node.started_at),
                &millis(node.heartbeat_at),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn node_list(&self) -> Result<Vec<NodeRecord>, StorageError> {
        let rows = self
            .query(
                "SELECT id, hostname, api_addr, version, started_at, heartbeat_at \
                 FROM nodes ORDER BY id COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter().map(node_from_row).collect()
    }

    async fn node_remove(&self, id: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM nodes WHERE id = $1", &[&id])
            .await
            .map(|_| ())
    }

    async fn lock_try(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        // ON CONFLICT makes racing takers serialise on the row: one wins, the other sees its row.
        self.execute(
            "INSERT INTO locks (name, holder, expires_at) VALUES ($1, $2, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE locks.holder = excluded.holder OR locks.expires_at <= $3",
            &[&name, &holder, &millis(now), &millis(until)],
        )
        .await
        .map(|n| n == 1)
    }

    async fn lock_release(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        self.execute(
            "DELETE FROM locks WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )
        .await
        .map(|_| ())
    }

    async fn lock_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        let rows = self
            .query(
                "SELECT holder FROM locks WHERE name = $1 AND expires_at > $2",
                &[&name, &millis(now)],
            )
            .await?;
        rows.first()
            .map(|r| r.try_get(0).map_err(pg_err))
            .transpose()
    }
}
