//! Renewing a token: the new TTL is the increment, else its period, else its creation TTL, counted
//! from now and capped at its max (with Vault's warning); the entry and its expiry row move
//! together.

use std::time::Duration;

use leasehold_backend::duration::format_duration;

use super::create::chrono_dur;
use super::TokenStore;
use crate::auth::token::TokenEntry;
use crate::error::{Error, Result};
use crate::lease::LeaseEngine;

impl TokenStore {
    /// Renew a token: TTL from now = increment, else its period, else its creation TTL; capped at
    /// its max with Vault's warning. Returns the new TTL and the warning.
    ///
    /// `role_exists` is asked, once the token is known to be renewable and live, whether what
    /// made it still exists (its login role, its token role): the core knows those, not the store.
    pub async fn renew(
        &self,
        leases: &LeaseEngine,
        entry: &mut TokenEntry,
        increment: Duration,
        role_exists: impl std::future::Future<Output = Result<()>>,
    ) -> Result<(u64, Option<String>)> {
        let now = leases.now_ms();
        if !entry.renewable || entry.expire_time.is_none() {
            return Err(Error::invalid("token is not renewable"));
        }
        if entry.expire_time.is_some_and(|e| e <= now) {
            return Err(Error::PermissionDenied);
        }
        role_exists.await?;
        let proposed = if !increment.is_zero() {
            increment
        } else if entry.period > 0 {
            Duration::from_secs(entry.period)
        } else {
            Duration::from_secs(entry.creation_ttl)
        };
        let mut ttl = proposed;
        let mut warning = None;
        if let Some(max) = entry.max_expire_time {
            let remaining =
                Duration::from_secs(u64::try_from((max - now).num_seconds()).unwrap_or(0));
            if remaining.is_zero() {
                return Err(Error::invalid("past the max TTL, cannot renew"));
            }
            if proposed > remaining {
                ttl = remaining;
                warning = Some(format!(
                    "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
                    format_duration(proposed),
                    format_duration(remaining)
                ));
            }
        }
        let expire = now + chrono_dur(ttl);
        entry.expire_time = Some(expire);
        entry.last_renewal = Some(now);
        self.record_renewal(&entry.accessor, expire, now).await?;
        leases.set_expiry(&entry.lease_id(), expire).await?;
        Ok((ttl.as_secs(), warning))
    }
}
