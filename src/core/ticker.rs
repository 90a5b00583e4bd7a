//! Backends' own periodic work (static-role rotation, finishing rotations a crash interrupted):
//! one loop that calls [`leasehold_backend::Backend::tick`] for each secrets mount in turn — so
//! calls for one mount never overlap — sleeping until the earliest time a backend asked for,
//! between [`MIN_DELAY`] and [`MAX_DELAY`]. Each call runs on its own task, so a panic or a hung
//! target costs that mount one round, not the loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

use super::mounts::MountTable;
use crate::clock::SharedClock;

/// Never tick a mount more often than this.
pub const MIN_DELAY: Duration = Duration::from_secs(1);
/// Tick every mount at least this often: requests may add work without telling the loop.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// One backend call may take this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Run until `shutdown` turns true, ticking only while `leader` is true: with several nodes on
/// one storage, one of them does the periodic work. The first round runs as soon as this node
/// leads: it is also crash recovery.
pub async fn run(
    mounts: Arc<MountTable>,
    clock: SharedClock,
    leader: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) {
    super::leading::while_leading(leader, shutdown, || tick_all(&mounts, &clock)).await
}

/// One round: tick every mount in turn; the earliest delay any asked for.
async fn tick_all(mounts: &MountTable, clock: &SharedClock) -> std::time::Duration {
    let mut next = MAX_DELAY;
    for mount in mounts.list() {
        let (backend, view, path) = (
            mount.backend.clone(),
            mount.view.clone(),
            mount.entry.path.clone(),
        );
        let now = clock.now();
        let call = tokio::spawn(async move {
            tokio::time::timeout(CALL_TIMEOUT, backend.tick(view, now)).await
        });
        match call.await {
            Ok(Ok(Ok(Some(delay)))) => next = next.min(delay.max(MIN_DELAY)),
            Ok(Ok(Ok(None))) => {}
            Ok(Ok(Err(e))) => {
                warn!(mount = %path, error = %e, "periodic work of mount {path} failed; retrying")
            }
            Ok(Err(_)) => {
                warn!(mount = %path, "periodic work of mount {path} timed out; retrying")
            }
            Err(e) => {
                warn!(mount = %path, error = %e, "periodic work of mount {path} panicked; retrying")
            }
        }
    }
    next
}
