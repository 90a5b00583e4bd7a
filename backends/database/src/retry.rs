//! Running an attempt again when a concurrent transaction aborted it. On PostgreSQL, statements
//! that change one catalog row from several connections at once (grants on a shared schema when
//! issuing, `DROP OWNED` of privileges on it when revoking) fail with "tuple concurrently
//! updated" or a deadlock; the attempt was rolled back whole, and succeeds when run again a
//! moment later. Which failures are such is the driver's to say ([`crate::Failed::transient`]).

use std::future::Future;
use std::time::Duration;

use crate::target::Failed;

/// How long an aborted attempt keeps being run again. With several servers issuing together
/// (measured: 12 concurrent issuers over three nodes) a fixed handful of attempts ran out, so
/// the budget is time.
pub const BUDGET: Duration = Duration::from_secs(15);

/// Run `attempt` until it succeeds, fails for good, or fails transiently after [`BUDGET`].
pub async fn retrying<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    let deadline = tokio::time::Instant::now() + BUDGET;
    let mut count: u32 = 1;
    loop {
        match attempt().await {
            Err(f) if f.transient && tokio::time::Instant::now() < deadline => {
                tracing::debug!("{what} collided: {}", f.error);
                back_off(count).await;
                count += 1;
            }
            other => return other,
        }
    }
}

/// Wait before attempt `attempt + 1`: a random point in [d/2, d] for d = 10, 20, 40 ... 500 ms,
/// so the colliding transactions do not meet again in step.
async fn back_off(attempt: u32) {
    let cap = (10u64 << attempt.min(6)).min(500);
    let ms = cap / 2 + rand::random::<u64>() % (cap / 2 + 1);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
