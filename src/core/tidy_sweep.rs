//! The leader's tidy: every [`INTERVAL`], tombstones older than `lease.tombstone_ttl` and
//! access-history rows of leases ended more than `lease.history_retention` ago are deleted. One
//! node does it (the leader), so shared storage is not tidied by every node at once; both
//! deletes are idempotent, so a leadership change mid-round costs nothing. `sys/leases/tidy`
//! runs the same round on demand.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::lease::LeaseEngine;

/// How often the leader tidies. Retention is counted in days; an hour late is nothing.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// Run until `shutdown`, tidying while this node leads.
pub async fn run(
    engine: Arc<LeaseEngine>,
    leader: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) {
    super::leading::while_leading(leader, shutdown, || async {
        tidy(&engine).await;
        INTERVAL
    })
    .await
}

/// One round: tombstones, then history. Failures are logged and retried next round.
pub async fn tidy(engine: &LeaseEngine) {
    match engine.tidy().await {
        Ok(0) => {}
        Ok(n) => info!(removed = n, "lease tidy removed {n} revoked tombstones"),
        Err(e) => warn!(error = %e, "lease tidy failed; retrying next round"),
    }
    match engine.tidy_history().await {
        Ok(0) => {}
        Ok(n) => info!(
            removed = n,
            "history tidy removed {n} leases past the history retention"
        ),
        Err(e) => warn!(error = %e, "history tidy failed; retrying next round"),
    }
}
