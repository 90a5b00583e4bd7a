//! Periodic work one node does for all: run a round while this node leads, wait for leadership
//! otherwise, and stop at shutdown. Each round says how long to sleep before the next.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Run `round` repeatedly while `leader` is true, until `shutdown` turns true. The first round
/// runs as soon as this node leads (it may also be recovery after a crash).
pub async fn while_leading<F, Fut>(
    mut leader: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !*leader.borrow_and_update() {
            tokio::select! {
                _ = leader.changed() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let next = round().await;
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = shutdown.changed() => {}
        }
    }
}
