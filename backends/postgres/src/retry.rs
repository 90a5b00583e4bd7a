//! Running a step again when a concurrent transaction aborted it. Statements that change one
//! catalog row from several connections at once (grants on a shared schema when issuing,
//! `DROP OWNED` of privileges on it when revoking) fail with "tuple concurrently updated" or a
//! deadlock; the step was rolled back whole, and succeeds when run again a moment later.

use std::time::Duration;

/// How long an aborted step keeps being run again. With several servers issuing together
/// (measured: 12 concurrent issuers over three nodes) a fixed handful of attempts ran out, so
/// the budget is time.
pub(crate) const BUDGET: Duration = Duration::from_secs(15);

/// Wait before attempt `attempt + 1`: a random point in [d/2, d] for d = 10, 20, 40 ... 500 ms,
/// so the colliding transactions do not meet again in step.
pub(crate) async fn back_off(attempt: u32) {
    let cap = (10u64 << attempt.min(6)).min(500);
    let ms = cap / 2 + rand::random::<u64>() % (cap / 2 + 1);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
