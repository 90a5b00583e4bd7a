//! The expiry worker: asks the table for due leases, claims them in one batch, hands each claimed
//! row to the destruction path (no second claim), a bounded number at a time, then sleeps until the next due time (or until woken by an issue/renew/revoke).
//!
//! Holding nothing in memory but the next wake-up time is what lets a restart with a million
//! leases serve at once; the concurrency bound is what keeps leases that fell due during downtime
//! from storming the target.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tracing::{error, warn};

use super::engine::LeaseEngine;
use super::events::LeaseEvent;

/// Longest sleep between looks at the table, in case a wake-up was missed (a clock jump).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// The same with other servers on the storage: their issues, renewals and queued revokes wake
/// only their own workers, so a lease a dead node issued is found by this poll.
const SHARED_IDLE_POLL: Duration = Duration::from_secs(1);

/// Run until `shutdown` turns true.
pub async fn run(engine: Arc<LeaseEngine>, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(engine.settings().revoke_concurrency.max(1)));
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Register for wake-ups before looking, so a notify between the look and the sleep is kept.
        let woken = engine.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        engine.wake.looking();

        let sleep_for = match tick(&engine, &permits).await {
            Ok(Some(next)) => next,
            Ok(None) => continue,
            Err(e) => {
                error!(error = %e, "expiry worker could not read the lease table");
                Duration::from_secs(1)
            }
        };
        engine
            .wake
            .planned(engine.now() + super::engine::chrono_dur(sleep_for));
        tokio::select! {
            _ = tokio::time::sleep(sleep_for) => {}
            _ = &mut woken => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Claim and start what is due. `Ok(None)`: more may be due right away; `Ok(Some(d))`: sleep `d`.
async fn tick(
    engine: &Arc<LeaseEngine>,
    permits: &Arc<Semaphore>,
) -> crate::error::Result<Option<Duration>> {
    // Wait for a free slot, then claim a batch of twice the slots; each claimed lease starts as
    // a slot frees. Claiming only the free slots meant one claim (a durable write, answered
    // after its fsync) per finished destruction, and a burst drained no faster than those
    // writes came back, one after another (~2,000/s). A batch waits for slots a few
    // destructions' time at most, far inside the claim timeout (minutes), and leaves the rest
    // of the due rows to other nodes.
    let first = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| crate::error::Error::Internal(e.to_string()))?;
    let batch = engine.settings().revoke_concurrency.max(1) * 2;
    let now = engine.now();
    let claim_until = engine.claim_until(now);
    let claimed = engine
        .storage()
        .lease_claim_due(now, claim_until, batch, engine.node_id())
        .await?;
    let full_batch = claimed.len() == batch;
    let mut first = Some(first);
    for lease in claimed {
        // First claim of a lease past its expiry (not a retry, not a queued revoke, not an
        // abandoned creation): it expired.
        // An edited row's expire time says nothing; destroy() flags it instead.
        if lease.attempts == 0
            && lease.expire_time <= now
            && lease.last_error.is_none()
            && engine.verify_row(&lease)
        {
            engine
                .observers
                .emit(&LeaseEvent::Expired { lease: &lease }, now);
        }
        let permit = match first.take() {
            Some(p) => p,
            None => match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| crate::error::Error::Internal(e.to_string()))?,
            },
        };
        // The row is claimed already: it goes straight to its one attempt, with no second
        // claim (a durable write per lease, on the path that bounds how fast a burst drains).
        let held = engine.try_lock_claimed(&lease.id);
        let engine = engine.clone();
        tokio::spawn(async move {
            let id = lease.id.clone();
            if let Err(e) = engine.destroy_expired(lease, held).await {
                warn!(lease.id = %id, error = %e, "expiry of lease {id} failed; will retry");
            }
            drop(permit);
        });
    }
    if full_batch {
        return Ok(None);
    }
    let next = engine.storage().lease_next_due().await?;
    let now = engine.now();
    let idle = if engine.storage().shared() {
        SHARED_IDLE_POLL
    } else {
        IDLE_POLL
    };
    Ok(Some(match next {
        Some(t) if t <= now => Duration::from_millis(5),
        Some(t) => (t - now).to_std().unwrap_or(idle).min(idle),
        None => idle,
    }))
}
