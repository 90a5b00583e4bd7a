//! The expiry worker: asks the table for due leases, claims them in one batch, hands each claimed
//! row to the destruction path (no second claim), a bounded number at a time, then sleeps until the next due time (or until woken by an issue/renew/revoke).
//!
//! Holding nothing in memory but the next wake-up time is what lets a restart with a million
//! leases serve at once; the concurrency bound is what keeps leases that fell due during downtime
//! from storming the target.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::{error, warn};

use super::engine::LeaseEngine;
use super::events::LeaseEvent;

/// Longest sleep between looks at the table, in case a wake-up was missed (a clock jump).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// The same with other servers on the storage: their issues, renewals and queued revokes wake
/// only their own workers, so a lease a dead node issued is found by this poll.
const SHARED_IDLE_POLL: Duration = Duration::from_secs(1);

/// How many more destructions may be in flight for engines that bound their targets' load
/// themselves ([`leasehold_backend::SecretEngine::bounds_target_load`]) than
/// `revoke_concurrency`: what they have in flight waits in their pools and batchers, and a burst
/// of expiries drains faster (measured on two cores: 10,000 PostgreSQL roles due at once,
/// 3.4–3.6 s with this bound, 5.0 s with 64 in flight; BENCHMARKS.md).
const BOUNDED_ENGINES_FACTOR: usize = 16;

/// The worker's two bounds: every destruction in flight holds a `wide` permit (what the worker
/// keeps claimed and in memory); one on an engine that leaves its target's load to us holds a
/// `narrow` one too (`revoke_concurrency`, the calls on such targets at once).
#[derive(Clone)]
struct Permits {
    wide: Arc<Semaphore>,
    narrow: Arc<Semaphore>,
}

impl Permits {
    fn new(revoke_concurrency: usize) -> Self {
        let narrow = revoke_concurrency.max(1);
        Self {
            wide: Arc::new(Semaphore::new(
                narrow.saturating_mul(BOUNDED_ENGINES_FACTOR),
            )),
            narrow: Arc::new(Semaphore::new(narrow)),
        }
    }
}

/// One permit of `bound`, waiting for it if none is free.
async fn take(bound: &Arc<Semaphore>) -> crate::error::Result<OwnedSemaphorePermit> {
    bound
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| crate::error::Error::Internal(e.to_string()))
}

/// Run until `shutdown` turns true.
pub async fn run(engine: Arc<LeaseEngine>, mut shutdown: watch::Receiver<bool>) {
    let permits = Permits::new(engine.settings().revoke_concurrency);
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
    permits: &Permits,
) -> crate::error::Result<Option<Duration>> {
    // Wait for a free slot, then claim a batch of twice `revoke_concurrency`; each claimed
    // lease starts as a slot frees (a full batch claims again at once, until the wide bound
    // is reached). Claiming only the free slots meant one claim (a durable write, answered
    // after its fsync) per finished destruction, and a burst drained no faster than those
    // writes came back, one after another (~2,000/s). A batch waits for slots a few
    // destructions' time at most, far inside the claim timeout (minutes), and leaves the rest
    // of the due rows to other nodes.
    let first = take(&permits.wide).await?;
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
            None => take(&permits.wide).await?,
        };
        // Leases of engines that leave the target's load to us also wait for a narrow permit,
        // here: at most twice `revoke_concurrency` of them are ever claimed and waiting, as
        // their claims must not run out while their targets are slow.
        let narrow = if engine.bounds_target_load(&lease) {
            None
        } else {
            Some(take(&permits.narrow).await?)
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
            drop((permit, narrow));
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
