//! Renewal: the TTL counts from now, capped at issue time + max TTL (see `ttl.rs`); the target's
//! own expiry is moved first, the row only after, and only if the lease is still active.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::info;

use super::engine::{chrono_dur, Call, LeaseEngine, Renewed};
use super::events::LeaseEvent;
use super::ttl::{renew_ttl, Renewal};
use crate::error::{Error, LeaseProblem, Result};
use crate::storage::LeaseState;

impl LeaseEngine {
    /// Renew a lease by `increment` (zero: the role's or mount's default TTL).
    pub async fn renew(&self, id: &str, increment: Duration) -> Result<Renewed> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let lease = match self.storage.lease_get(id).await? {
            Some(l) if l.state != LeaseState::Revoked && l.state != LeaseState::Creating => l,
            _ => return Err(Error::Lease(LeaseProblem::NotFound)),
        };
        // Before anything is read from the row: an edited expiry or max expiry would otherwise
        // be renewed from, and the write below would give the edit a valid tag.
        if self.check_row(&lease, "renew").await.is_err() {
            return Err(Error::Lease(LeaseProblem::Tampered));
        }
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
        let mut ctx = self.context(&lease, &mount).await?;
        ctx.expire_time = new_expire;
        self.call_target(mount.backend.clone(), ctx, Call::Renew)
            .await?;
        let mut lease = lease
            .renewed(new_expire, now)
            .map_err(|e| Error::Internal(e.to_string()))?;
        if !self.update_row(&mut lease, LeaseState::Active).await? {
            // The expiry worker claimed it meanwhile: it is being destroyed.
            return Err(Error::Lease(LeaseProblem::Expired));
        }
        if let Some(due) = lease.due_at {
            self.wake.due_at(due);
        }
        self.observers
            .emit(&LeaseEvent::Renewed { lease: &lease }, now);
        info!(lease.id = %id, ttl = ttl.as_secs(), "renewed lease {id}");
        Ok(Renewed {
            lease,
            ttl,
            warning,
        })
    }

    /// Move an active lease's expiry (token renewal computes its own TTL).
    pub async fn set_expiry(&self, id: &str, expire_time: DateTime<Utc>) -> Result<bool> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let Some(lease) = self.storage.lease_get(id).await? else {
            return Ok(false);
        };
        if lease.state != LeaseState::Active {
            return Ok(false);
        }
        if self.check_row(&lease, "renew").await.is_err() {
            return Err(Error::Lease(LeaseProblem::Tampered));
        }
        let mut lease = lease
            .renewed(expire_time, self.now())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let ok = self.update_row(&mut lease, LeaseState::Active).await?;
        self.wake.notify_one();
        Ok(ok)
    }
}
