//! THE destruction path. [`LeaseEngine::destroy`] claims one lease (`lease_claim_one`) and
//! hands the claimed row to [`LeaseEngine::destroy_claimed`]; the expiry worker hands over the
//! rows its batch claim (`lease_claim_due`) returned, so an expiry costs two durable writes —
//! its share of the batch claim and the outcome — not a second claim of its own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use leasehold_backend::Revoked;
use tracing::{info, warn};

use super::backoff::retry_delay;
use super::destroy_error::DestroyError;
use super::engine::{chrono_dur, Answer, Call, LeaseEngine, TOKEN_LEASE_KIND};
use super::events::{LeaseEvent, Receipt};
use crate::storage::{ClaimOne, LeaseRecord, LeaseState};

/// The per-lease lock, taken: one destruction or renewal of a lease at a time in this process.
pub(crate) type LeaseLock = tokio::sync::OwnedMutexGuard<()>;

impl LeaseEngine {
    /// Destroy one lease now: claim it for this node, then one attempt (see
    /// [`LeaseEngine::destroy_claimed`]). An absent or already revoked lease is `Ok`
    /// (idempotent). When another node holds it, wait for that node's attempt and report its
    /// outcome instead of running a second one beside it.
    pub async fn destroy(&self, id: &str) -> Result<(), DestroyError> {
        let held = self.lock_for(id).lock_owned().await;
        match self.claim(id).await? {
            Some(lease) => self.destroy_claimed(lease, held).await,
            None => Ok(()),
        }
    }

    /// The lock of a lease the expiry worker claimed, taken at once if free. When someone in
    /// this process holds it (a revoke, a renewal), `None`: the worker waits for it and reads
    /// the row again, since whoever held it may have ended the lease meanwhile.
    pub(super) fn try_lock_claimed(&self, id: &str) -> Option<LeaseLock> {
        self.lock_for(id).try_lock_owned().ok()
    }

    /// Destroy a lease the expiry worker claimed in its batch. `held`: the lease's lock if it
    /// was taken right after the claim; otherwise it is waited for and the row re-read, and the
    /// attempt runs only if the row is still this node's claim.
    pub(super) async fn destroy_expired(
        &self,
        lease: LeaseRecord,
        held: Option<LeaseLock>,
    ) -> Result<(), DestroyError> {
        if let Some(held) = held {
            return self.destroy_claimed(lease, held).await;
        }
        let held = self.lock_for(&lease.id).lock_owned().await;
        let current = self
            .storage
            .lease_get(&lease.id)
            .await
            .map_err(DestroyError::Storage)?;
        match current {
            Some(row)
                if row.state == LeaseState::Revoking
                    && row.claimed_by.as_deref() == Some(self.node_id()) =>
            {
                self.destroy_claimed(row, held).await
            }
            // Ended, or released to be retried, by whoever held the lock.
            _ => Ok(()),
        }
    }

    /// Claim a lease for destruction by this node. `None`: nothing to do (revoked or absent).
    /// When another node holds it, wait for that node's attempt and report its outcome.
    async fn claim(&self, id: &str) -> Result<Option<LeaseRecord>, DestroyError> {
        let deadline = tokio::time::Instant::now() + self.settings.target_timeout;
        let mut seen_attempts = None;
        loop {
            let now = self.now();
            let claimed = self
                .storage
                .lease_claim_one(id, now, self.claim_until(now), self.node_id())
                .await
                .map_err(DestroyError::Storage)?;
            let lease = match claimed {
                ClaimOne::Claimed(lease) => return Ok(Some(lease)),
                ClaimOne::Missing | ClaimOne::Revoked(_) => return Ok(None),
                ClaimOne::Busy(lease) => lease,
            };
            // The other node finished an attempt and failed: report its error.
            if seen_attempts.is_some_and(|n| lease.attempts > n) && lease.claimed_by.is_none() {
                return Err(DestroyError::OtherNode(
                    lease
                        .last_error
                        .unwrap_or_else(|| "destruction failed on another node".into()),
                ));
            }
            seen_attempts.get_or_insert(lease.attempts);
            if tokio::time::Instant::now() >= deadline {
                return Err(DestroyError::Busy {
                    node: lease.claimed_by.unwrap_or_else(|| "?".into()),
                    waited_secs: self.settings.target_timeout.as_secs(),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// One attempt at destroying the account of a lease this node has claimed (`revoking`,
    /// `claimed_by` this node), under its lock. On success the row becomes a `revoked`
    /// tombstone; on failure it stays `revoking` with the error and a backed-off next attempt.
    pub(crate) async fn destroy_claimed(
        &self,
        lease: LeaseRecord,
        held: LeaseLock,
    ) -> Result<(), DestroyError> {
        // Never destroy (or mark destroyed) what an edited row names: the account column may
        // point at someone else's account, and a tombstone would hide the real one.
        self.check_row(&lease, "destroy")
            .await
            .map_err(DestroyError::Tampered)?;
        let attempt = self.revoke_on_target(&lease).await;
        let now = self.now();
        let id = lease.id.clone();
        let mut lease = match &attempt {
            Ok(revoked) => {
                // Why it ended, for a person reading the log: its time ran out, or someone (a
                // revoke, a token's or a mount's end) ended it earlier.
                let reason = if now >= lease.expire_time {
                    "expired"
                } else {
                    "revoked before expiry"
                };
                // Formatted once per destruction (a burst's drain spent an eighth of its request
                // threads' time on this line when it named the account three times): the id and
                // account once each, and whether a receipt came (its text is in the audit entry
                // and the lease's history).
                info!(lease.id = %id, account = %lease.account, sessions_terminated = ?revoked.sessions_terminated,
                    verified = revoked.verified.is_some(), "destroyed account ({reason})");
                let mut lease = lease.tombstone(now)?;
                lease.trail.destroyed_by = Some(self.node_id().to_owned());
                lease.trail.sessions_terminated = revoked.sessions_terminated;
                lease.trail.verified_at = revoked.verified.as_ref().map(|_| now);
                lease
            }
            Err(error) => {
                let delay = retry_delay(
                    lease.attempts + 1,
                    self.settings.retry_base,
                    self.settings.retry_max,
                );
                let error = error.to_string();
                let lease = lease.fail_attempt(now + chrono_dur(delay), &error)?;
                warn!(lease.id = %id, account = %lease.account, attempts = lease.attempts, error = %error,
                    "could not destroy account {} of lease {id}; retrying in {}ms", lease.account, delay.as_millis());
                lease
            }
        };
        // A destroyed account is recorded (audit, metrics) before its row says so: a crash in
        // between leaves the row `revoking`, so the account is destroyed (a no-op) and recorded
        // again by whichever node retries it. A duplicate record, never a missing one.
        if let Ok(revoked) = &attempt {
            self.emit_destroyed(&lease, revoked, now).await;
        }
        if let Err(error) = self.write_outcome(&mut lease).await {
            let error = DestroyError::Unrecorded {
                destroyed: attempt.is_ok(),
                attempt: attempt.as_ref().err().map(ToString::to_string),
                error,
            };
            warn!(lease.id = %id, error = %error, "lease {id}: {error}");
            return Err(error);
        }
        drop(held);
        // A failed attempt is due again at its retry time: the worker is woken if it would sleep
        // past that. A destroyed lease is never due again, so there is nothing to wake it for
        // (waking it on every revoke cost each one a claim and a next-due query on the storage
        // threads, for nothing).
        if let Some(due) = lease.due_at {
            self.wake.due_at(due);
        }
        match attempt {
            Ok(_) => Ok(()),
            Err(error) => {
                let text = error.to_string();
                self.emit_attempt(&lease, Some(&text), now);
                if lease.attempts == self.settings.irrevocable_after {
                    self.observers
                        .emit(&LeaseEvent::Irrevocable { lease: &lease }, now);
                }
                Err(error)
            }
        }
    }

    /// The backend's revoke for this lease, on its own task with a timeout, and what it found.
    async fn revoke_on_target(&self, lease: &LeaseRecord) -> Result<Revoked, DestroyError> {
        // A token's expiry row goes to the token revoker; every other row to its mount. A token
        // has no sessions to count.
        if lease.kind == TOKEN_LEASE_KIND {
            return self.end_token_row(lease).await.map(|()| Revoked::unknown());
        }
        let mount = self
            .mounts
            .resolve(&lease.mount_uuid)
            .ok_or_else(|| DestroyError::MountGone(lease.mount_path.clone()))?;
        let ctx = self
            .context(lease, &mount)
            .await
            .map_err(|e| DestroyError::Sealed(e.to_string()))?;
        match self
            .call_target(Arc::clone(&mount.backend), ctx, Call::Revoke)
            .await
        {
            Ok(Answer::Revoked(revoked)) => Ok(revoked),
            Ok(_) => Ok(Revoked::unknown()),
            Err(e) => Err(DestroyError::Target(e)),
        }
    }

    /// Write an attempt's outcome. Most often the row is still `revoking` (this node's claim);
    /// a row made `active` or `creating` again meanwhile is written over all the same, and a row
    /// already revoked (by whoever held it) is left as it is.
    async fn write_outcome(
        &self,
        lease: &mut LeaseRecord,
    ) -> Result<(), crate::storage::StorageError> {
        for state in [
            LeaseState::Revoking,
            LeaseState::Active,
            LeaseState::Creating,
        ] {
            if self.update_row(lease, state).await? {
                return Ok(());
            }
        }
        warn!(lease.id = %lease.id, "lease row was already revoked");
        Ok(())
    }

    fn emit_attempt(&self, lease: &LeaseRecord, error: Option<&str>, now: DateTime<Utc>) {
        self.observers
            .emit(&LeaseEvent::DestroyAttempt { lease, error }, now);
    }

    /// Waits (bounded by the audit devices) until the record is written, since the row
    /// update that follows is what stops a retry from recording it again.
    async fn emit_destroyed(&self, lease: &LeaseRecord, revoked: &Revoked, now: DateTime<Utc>) {
        self.emit_attempt(lease, None, now);
        let privilege = (now - lease.issue_time).to_std().unwrap_or_default();
        let overstay = (now - lease.expire_time).to_std().unwrap_or_default();
        self.observers
            .emit_recorded(
                &LeaseEvent::Destroyed {
                    lease,
                    privilege,
                    overstay,
                    sessions_terminated: revoked.sessions_terminated,
                    receipt: revoked
                        .verified
                        .as_deref()
                        .map(|check| Receipt { check, at: now }),
                },
                now,
            )
            .await;
    }
}
