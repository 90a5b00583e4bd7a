//! [`LeaseEngine`]: issue write-ahead, renew, and the one destruction path every kind of
//! revocation (expiry, explicit, prefix, force, mount disable, crash recovery) goes through.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use leasehold_backend::{
    Backend, BackendError, Commit, Credentials, MountStorage, Pending, Revoked, SecretContext,
};
use tracing::warn;

use super::events::{LeaseEvent, Observers};
use super::token_rows::TokenRevoker;
use super::ttl::MountTtls;
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::storage::seal::{Aad, Seal};
use crate::storage::{LeaseRecord, LeaseState, LeaseTrail};
use crate::storage::{Storage, StorageError};

/// What token expiry rows carry as their mount UUID. Never resolved: such rows belong to no mount
/// and are dispatched by their kind (see [`super::token_rows`]).
pub const TOKEN_MOUNT_UUID: &str = "auth/token";

/// The `kind` of a token's expiry row (every other kind is a secret with an account): the engine
/// ends such a row through its [`TokenRevoker`], not through a mount.
pub const TOKEN_LEASE_KIND: &str = "token";

/// What the engine needs to know about a mount to act on its leases.
#[derive(Clone)]
pub struct ResolvedMount {
    /// The mount's backend.
    pub backend: Arc<dyn Backend>,
    /// The mount's storage view.
    pub storage: Arc<dyn MountStorage>,
    /// The mount's effective TTLs.
    pub ttls: MountTtls,
}

/// Finds a mount by UUID; implemented by the mount table.
pub trait MountResolver: Send + Sync {
    /// The live mount with this UUID, if it still exists.
    fn resolve(&self, uuid: &str) -> Option<ResolvedMount>;
}

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// First retry delay after a failed destruction.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Failed attempts after which a lease is listed as irrevocable (still retried).
    pub irrevocable_after: i64,
    /// How long a worker's claim on a due lease lasts before another may take it.
    pub claim_timeout: Duration,
    /// Time allowed for one create/renew/revoke call on a target.
    pub target_timeout: Duration,
    /// Destructions run at once by the expiry worker: bounds the load on targets after downtime.
    pub revoke_concurrency: usize,
    /// How long revoked tombstones are kept before tidy removes them.
    pub tombstone_ttl: Duration,
    /// How long the access history keeps an ended lease (its own row, apart from the
    /// tombstone) before tidy removes it.
    pub history_retention: Duration,
    /// How often every live row's integrity tag is checked, so that a row edited to expire
    /// later (which the expiry worker would not look at until then) is found and flagged.
    pub integrity_sweep_interval: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            irrevocable_after: 6,
            claim_timeout: Duration::from_secs(120),
            target_timeout: Duration::from_secs(60),
            revoke_concurrency: 64,
            tombstone_ttl: Duration::from_secs(7 * 86_400),
            history_retention: Duration::from_secs(400 * 86_400),
            integrity_sweep_interval: Duration::from_secs(300),
        }
    }
}

/// Where a mount's lease will live, given by the core when a backend plans a secret.
#[derive(Clone)]
pub struct IssueTarget {
    /// Mount UUID.
    pub mount_uuid: String,
    /// Mount path (`database/`).
    pub mount_path: String,
    /// Full request path (`database/creds/ro`), the lease id prefix.
    pub request_path: String,
    /// Accessor of the calling token.
    pub token_accessor: String,
    /// The calling token's workload identity.
    pub workload: String,
    /// Why the caller needs the credential, if given.
    pub purpose: Option<String>,
    /// The caller's ticket reference, if given.
    pub ticket: Option<String>,
    /// What the access history records from the request: the approval it came through.
    pub trail: LeaseTrail,
    /// Writes the write-ahead row in place of a plain insert, when something must decide
    /// atomically whether one more lease may exist (a lease-count quota). `None`: plain insert.
    pub admission: Option<Arc<dyn LeaseAdmission>>,
}

/// Finds what must admit a lease before it is written (a lease-count quota that covers it).
/// Matched once per issue: the check found is the one that writes the row.
pub trait LeaseAdmission: Send + Sync {
    /// The check a lease of `role` issued on `request_path` must pass, if one covers it.
    /// `None`: it is written with a plain insert, and may be created two-phase
    /// (`lease/two_phase.rs`).
    fn check_for(&self, request_path: &str, role: &str) -> Option<Arc<dyn AdmissionCheck>>;
}

/// Decides whether a lease may be issued and, if so, writes its `creating` row, as one step
/// across every node sharing the storage: a count taken apart from the insert would let two
/// nodes both take the last slot.
#[async_trait::async_trait]
pub trait AdmissionCheck: Send + Sync {
    /// Insert `lease` (state `creating`), issued for a request on `request_path`, or refuse
    /// with the error the caller sees. Nothing is written when refused.
    async fn insert(&self, request_path: &str, lease: &LeaseRecord) -> Result<()>;
}

/// A created credential and its lease.
pub struct Issued {
    /// The lease row, now `active`.
    pub lease: LeaseRecord,
    /// The secret values, for the response only.
    pub credentials: Credentials,
    /// The lease TTL.
    pub ttl: Duration,
    /// Set when the role's TTL was capped.
    pub warning: Option<String>,
}

/// A successful renewal.
pub struct Renewed {
    /// The lease after renewal.
    pub lease: LeaseRecord,
    /// New TTL from now.
    pub ttl: Duration,
    /// Vault's cap warning.
    pub warning: Option<String>,
}

/// The lease engine. Cheap to share behind an `Arc`.
pub struct LeaseEngine {
    pub(super) storage: Arc<dyn Storage>,
    pub(super) seal: Seal,
    clock: SharedClock,
    pub(super) mounts: Arc<dyn MountResolver>,
    /// Ends the tokens whose expiry rows come due.
    pub(super) tokens: Arc<dyn TokenRevoker>,
    pub(super) settings: LeaseSettings,
    /// Wakes the expiry worker when something may have become due earlier than it thinks.
    pub(crate) wake: super::wake::Wake,
    /// Audit and metrics listen here.
    pub observers: Observers,
    /// Per-lease locks: one destruction or renewal of a lease at a time in this process.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// This process's id in shared storage: claims and half-created rows carry it.
    node_id: String,
}

pub(super) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl LeaseEngine {
    /// An engine over `storage`: secrets' rows are ended through their mount (`mounts`), token
    /// expiry rows through `tokens`.
    pub fn new(
        storage: Arc<dyn Storage>,
        seal: Seal,
        clock: SharedClock,
        mounts: Arc<dyn MountResolver>,
        tokens: Arc<dyn TokenRevoker>,
        settings: LeaseSettings,
    ) -> Self {
        Self {
            storage,
            seal,
            clock,
            mounts,
            tokens,
            settings,
            wake: super::wake::Wake::default(),
            observers: Observers::default(),
            locks: Mutex::new(HashMap::new()),
            node_id: super::id::new_node_id(),
        }
    }

    /// This process's node id (claims it holds carry it).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// When a claim taken now lapses.
    pub(super) fn claim_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono_dur(self.settings.claim_timeout)
    }

    /// The engine's settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Direct storage access for tests that simulate crashes (state a crash would leave).
    #[doc(hidden)]
    pub fn storage_for_tests(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The seal (for `sys/rotate` and `sys/key-status`).
    pub fn seal(&self) -> &Seal {
        &self.seal
    }

    /// Now, to the millisecond (see [`LeaseEngine::now`]).
    pub fn now_ms(&self) -> DateTime<Utc> {
        self.now()
    }

    /// Now, to the millisecond: storage keeps milliseconds, so times compared after a round trip
    /// must not carry more precision than that.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }

    pub(super) fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Drop locks nobody holds so the map stays the size of the work in flight.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(id.to_owned()).or_default().clone()
    }

    /// Whether the engine of `lease`'s mount bounds its target's load itself (see
    /// [`leasehold_backend::SecretEngine::bounds_target_load`]); a mount gone or without a
    /// lifecycle: no.
    pub(super) fn bounds_target_load(&self, lease: &LeaseRecord) -> bool {
        self.mounts
            .resolve(&lease.mount_uuid)
            .and_then(|m| m.backend.secrets().map(|s| s.bounds_target_load()))
            .unwrap_or(false)
    }

    /// A row's internal data, opened under its own lease id.
    pub(super) async fn open_internal(
        &self,
        lease: &LeaseRecord,
    ) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, crate::storage::StorageError> {
        crate::storage::keyring::open_fresh(
            &self.seal,
            &self.storage,
            &lease.internal,
            &Aad::lease(&lease.id),
        )
        .await
    }

    /// What a backend call needs. The internal data opens only under this lease's id: data
    /// copied from another lease's row is refused, never handed to the backend to act on.
    pub(super) async fn context(
        &self,
        lease: &LeaseRecord,
        mount: &ResolvedMount,
    ) -> Result<SecretContext> {
        let internal = self
            .open_internal(lease)
            .await
            .map_err(|e| Error::Internal(format!("lease {}: {e}", lease.id)))?;
        let internal = serde_json::from_slice(&internal)
            .map_err(|e| Error::Internal(format!("lease {}: {e}", lease.id)))?;
        Ok(SecretContext {
            storage: mount.storage.clone(),
            kind: lease.kind.clone(),
            internal,
            expire_time: lease.expire_time,
        })
    }

    /// Run one backend call with a timeout, its panics caught: a panicking backend or a hung
    /// target fails this lease only, never the caller or the worker. Run in the caller's task,
    /// not a task of its own: an issue's prepare runs beside its row write and each hand-off to
    /// another task was a wake-up of another thread on the issue's path. Nothing cancels the
    /// caller midway (requests run in tasks of their own, the worker runs its calls to the end).
    pub(super) async fn call_target(
        &self,
        backend: Arc<dyn Backend>,
        ctx: SecretContext,
        call: Call,
    ) -> std::result::Result<Answer, BackendError> {
        let timeout = self.settings.target_timeout;
        let work = async move {
            // A mount without a lifecycle half has no leases to act on.
            let secrets = backend
                .secrets()
                .ok_or(BackendError::UnsupportedOperation)?;
            match call {
                Call::Create => secrets.create(&ctx).await.map(Answer::Created),
                Call::Prepare => secrets.prepare(&ctx).await.map(Answer::Prepared),
                Call::Commit(pending) => pending.commit().await.map(|()| Answer::Committed),
                Call::Renew => match secrets.renewer() {
                    Some(renewer) => renewer.renew(&ctx).await.map(|()| Answer::Renewed),
                    None => Err(BackendError::UnsupportedOperation),
                },
                Call::Revoke => secrets.revoke(&ctx).await.map(Answer::Revoked),
            }
        };
        match tokio::time::timeout(timeout, AssertUnwindSafe(work).catch_unwind()).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(BackendError::Internal(
                "the backend panicked during the call".into(),
            )),
            Err(_) => Err(BackendError::Target(format!(
                "target did not answer within {}s",
                timeout.as_secs()
            ))),
        }
    }

    /// Write a new row, tagged.
    pub(super) async fn insert_row(&self, lease: &mut LeaseRecord) -> Result<()> {
        self.stamp_row(lease);
        Ok(self.storage.lease_insert(lease).await?)
    }

    /// Tag a row for an insert made by someone else (a lease-count quota inserts under its own
    /// lock).
    pub(super) fn stamp_row(&self, lease: &mut LeaseRecord) {
        self.seal.row_mac().stamp(lease);
    }

    /// Replace a row if its state is still `expected`, tagged anew. A row read from storage
    /// must have passed [`LeaseEngine::check_row`] first, or this would launder an edit.
    pub(super) async fn update_row(
        &self,
        lease: &mut LeaseRecord,
        expected: LeaseState,
    ) -> std::result::Result<bool, StorageError> {
        self.seal.row_mac().stamp(lease);
        self.storage.lease_update(lease, expected).await
    }

    /// True when the row's integrity tag matches its columns.
    pub fn verify_row(&self, lease: &LeaseRecord) -> bool {
        self.seal.row_mac().verify(lease)
    }

    /// Check a row read from storage before acting on it (`action`: what was about to happen).
    /// On a mismatch the row is flagged (`tampered_at`, no longer due, no holder), the event is
    /// audited and counted, and the error says so: the caller must not act on the row.
    pub(super) async fn check_row(
        &self,
        lease: &LeaseRecord,
        action: &str,
    ) -> std::result::Result<(), String> {
        if self.verify_row(lease) {
            return Ok(());
        }
        let now = self.now();
        warn!(lease.id = %lease.id, mount = %lease.mount_path, action,
            "lease {} failed its integrity check (edited in storage); refusing to {action} it and \
             leaving it for an operator (sys/leases/revoke-force)", lease.id);
        if let Err(e) = self.storage.lease_flag_tampered(&lease.id, now).await {
            warn!(lease.id = %lease.id, error = %e, "could not flag tampered lease {}", lease.id);
        }
        self.observers
            .emit(&LeaseEvent::Tampered { lease, action }, now);
        Err(format!(
            "lease {} failed its integrity check (edited in storage); not acted on until an \
             operator removes it with revoke-force",
            lease.id
        ))
    }

    /// Live leases obtained with a token.
    pub async fn list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>> {
        Ok(self.storage.lease_list_by_token(accessor).await?)
    }

    /// Live leases of a workload (and everything below it).
    pub async fn list_by_workload(&self, workload: &str) -> Result<Vec<LeaseRecord>> {
        Ok(self.storage.lease_list_by_workload(workload).await?)
    }

    /// Live leases under `prefix`.
    pub async fn list_live(&self, prefix: &str) -> Result<Vec<LeaseRecord>> {
        Ok(self.storage.lease_list_live(prefix).await?)
    }

    /// Up to `limit` live leases with an id after `after`, by id: one page of a walk over the
    /// table that never loads it whole (`sys/leases/list`).
    pub async fn page_live(&self, after: &str, limit: usize) -> Result<Vec<LeaseRecord>> {
        Ok(self.storage.lease_page_live(after, limit).await?)
    }

    /// One lease, any state.
    pub async fn get(&self, id: &str) -> Result<Option<LeaseRecord>> {
        Ok(self.storage.lease_get(id).await?)
    }

    /// Leases whose destruction failed at least `irrevocable_after` times.
    pub async fn irrevocable(&self, limit: usize) -> Result<Vec<LeaseRecord>> {
        Ok(self
            .storage
            .lease_irrevocable(self.settings.irrevocable_after, limit)
            .await?)
    }

    /// Remove tombstones older than the tombstone TTL.
    pub async fn tidy(&self) -> Result<u64> {
        let before = self.now() - chrono_dur(self.settings.tombstone_ttl);
        Ok(self.storage.lease_tidy(before).await?)
    }

    /// Remove the history rows of leases that ended more than `history_retention` ago.
    pub async fn tidy_history(&self) -> Result<u64> {
        let before = self.now() - chrono_dur(self.settings.history_retention);
        Ok(self.storage.history_tidy(before).await?)
    }

    /// One page of the access history (see [`crate::storage::history`]).
    pub async fn history(
        &self,
        query: &crate::storage::HistoryQuery,
        limit: usize,
    ) -> Result<Vec<crate::storage::HistoryRow>> {
        Ok(self.storage.history_page(query, limit, self.now()).await?)
    }

    /// The access history added up per key and period.
    pub async fn history_summary(
        &self,
        query: &crate::storage::HistoryQuery,
        by: crate::storage::SummaryBy,
        period: crate::storage::Period,
    ) -> Result<Vec<crate::storage::SummaryRow>> {
        Ok(self
            .storage
            .history_summary(query, by, period, self.now())
            .await?)
    }

    /// Start-up with storage of our own: every `creating` row and every claim is a crash
    /// leftover; queue them for destruction now. Shared storage skips this (other nodes' rows
    /// are alive): there the heartbeat loop releases the claims of nodes that stopped.
    pub async fn recover(&self) -> Result<u64> {
        if self.storage.shared() {
            return Ok(0);
        }
        // SQLite storage belongs to one process: every claim found at start-up is a dead
        // process's (a crash between claiming a due lease and destroying it). Without this the
        // lease would wait out the claim timeout while its account stays alive.
        let released = self.storage.lease_release_claims(self.now()).await?;
        if released > 0 {
            warn!(count = released, "retrying {released} leases whose destruction was under way when the server stopped");
        }
        let n = self.storage.lease_recover_creating(self.now()).await?;
        if n > 0 {
            warn!(
                count = n,
                "found {n} leases interrupted while being created; destroying them"
            );
        }
        Ok(n)
    }
}

pub(super) enum Call {
    Create,
    /// The first step of a two-phase creation (`lease/two_phase.rs`).
    Prepare,
    /// Its second step.
    Commit(Box<dyn Commit>),
    Renew,
    Revoke,
}

/// What a [`Call`] answered: the credentials of a creation, what a revocation found.
pub(super) enum Answer {
    Created(Credentials),
    Prepared(Option<Pending>),
    Committed,
    Renewed,
    Revoked(Revoked),
}
