//! Ending leases: THE destruction path ([`LeaseEngine::destroy`]) and the calls built on it —
//! revoke (sync or queued), revoke-prefix, revoke-force. Every way a lease ends comes here.
//!
//! # When an issue fails
//!
//! The lease row is written before the account is created, so a failed create leaves a row
//! whose account may or may not exist. What we may conclude depends on how far the create got:
//!
//! 1. **The create provably never reached the target** (the backend answers
//!    `BackendError::TargetNotReached`: connection refused, name not resolved, TLS handshake
//!    failed — before any request was sent, on every attempt). Nothing exists, so the lease
//!    ends at once: a `revoked` tombstone whose `last_error` starts with [`NOTHING_CREATED`].
//!    No destruction is attempted (the target is unreachable anyway), nothing is retried, and
//!    it is never listed as irrevocable: there is no credential to page anyone about.
//! 2. **The target answered, refusing** (a creation statement with a syntax error, a policy
//!    IAM rejects). The backend rolled back what it made; destruction runs at once, and since
//!    every backend's revoke treats "no such account" as success (IAM `NoSuchEntity`, a
//!    PostgreSQL role that does not exist, a MySQL or Redis user that is absent), the lease
//!    ends as a `revoked` tombstone whose `last_error` starts with [`CREATION_FAILED`].
//! 3. **Anything else** (a timeout after the request was sent, a connection lost mid-answer,
//!    the target gone between create and destroy). Something may exist that we cannot see, so
//!    the lease stays `revoking` and is retried like any failed destruction, counted as
//!    irrevocable after N attempts, never forgotten. Its `last_error` keeps the creation
//!    failure in front of the latest destruction error, so a lookup says why the lease exists:
//!    `creation failed: <why>; then destruction failed: <why>`.
//!
//! Trusting a backend's "not reached" is what lets case 1 skip destruction; backends claim it
//! only when no byte of the create request can have left (the AWS engine sends `CreateUser`
//! without the SDK's own retries for exactly this reason, see `aws::iam`).

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::backoff::retry_delay;
use super::engine::{chrono_dur, Call, LeaseEngine, TOKEN_LEASE_KIND};
use super::events::LeaseEvent;
use super::model::{LeaseRecord, LeaseState};
use crate::error::{Error, LeaseProblem, Result};
use crate::storage::ClaimOne;

/// How `last_error` starts for a lease whose create failed after it may have reached the target.
pub(crate) const CREATION_FAILED: &str = "creation failed: ";

/// How `last_error` starts for a lease ended because its create never reached the target.
pub(crate) const NOTHING_CREATED: &str =
    "creation never reached the target, so nothing was created: ";

/// Between the creation failure and the latest destruction error in `last_error`.
const THEN_DESTRUCTION: &str = "; then destruction failed: ";

impl LeaseRecord {
    /// Why the lease's issue failed, when it did: its `last_error` as recorded by the issue
    /// path (see the rule above), else `None`.
    pub fn issue_failure(&self) -> Option<&str> {
        self.last_error
            .as_deref()
            .filter(|e| e.starts_with(CREATION_FAILED) || e.starts_with(NOTHING_CREATED))
    }
}

/// The `last_error` for a failed destruction: the error, behind the creation failure that left
/// the lease when there was one (so a lookup keeps saying why a never-active lease exists).
fn destruction_error(previous: Option<&str>, error: &str) -> String {
    match previous.filter(|p| p.starts_with(CREATION_FAILED)) {
        Some(previous) => {
            let creation = previous
                .split_once(THEN_DESTRUCTION)
                .map_or(previous, |(creation, _)| creation);
            format!("{creation}{THEN_DESTRUCTION}{error}")
        }
        None => error.to_owned(),
    }
}

impl LeaseEngine {
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
            // A revoking row claimed by a node is being destroyed already: leave its claim be.
            let queueable = match lease.state {
                LeaseState::Active => true,
                LeaseState::Revoking => lease.claimed_by.is_none(),
                LeaseState::Creating | LeaseState::Revoked => false,
            };
            // A row that fails its check is flagged, not queued: re-writing it would give the
            // edit a valid tag. The caller hears so rather than a success that did nothing.
            if queueable && self.check_row(&lease, "revoke").await.is_err() {
                return Err(Error::Lease(LeaseProblem::Tampered));
            }
            if queueable {
                let expected = lease.state;
                lease.state = LeaseState::Revoking;
                lease.due_at = Some(self.now());
                self.update_row(&mut lease, expected).await?;
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
                match self.queue(&lease.id).await {
                    // Flagged and audited; the others are still revoked.
                    Err(Error::Lease(LeaseProblem::Tampered)) => {}
                    other => other?,
                }
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
            // The operator's explicit decision: the tombstone gets a valid tag even when the row
            // had been edited (tampered_at stays set as the record of that).
            self.update_row(&mut lease, expected).await?;
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

    /// Claim a lease for destruction by this node. `None`: nothing to do (revoked or absent).
    /// When another node holds it, wait for that node's attempt and report its outcome, so a
    /// sync revoke answers for the destruction without running a second one beside it.
    async fn claim(&self, id: &str) -> std::result::Result<Option<LeaseRecord>, String> {
        let deadline = tokio::time::Instant::now() + self.settings.target_timeout;
        let mut seen_attempts = None;
        loop {
            let now = self.now();
            let claimed = self
                .storage
                .lease_claim_one(id, now, self.claim_until(now), self.node_id())
                .await
                .map_err(|e| e.to_string())?;
            let lease = match claimed {
                ClaimOne::Claimed(lease) => return Ok(Some(lease)),
                ClaimOne::Missing | ClaimOne::Revoked(_) => return Ok(None),
                ClaimOne::Busy(lease) => lease,
            };
            // The other node finished an attempt and failed: report its error.
            if seen_attempts.is_some_and(|n| lease.attempts > n) && lease.claimed_by.is_none() {
                return Err(lease
                    .last_error
                    .unwrap_or_else(|| "destruction failed on another node".into()));
            }
            seen_attempts.get_or_insert(lease.attempts);
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "destruction is under way on node {}; not finished within {}s",
                    lease.claimed_by.as_deref().unwrap_or("?"),
                    self.settings.target_timeout.as_secs()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
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

    /// Destroy each lease now, a few at a time; `(lease id, error)` per failure.
    pub async fn destroy_many(&self, ids: Vec<String>) -> Vec<(String, String)> {
        self.destroy_all(ids).await
    }

    fn emit_attempt(&self, lease: &LeaseRecord, error: Option<&str>, now: DateTime<Utc>) {
        self.observers
            .emit(&LeaseEvent::DestroyAttempt { lease, error }, now);
    }

    /// THE destruction path: one attempt at destroying a lease's account. On success the row
    /// becomes a `revoked` tombstone; on failure it stays `revoking` with the error and a
    /// backed-off next attempt. Returns the error text on failure. Idempotent.
    pub async fn destroy(&self, id: &str) -> std::result::Result<(), String> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let mut lease = match self.claim(id).await? {
            Some(l) => l,
            None => return Ok(()),
        };
        // Never destroy (or mark destroyed) what an edited row names: the account column may
        // point at someone else's account, and a tombstone would hide the real one.
        self.check_row(&lease, "destroy").await?;
        // A token's expiry row goes to the token revoker; every other row to its mount.
        let outcome = if lease.kind == TOKEN_LEASE_KIND {
            self.end_token_row(&lease).await
        } else {
            match self.mounts.resolve(&lease.mount_uuid) {
                None => Err(format!("mount {} no longer exists", lease.mount_path)),
                Some(mount) => match self.context(&lease, &mount).await {
                    Err(e) => Err(e.to_string()),
                    Ok(ctx) => self
                        .call_target(mount.backend.clone(), ctx, Call::Revoke)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                },
            }
        };
        let now = self.now();
        lease.attempts += 1;
        lease.claimed_by = None;
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
                lease.last_error = Some(destruction_error(lease.last_error.as_deref(), error));
                warn!(lease.id = %id, account = %lease.account, attempts = lease.attempts, error = %error,
                    "could not destroy account {} of lease {id}; retrying in {}ms", lease.account, delay.as_millis());
            }
        }
        // A destroyed account is recorded (audit, metrics) before its row says so: a crash in
        // between leaves the row `revoking`, so the account is destroyed (a no-op) and recorded
        // again by whichever node retries it. A duplicate record, never a missing one.
        if outcome.is_ok() {
            self.emit_attempt(&lease, None, now);
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
        // The worker may have claimed the row (active -> revoking) while we worked; write over
        // whatever state it holds now, unless it is already revoked.
        let mut written = false;
        // Most often the row is `revoking` (this call claimed it), so that is tried first.
        for state in [
            LeaseState::Revoking,
            LeaseState::Active,
            LeaseState::Creating,
        ] {
            match self.update_row(&mut lease, state).await {
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
        if let Err(error) = &outcome {
            self.emit_attempt(&lease, Some(error), now);
            if lease.attempts == self.settings.irrevocable_after {
                self.observers
                    .emit(&LeaseEvent::Irrevocable { lease: &lease }, now);
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destruction_error_keeps_the_creation_failure_in_front() {
        let first = destruction_error(Some("creation failed: timed out"), "refused");
        assert_eq!(
            first,
            "creation failed: timed out; then destruction failed: refused"
        );
        // Later attempts replace the destruction part, never pile up.
        assert_eq!(
            destruction_error(Some(&first), "still refused"),
            "creation failed: timed out; then destruction failed: still refused"
        );
        assert_eq!(destruction_error(Some("old"), "new"), "new");
        assert_eq!(destruction_error(None, "new"), "new");
    }
}
