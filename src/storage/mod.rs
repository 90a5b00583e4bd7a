//! Durable state behind a small trait: a key/value space for configuration (mounts, tokens,
//! backend configs) and the lease table, which is also the expiry queue.
//!
//! Implementations store bytes; sealing happens above them ([`sealed::SealedKv`], the lease engine),
//! so every implementation keeps secrets encrypted without knowing about it. SQLite is the embedded
//! default; a PostgreSQL implementation for several nodes is planned behind the same trait.

pub mod seal;
pub mod sealed;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::lease::model::{LeaseRecord, LeaseState};

/// Storage failed. The text is for logs; callers see "internal error".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// The persistence seam. Every method is one atomic step.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Value at `key`.
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Write `key`.
    async fn kv_put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError>;
    /// Delete `key` (absent is fine).
    async fn kv_delete(&self, key: &str) -> Result<(), StorageError>;
    /// Direct children of `prefix`; deeper keys appear once as `child/`.
    async fn kv_list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Delete every key under `prefix`.
    async fn kv_delete_prefix(&self, prefix: &str) -> Result<(), StorageError>;

    /// Insert a new lease row; its id must be new.
    async fn lease_insert(&self, lease: &LeaseRecord) -> Result<(), StorageError>;
    /// One lease by id.
    async fn lease_get(&self, id: &str) -> Result<Option<LeaseRecord>, StorageError>;
    /// Replace a lease row if its state is still `expected`; false if it was not.
    async fn lease_update(
        &self,
        lease: &LeaseRecord,
        expected: LeaseState,
    ) -> Result<bool, StorageError>;
    /// Leases whose id starts with `prefix` and that are not revoked, ordered by id.
    async fn lease_list_live(&self, prefix: &str) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Live leases obtained with the token whose accessor is `accessor`.
    async fn lease_list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Live leases of a workload: exactly `workload`, or below it at a `/` boundary.
    async fn lease_list_by_workload(
        &self,
        workload: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Claim up to `limit` due leases (active or revoking with `due_at <= now`): each becomes
    /// `revoking` with `due_at = claim_until`, so no other worker takes it until the claim lapses.
    async fn lease_claim_due(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError>;
    /// The earliest `due_at` of any active or revoking lease.
    async fn lease_next_due(&self) -> Result<Option<DateTime<Utc>>, StorageError>;
    /// Start-up recovery: every `creating` row is a crash leftover; make it `revoking`, due `now`.
    async fn lease_recover_creating(&self, now: DateTime<Utc>) -> Result<u64, StorageError>;
    /// Start-up: claims held by a process that is gone (this one, before a crash) end now, so
    /// leases it had claimed for destruction are retried at once instead of after the claim
    /// timeout. Returns how many. Only right when no other process shares the storage.
    async fn lease_release_claims(&self, now: DateTime<Utc>) -> Result<u64, StorageError>;
    /// Revoking leases with at least `min_attempts` failed attempts, by expire time then id.
    async fn lease_irrevocable(
        &self,
        min_attempts: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Delete tombstones revoked before `before`; returns how many.
    async fn lease_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError>;
    /// How many rows there are per mount path, role and state (tombstones included), with
    /// `revoking` rows of at least `irrevocable_after` attempts counted apart. For the metrics'
    /// gauges, which must be right after a restart, so they come from the table and not from
    /// memory. One aggregate over the whole table per call: O(rows), tombstones included.
    async fn lease_counts(&self, irrevocable_after: i64) -> Result<Vec<LeaseCount>, StorageError>;
}

/// One group of [`Storage::lease_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseCount {
    /// The mount path the leases were issued on (`database/`).
    pub mount_path: String,
    /// Their role (empty for token rows).
    pub role: String,
    /// Their state.
    pub state: LeaseState,
    /// True for `revoking` rows that have failed `irrevocable_after` times or more.
    pub irrevocable: bool,
    /// How many rows.
    pub count: u64,
}
