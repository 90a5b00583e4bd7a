//! Ending leases on request: revoke (sync or queued), revoke-prefix, revoke-force and the
//! many-at-once destruction token, workload and mount revocation use. Each destruction goes
//! through [`LeaseEngine::destroy`] (`lease/destroy.rs`), the one path every way a lease ends
//! comes to.

use tracing::warn;

use super::destroy_error::{revoke_failures, DestroyError};
use super::engine::LeaseEngine;
use super::events::LeaseEvent;
use crate::error::{Error, LeaseProblem, Result};
use crate::storage::LeaseState;

impl LeaseEngine {
    /// Revoke one lease. `sync`: destroy now and report failure; otherwise queue it for the worker.
    /// Unknown or already revoked leases succeed (revocation is idempotent).
    pub async fn revoke(&self, id: &str, sync: bool) -> Result<()> {
        if sync {
            return self.destroy(id).await.map_err(|e| e.into_error(id));
        }
        self.queue(id).await
    }

    /// Mark a lease due now so the worker destroys it promptly.
    async fn queue(&self, id: &str) -> Result<()> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        if let Some(lease) = self.storage.lease_get(id).await? {
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
                let mut lease = lease
                    .begin_revoke(self.now(), None)
                    .map_err(|e| Error::Internal(e.to_string()))?;
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
            .destroy_many(leases.iter().map(|l| l.id.clone()).collect())
            .await;
        // Every failure is reported, not only the first: each lease named with its cause.
        match revoke_failures(failures) {
            None => Ok(count),
            Some(error) => Err(error),
        }
    }

    /// revoke-force: try to destroy each lease under `prefix` once and remove it from the live
    /// table even if that fails. Returns a warning per account that may remain on its target.
    pub async fn revoke_force(&self, prefix: &str) -> Result<Vec<String>> {
        let leases = self.storage.lease_list_live(prefix).await?;
        let failures = self
            .destroy_many(leases.iter().map(|l| l.id.clone()).collect())
            .await;
        let mut warnings = Vec::new();
        for (id, error) in failures {
            let lock = self.lock_for(&id);
            let _held = lock.lock().await;
            let Some(lease) = self.storage.lease_get(&id).await? else {
                continue;
            };
            if lease.state == LeaseState::Revoked {
                continue;
            }
            let expected = lease.state;
            let error = error.to_string();
            let mut lease = lease
                .force_tombstone(self.now(), &error)
                .map_err(|e| Error::Internal(e.to_string()))?;
            lease.trail.destroyed_by = Some(self.node_id().to_owned());
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

    /// Destroy each lease now, a bounded number at a time; `(lease id, why)` per failure, the
    /// error kept typed so the caller can report every failure with its fault
    /// ([`revoke_failures`]).
    pub async fn destroy_many(&self, ids: Vec<String>) -> Vec<(String, DestroyError)> {
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
}
