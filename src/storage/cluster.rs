//! [`ClusterStore`]: what several servers sharing one storage need of it — node membership
//! (heartbeats) and named locks (the leader's, migrations', rotations').

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StorageError;

/// Node membership and named locks. Every method is one atomic step.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// True when other processes may share this storage (PostgreSQL). When false, whatever a
    /// start-up finds claimed or half-created belongs to a dead process and is recovered at once.
    fn shared(&self) -> bool;
    /// Register or refresh this node (`heartbeat_at` included), upserting by id.
    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StorageError>;
    /// Every registered node, by id.
    async fn node_list(&self) -> Result<Vec<NodeRecord>, StorageError>;
    /// Forget a node (graceful stop, or long dead).
    async fn node_remove(&self, id: &str) -> Result<(), StorageError>;
    /// Take or extend the named lock for `holder` until `until`: succeeds when the lock is free,
    /// expired (`expires_at <= now`) or already `holder`'s. Atomic across processes.
    async fn lock_try(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError>;
    /// Release the named lock if `holder` holds it.
    async fn lock_release(&self, name: &str, holder: &str) -> Result<(), StorageError>;
    /// The holder of the named lock, if it has not expired at `now`.
    async fn lock_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError>;
}

/// One server process sharing the storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Random per process start.
    pub id: String,
    /// The machine's host name.
    pub hostname: String,
    /// Where clients reach it (`http://10.0.0.5:8200`), as configured.
    pub api_addr: String,
    /// leasehold's version.
    pub version: String,
    /// When this process started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}
