//! The lease table: [`LeaseStore`] holds the rows (one per lease, see [`LeaseRecord`]);
//! [`LeaseQueue`] is the same table read as the expiry queue (due rows, claims, recovery).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lease_record::{Claimable, LeaseRecord, LeaseState};
use super::StorageError;

/// `last_error` of a lease whose creation was abandoned (its node died or missed the deadline).
pub const CREATION_ABANDONED: &str = "server stopped while the account was being created";

/// The states whose rows may still name an account, so whose `due_at` is work to do: the
/// queue's one list, used by every back-end's due-row statements.
pub(crate) const DUE_STATES_SQL: &str = "('creating','active','revoking')";

/// Settle a one-row claim from the row as read (and locked) by a back-end: what to report, and
/// whether the claim must be written (then the row reported is already as the write leaves it).
/// The rule itself is [`LeaseRecord::claim_for`]; this keeps both back-ends to it.
pub(crate) fn settle_claim_one(
    found: Option<LeaseRecord>,
    node: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> (ClaimOne, bool) {
    let Some(mut lease) = found else {
        return (ClaimOne::Missing, false);
    };
    match lease.claim_for(node, now) {
        Claimable::Ended => (ClaimOne::Revoked(lease), false),
        Claimable::Busy => (ClaimOne::Busy(lease), false),
        Claimable::Free => {
            lease.claimed(node, until);
            (ClaimOne::Claimed(lease), true)
        }
    }
}

/// The bound of [`LeaseStore::lease_insert_within`]: a lease-count quota's scope and limit.
pub struct Within<'a> {
    /// The quota's name: inserts under one name are serialised.
    pub lock: &'a str,
    /// Leases whose id starts with this are counted (empty: all).
    pub prefix: &'a str,
    /// Only leases of this role, when given.
    pub role: Option<&'a str>,
    /// The most live leases allowed.
    pub max: u64,
}

/// What every lease write checks: a row is `revoked` exactly when it has a `revoked_time`
/// (every transition to `revoked` sets it, the one back clears it). SQLite's index of live
/// leases is keyed on the time, not the state (schema v7), so a row that broke this would be
/// counted wrongly by lease-count quotas.
pub(crate) fn check_revoked_time(lease: &LeaseRecord) -> Result<(), StorageError> {
    if (lease.state == LeaseState::Revoked) == lease.revoked_time.is_some() {
        return Ok(());
    }
    Err(StorageError(format!(
        "lease {}: a {} row with{} a revoked time",
        lease.id,
        lease.state.as_str(),
        if lease.revoked_time.is_some() {
            ""
        } else {
            "out"
        }
    )))
}

/// The first id after every id that starts with `prefix`, for an index range
/// `id >= prefix AND id < end`; `None` when there is no such string to compare with (an empty
/// prefix, or one ending in a character that cannot be counted up in place).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut end = prefix.to_owned();
    let last = end.pop()?;
    if !last.is_ascii() || last == '\x7f' {
        return None;
    }
    end.push(char::from(last as u8 + 1));
    Some(end)
}

/// The lease rows. Every method is one atomic step.
#[async_trait]
pub trait LeaseStore: Send + Sync {
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
    /// How many secret leases are live (creating, active or revoking: rows whose account may
    /// exist) whose path (the id up to its last `/`: the request path and `/`) starts with
    /// `prefix`, and, when `role` is given, of that role. A prefix that reaches into the ids'
    /// last segment covers no path of its own and so no lease (quotas cover request paths).
    /// Token rows (mount `auth/token/`) are never counted. For lease-count quotas: a count,
    /// never a list, so a global quota over a million leases costs one aggregate, not a
    /// gigabyte.
    async fn lease_count_live(&self, prefix: &str, role: Option<&str>)
        -> Result<u64, StorageError>;
    /// Insert `lease` only while fewer than `max` leases are live under (`prefix`, `role`), as
    /// [`LeaseStore::lease_count_live`] counts them: the count and the insert are one step
    /// against every other writer of the storage (every node, on shared storage), so two
    /// requests cannot both take the last slot. `lock` names the quota (requests under the same
    /// name wait for each other). `Ok(false)`: no room, nothing written.
    async fn lease_insert_within(
        &self,
        lease: &LeaseRecord,
        within: &Within<'_>,
    ) -> Result<bool, StorageError>;
    /// Live leases obtained with the token whose accessor is `accessor`.
    async fn lease_list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Live leases of a workload: exactly `workload`, or below it at a `/` boundary.
    async fn lease_list_by_workload(
        &self,
        workload: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Which of `accounts` a live (not revoked) lease of the mount at `mount_path` describes.
    /// For reconciliation: it asks about the accounts a target holds, so that no caller has to
    /// load every lease of a mount to compare (a million leases would be a gigabyte).
    async fn lease_live_accounts(
        &self,
        mount_path: &str,
        accounts: &[String],
    ) -> Result<std::collections::HashSet<String>, StorageError>;
    /// How many rows there are per mount path, role and state (tombstones included), with
    /// `revoking` rows of at least `irrevocable_after` attempts counted apart. For the metrics'
    /// gauges, which must be right after a restart, so they come from the table and not from
    /// memory. One aggregate over the whole table per call: O(rows), tombstones included.
    async fn lease_counts(&self, irrevocable_after: i64) -> Result<Vec<LeaseCount>, StorageError>;
    /// Up to `limit` leases' `(id, internal)` whose id sorts (bytewise) after `after`, every
    /// state included: for the keyring's migration and rewrite.
    async fn lease_internal_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// Replace a lease's sealed internal data if it is still exactly `expected` (re-sealing
    /// under another key term); false when the row changed or is gone.
    async fn lease_internal_compare_and_put(
        &self,
        id: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError>;
    /// Up to `limit` live (not revoked) rows with an id greater than `after`, by id: one page
    /// of the integrity sweep, which walks the table without loading it.
    async fn lease_page_live(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Up to `limit` rows written before rows carried an integrity tag (`row_mac` is NULL),
    /// by id. For the one-time migration only.
    async fn lease_untagged(&self, limit: usize) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Give untagged rows their tags `(id, tag)`, in one transaction; a row that has a tag
    /// already keeps it (a write raced the migration, and that write's tag stands). Returns how
    /// many rows were tagged.
    async fn lease_set_row_macs(&self, tags: Vec<(String, Vec<u8>)>) -> Result<u64, StorageError>;
    /// True when some row carries a tag.
    async fn lease_any_tagged(&self) -> Result<bool, StorageError>;
}

/// The lease table as the expiry queue: which rows are due, who holds their work, and start-up
/// recovery. Every method is one atomic step.
#[async_trait]
pub trait LeaseQueue: Send + Sync {
    /// Claim up to `limit` due leases (creating, active or revoking with `due_at <= now`; a
    /// `creating` row's `due_at` is its creation deadline): each becomes `revoking` with
    /// `due_at = claim_until` and `claimed_by = node`, so no other worker takes it until the
    /// claim lapses or is released. Rows locked by a concurrent claimer are skipped, never
    /// waited for or taken twice (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
    async fn lease_claim_due(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: usize,
        node: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Claim one lease for destruction now (a sync revoke), as [`LeaseQueue::lease_claim_due`]
    /// does: an `active` row, or a `revoking`/`creating` row that nobody else holds (no
    /// `claimed_by`, `claimed_by == node`, or its `due_at <= now`).
    async fn lease_claim_one(
        &self,
        id: &str,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        node: &str,
    ) -> Result<ClaimOne, StorageError>;
    /// The earliest `due_at` of any creating, active or revoking lease.
    async fn lease_next_due(&self) -> Result<Option<DateTime<Utc>>, StorageError>;
    /// Release every claim (`creating` or `revoking` rows with `claimed_by` set) held by a node
    /// that is not registered or whose heartbeat is older than `alive_since`: the row becomes
    /// due `now` with no holder, so any node's worker takes the work over. Returns how many.
    async fn lease_release_dead_claims(
        &self,
        now: DateTime<Utc>,
        alive_since: DateTime<Utc>,
    ) -> Result<u64, StorageError>;
    /// Start-up recovery: every `creating` row is a crash leftover; make it `revoking`, due `now`.
    async fn lease_recover_creating(&self, now: DateTime<Utc>) -> Result<u64, StorageError>;
    /// Start-up: claims held by a process that is gone (this one, before a crash) end now, so
    /// leases it had claimed for destruction are retried at once instead of after the claim
    /// timeout. Returns how many. Only right when no other process shares the storage.
    async fn lease_release_claims(&self, now: DateTime<Utc>) -> Result<u64, StorageError>;
    /// Revoking leases with at least `min_attempts` failed attempts, and live rows flagged as
    /// tampered, by expire time then id.
    async fn lease_irrevocable(
        &self,
        min_attempts: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError>;
    /// Flag a row whose integrity tag did not verify: `tampered_at` is set (kept if already
    /// set), and it is no longer due or held, so no worker takes it again until an operator
    /// acts. Revoked rows are left alone.
    async fn lease_flag_tampered(&self, id: &str, now: DateTime<Utc>) -> Result<(), StorageError>;
    /// Delete tombstones revoked before `before`; returns how many.
    async fn lease_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError>;
}

/// What [`LeaseQueue::lease_claim_one`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOne {
    /// Claimed for this node; the row as it is now.
    Claimed(LeaseRecord),
    /// Another node holds the row's work; the row as it is now.
    Busy(LeaseRecord),
    /// Already revoked (the tombstone).
    Revoked(LeaseRecord),
    /// No such lease.
    Missing,
}

/// One group of [`LeaseStore::lease_counts`].
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
