//! [`LeaseEngine`]: issue write-ahead, renew, and the one destruction path every kind of
//! revocation (expiry, explicit, prefix, force, mount disable, crash recovery) goes through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_backend::{
    Backend, BackendError, Credentials, MountStorage, PlannedSecret, SecretContext,
};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::backoff::retry_delay;
use super::events::{LeaseEvent, Observers};
use super::id::new_lease_id;
use super::model::{LeaseRecord, LeaseState};
use super::ttl::{issue_ttl, renew_ttl, MountTtls, Renewal};
use crate::clock::SharedClock;
use crate::error::{Error, LeaseProblem, Result};
use crate::storage::seal::Seal;
use crate::storage::Storage;

/// The pseudo-mount UUID of token expiry rows; the resolver maps it to the token reaper.
pub const TOKEN_MOUNT_UUID: &str = "auth/token";

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
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            irrevocable_after: 6,
            claim_timeout: Duration::from_secs(120),
            target_timeout: Duration::from_secs(60),
            revoke_concurrency: 16,
            tombstone_ttl: Duration::from_secs(7 * 86_400),
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
    storage: Arc<dyn Storage>,
    seal: Seal,
    clock: SharedClock,
    mounts: Arc<dyn MountResolver>,
    settings: LeaseSettings,
    /// Wakes the expiry worker when something may have become due earlier than it thinks.
    pub(crate) wake: Notify,
    /// Audit and metrics listen here.
    pub observers: Observers,
    /// Per-lease locks: one destruction or renewal of a lease at a time in this process.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl LeaseEngine {
    /// An engine over `storage`.
    pub fn new(
        storage: Arc<dyn Storage>,
        seal: Seal,
        clock: SharedClock,
        mounts: Arc<dyn MountResolver>,
        settings: LeaseSettings,
    ) -> Self {
        Self {
            storage,
            seal,
            clock,
            mounts,
            settings,
            wake: Notify::new(),
            observers: Observers::default(),
            locks: Mutex::new(HashMap::new()),
        }
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

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Drop locks nobody holds so the map stays the size of the work in flight.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(id.to_owned()).or_default().clone()
    }

    fn context(&self, lease: &LeaseRecord, mount: &ResolvedMount) -> Result<SecretContext> {
        let internal = self
            .seal
            .open(&lease.internal)
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

    /// Issue a planned secret: write the lease (`creating`), create the account, mark `active`.
    /// If creation fails the lease goes straight to destruction and the error is returned.
    pub async fn issue(&self, target: IssueTarget, planned: PlannedSecret) -> Result<Issued> {
        let mount = self
            .mounts
            .resolve(&target.mount_uuid)
            .ok_or_else(|| Error::Internal(format!("mount {} vanished", target.mount_path)))?;
        let (ttl, max, warning) = issue_ttl(planned.ttl, planned.max_ttl, mount.ttls);
        let now = self.now();
        let started = std::time::Instant::now();
        let internal = serde_json::to_vec(&planned.internal)
            .map_err(|e| Error::Internal(format!("cannot encode secret data: {e}")))?;
        let internal = self
            .seal
            .seal(&internal)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let expire_time = now + chrono_dur(ttl);
        let mut lease = LeaseRecord {
            id: new_lease_id(&target.request_path),
            mount_uuid: target.mount_uuid,
            mount_path: target.mount_path,
            kind: planned.kind,
            role: planned.role,
            account: planned.account,
            state: LeaseState::Creating,
            issue_time: now,
            expire_time,
            max_expire_time: now + chrono_dur(max),
            last_renewal: None,
            role_ttl_secs: i64::try_from(planned.ttl.as_secs()).unwrap_or(i64::MAX),
            renewable: planned.renewable,
            due_at: Some(expire_time),
            attempts: 0,
            last_error: None,
            revoked_time: None,
            forced: false,
            token_accessor: target.token_accessor,
            workload: target.workload,
            purpose: target.purpose,
            ticket: target.ticket,
            internal,
        };
        // Held until the lease is active (or marked for destruction): a revoke-prefix that finds
        // the row while the account is being made waits, instead of destroying it before it exists.
        let lock = self.lock_for(&lease.id);
        let held = lock.lock().await;
        // Write ahead: from here on, whatever the target ends up holding is known to the table.
        self.storage.lease_insert(&lease).await?;
        let ctx = self.context(&lease, &mount)?;
        let created = self
            .call_target(mount.backend.clone(), ctx, Call::Create)
            .await;
        match created {
            Ok(Some(mut credentials)) => {
                lease.state = LeaseState::Active;
                if let Some(internal) = credentials.internal.take() {
                    let bytes = serde_json::to_vec(&internal)
                        .map_err(|e| Error::Internal(format!("cannot encode secret data: {e}")))?;
                    lease.internal = self
                        .seal
                        .seal(&bytes)
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
                if !self
                    .storage
                    .lease_update(&lease, LeaseState::Creating)
                    .await?
                {
                    return Err(Error::Internal(format!(
                        "lease {} changed while created",
                        lease.id
                    )));
                }
                drop(held);
                self.wake.notify_one();
                self.observers.emit(
                    &LeaseEvent::Issued {
                        lease: &lease,
                        latency: started.elapsed(),
                    },
                    self.now(),
                );
                info!(lease.id = %lease.id, account = %lease.account, ttl = ttl.as_secs(), "issued lease {}", lease.id);
                Ok(Issued {
                    lease,
                    credentials,
                    ttl,
                    warning,
                })
            }
            Ok(None) => Err(Error::Internal("create returned no credentials".into())),
            Err(e) => {
                // Nothing may survive a failed issue: destroy whatever was made, now.
                lease.state = LeaseState::Revoking;
                lease.due_at = Some(self.now());
                lease.last_error = Some(format!("creation failed: {e}"));
                self.storage
                    .lease_update(&lease, LeaseState::Creating)
                    .await?;
                drop(held);
                self.observers.emit(
                    &LeaseEvent::IssueFailed {
                        lease: &lease,
                        error: &e.to_string(),
                    },
                    self.now(),
                );
                if let Err(cleanup) = self.destroy(&lease.id).await {
                    warn!(lease.id = %lease.id, error = %cleanup, "cleanup after failed issue did not finish; will retry");
                }
                Err(Error::Backend(e))
            }
        }
    }

    /// Renew a lease by `increment` (zero: the role's or mount's default TTL).
    pub async fn renew(&self, id: &str, increment: Duration) -> Result<Renewed> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let mut lease = match self.storage.lease_get(id).await? {
            Some(l) if l.state != LeaseState::Revoked && l.state != LeaseState::Creating => l,
            _ => return Err(Error::Lease(LeaseProblem::NotFound)),
        };
        let now = self.now();
        if lease.state == LeaseState::Revoking {
            return Err(Error::Lease(
                if lease.attempts >= self.settings.irrevocable_after {
                    LeaseProblem::Irrevocable
                } else {
                    LeaseProblem::Expired
                },
            ));
        }
        if now >= lease.expire_time {
            return Err(Error::Lease(LeaseProblem::Expired));
        }
        if !lease.renewable {
            return Err(Error::Lease(LeaseProblem::NotRenewable));
        }
        let mount = self
            .mounts
            .resolve(&lease.mount_uuid)
            .ok_or(Error::Lease(LeaseProblem::NotFound))?;
        let role_ttl = Duration::from_secs(u64::try_from(lease.role_ttl_secs).unwrap_or(0));
        let (ttl, warning) =
            match renew_ttl(increment, role_ttl, mount.ttls, lease.max_expire_time, now) {
                Renewal::PastMax => return Err(Error::Lease(LeaseProblem::PastMaxTtl)),
                Renewal::To { ttl, warning } => (ttl, warning),
            };
        let new_expire = now + chrono_dur(ttl);
        let mut ctx = self.context(&lease, &mount)?;
        ctx.expire_time = new_expire;
        self.call_target(mount.backend.clone(), ctx, Call::Renew)
            .await?;
        lease.expire_time = new_expire;
        lease.due_at = Some(new_expire);
        lease.last_renewal = Some(now);
        if !self
            .storage
            .lease_update(&lease, LeaseState::Active)
            .await?
        {
            // The expiry worker claimed it meanwhile: it is being destroyed.
            return Err(Error::Lease(LeaseProblem::Expired));
        }
        self.wake.notify_one();
        self.observers
            .emit(&LeaseEvent::Renewed { lease: &lease }, now);
        info!(lease.id = %id, ttl = ttl.as_secs(), "renewed lease {id}");
        Ok(Renewed {
            lease,
            ttl,
            warning,
        })
    }

    /// Revoke one lease. `sync`: destroy now and report failure; otherwise queue it for the worker.
    /// Unknown or already revoked leases succeed (revocation is idempotent).
    pub async fn revoke(&self, id: &str, sync: bool) -> Result<()> {
        if sync {
            return self.destroy(id).await.map_err(|error| Error::RevokeFailed {
                lease_id: id.to_owned(),
                error,
            });
        }
        self.queue(id).await
    }

    /// Mark a lease due now so the worker destroys it promptly.
    async fn queue(&self, id: &str) -> Result<()> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        if let Some(mut lease) = self.storage.lease_get(id).await? {
            if matches!(lease.state, LeaseState::Active | LeaseState::Revoking) {
                let expected = lease.state;
                lease.state = LeaseState::Revoking;
                lease.due_at = Some(self.now());
                self.storage.lease_update(&lease, expected).await?;
            }
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Revoke every live lease under `prefix`. Sync: destroy each now (a few at a time) and report
    /// the failures; async: queue them all. Returns how many leases were found.
    pub async fn revoke_prefix(&self, prefix: &str, sync: bool) -> Result<usize> {
        let leases = self.storage.lease_list_live(prefix).await?;
        let count = leases.len();
        if !sync {
            for lease in &leases {
                self.queue(&lease.id).await?;
            }
            return Ok(count);
        }
        let failures = self
            .destroy_all(leases.iter().map(|l| l.id.clone()).collect())
            .await;
        if failures.is_empty() {
            Ok(count)
        } else {
            let (lease_id, error) = failures.into_iter().next().unwrap_or_default();
            Err(Error::RevokeFailed { lease_id, error })
        }
    }

    /// revoke-force: try to destroy each lease under `prefix` once and remove it from the live
    /// table even if that fails. Returns a warning per account that may remain on its target.
    pub async fn revoke_force(&self, prefix: &str) -> Result<Vec<String>> {
        let leases = self.storage.lease_list_live(prefix).await?;
        let failures = self
            .destroy_all(leases.iter().map(|l| l.id.clone()).collect())
            .await;
        let mut warnings = Vec::new();
        for (id, error) in failures {
            let lock = self.lock_for(&id);
            let _held = lock.lock().await;
            let Some(mut lease) = self.storage.lease_get(&id).await? else {
                continue;
            };
            if lease.state == LeaseState::Revoked {
                continue;
            }
            let expected = lease.state;
            lease.state = LeaseState::Revoked;
            lease.forced = true;
            lease.due_at = None;
            lease.revoked_time = Some(self.now());
            lease.last_error = Some(error.clone());
            self.storage.lease_update(&lease, expected).await?;
            self.observers.emit(
                &LeaseEvent::ForceRemoved {
                    lease: &lease,
                    error: &error,
                },
                self.now(),
            );
            warn!(lease.id = %id, account = %lease.account, error = %error, "lease {id} force-removed; account {} may remain", lease.account);
            warnings.push(format!(
                "lease {id} was removed but its account {:?} on mount {} may remain: {error}",
                lease.account, lease.mount_path
            ));
        }
        Ok(warnings)
    }

    /// Destroy many leases, a bounded number at a time; returns `(lease id, error)` per failure.
    async fn destroy_all(&self, ids: Vec<String>) -> Vec<(String, String)> {
        use futures_util::stream::{self, StreamExt};
        stream::iter(ids)
            .map(|id| async move {
                let result = self.destroy(&id).await;
                (id, result)
            })
            .buffer_unordered(self.settings.revoke_concurrency.max(1))
            .filter_map(|(id, r)| async move { r.err().map(|e| (id, e)) })
            .collect()
            .await
    }

    /// THE destruction path: one attempt at destroying a lease's account. On success the row
    /// becomes a `revoked` tombstone; on failure it stays `revoking` with the error and a
    /// backed-off next attempt. Returns the error text on failure. Idempotent.
    pub async fn destroy(&self, id: &str) -> std::result::Result<(), String> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let mut lease = match self.storage.lease_get(id).await {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        if lease.state == LeaseState::Revoked {
            return Ok(());
        }
        let outcome = match self.mounts.resolve(&lease.mount_uuid) {
            None => Err(format!("mount {} no longer exists", lease.mount_path)),
            Some(mount) => match self.context(&lease, &mount) {
                Err(e) => Err(e.to_string()),
                Ok(ctx) => self
                    .call_target(mount.backend.clone(), ctx, Call::Revoke)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            },
        };
        let now = self.now();
        lease.attempts += 1;
        match &outcome {
            Ok(()) => {
                lease.state = LeaseState::Revoked;
                lease.due_at = None;
                lease.revoked_time = Some(now);
                info!(lease.id = %id, account = %lease.account, "destroyed account {} of lease {id}", lease.account);
            }
            Err(error) => {
                lease.state = LeaseState::Revoking;
                let delay = retry_delay(
                    lease.attempts,
                    self.settings.retry_base,
                    self.settings.retry_max,
                );
                lease.due_at = Some(now + chrono_dur(delay));
                lease.last_error = Some(error.clone());
                warn!(lease.id = %id, account = %lease.account, attempts = lease.attempts, error = %error,
                    "could not destroy account {} of lease {id}; retrying in {}ms", lease.account, delay.as_millis());
            }
        }
        // The worker may have claimed the row (active -> revoking) while we worked; write over
        // whatever state it holds now, unless it is already revoked.
        let mut expected = [
            LeaseState::Active,
            LeaseState::Revoking,
            LeaseState::Creating,
        ]
        .into_iter();
        let mut written = false;
        for state in expected.by_ref() {
            match self.storage.lease_update(&lease, state).await {
                Ok(true) => {
                    written = true;
                    break;
                }
                Ok(false) => continue,
                Err(e) => return Err(format!("account destroyed but lease not updated: {e}")),
            }
        }
        if !written {
            warn!(lease.id = %id, "lease row was already revoked");
        }
        self.wake.notify_one();
        self.observers.emit(
            &LeaseEvent::DestroyAttempt {
                lease: &lease,
                error: outcome.as_ref().err().map(String::as_str),
            },
            now,
        );
        match &outcome {
            Ok(()) => {
                let privilege = (now - lease.issue_time).to_std().unwrap_or_default();
                let overstay = (now - lease.expire_time).to_std().unwrap_or_default();
                self.observers.emit(
                    &LeaseEvent::Destroyed {
                        lease: &lease,
                        privilege,
                        overstay,
                    },
                    now,
                );
            }
            Err(_) if lease.attempts == self.settings.irrevocable_after => {
                self.observers
                    .emit(&LeaseEvent::Irrevocable { lease: &lease }, now);
            }
            Err(_) => {}
        }
        outcome
    }

    /// Run one backend call on its own task, with a timeout: a panic or a hung target fails this
    /// lease only, never the caller or the worker.
    async fn call_target(
        &self,
        backend: Arc<dyn Backend>,
        ctx: SecretContext,
        call: Call,
    ) -> std::result::Result<Option<Credentials>, BackendError> {
        let timeout = self.settings.target_timeout;
        let task = tokio::spawn(async move {
            tokio::time::timeout(timeout, async move {
                match call {
                    Call::Create => backend.create(&ctx).await.map(Some),
                    Call::Renew => backend.renew(&ctx).await.map(|_| None),
                    Call::Revoke => backend.revoke(&ctx).await.map(|_| None),
                }
            })
            .await
        });
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(BackendError::Target(format!(
                "target did not answer within {}s",
                timeout.as_secs()
            ))),
            Err(join) => Err(BackendError::Internal(format!(
                "backend task failed: {join}"
            ))),
        }
    }

    /// Record a token's expiry as a lease row (already `active`: there is no account to create),
    /// so tokens expire through the same queue, worker and destruction path as secrets. The
    /// token mount's backend revokes the token tree and its leases.
    pub async fn insert_token_lease(
        &self,
        accessor: &str,
        expire_time: DateTime<Utc>,
        max_expire_time: DateTime<Utc>,
        renewable: bool,
    ) -> Result<()> {
        let internal = serde_json::to_vec(&serde_json::json!({ "accessor": accessor }))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.now();
        let lease = LeaseRecord {
            id: format!("auth/token/create/{accessor}"),
            mount_uuid: TOKEN_MOUNT_UUID.into(),
            mount_path: "auth/token/".into(),
            kind: "token".into(),
            role: String::new(),
            account: format!("token {accessor}"),
            state: LeaseState::Active,
            issue_time: now,
            expire_time,
            max_expire_time,
            last_renewal: None,
            role_ttl_secs: 0,
            renewable,
            due_at: Some(expire_time),
            attempts: 0,
            last_error: None,
            revoked_time: None,
            forced: false,
            token_accessor: accessor.into(),
            workload: String::new(),
            purpose: None,
            ticket: None,
            internal: self
                .seal
                .seal(&internal)
                .map_err(|e| Error::Internal(e.to_string()))?,
        };
        self.storage.lease_insert(&lease).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Move an active lease's expiry (token renewal computes its own TTL).
    pub async fn set_expiry(&self, id: &str, expire_time: DateTime<Utc>) -> Result<bool> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let Some(mut lease) = self.storage.lease_get(id).await? else {
            return Ok(false);
        };
        if lease.state != LeaseState::Active {
            return Ok(false);
        }
        lease.expire_time = expire_time;
        lease.due_at = Some(expire_time);
        lease.last_renewal = Some(self.now());
        let ok = self
            .storage
            .lease_update(&lease, LeaseState::Active)
            .await?;
        self.wake.notify_one();
        Ok(ok)
    }

    /// Live leases obtained with a token.
    pub async fn list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>> {
        Ok(self.storage.lease_list_by_token(accessor).await?)
    }

    /// Live leases of a workload (and everything below it).
    pub async fn list_by_workload(&self, workload: &str) -> Result<Vec<LeaseRecord>> {
        Ok(self.storage.lease_list_by_workload(workload).await?)
    }

    /// Destroy each lease now, a few at a time; `(lease id, error)` per failure.
    pub async fn destroy_many(&self, ids: Vec<String>) -> Vec<(String, String)> {
        self.destroy_all(ids).await
    }

    /// Live leases under `prefix`.
    pub async fn list_live(&self, prefix: &str) -> Result<Vec<LeaseRecord>> {
        Ok(self.storage.lease_list_live(prefix).await?)
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

    /// Start-up: every `creating` row is a crash leftover; queue it for destruction.
    pub async fn recover(&self) -> Result<u64> {
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

#[derive(Clone, Copy)]
enum Call {
    Create,
    Renew,
    Revoke,
}
