//! Keeping a lease alive while the command runs: renewed when two thirds of its TTL have
//! passed, by the TTL it was issued with, until the server will not extend it further. The
//! server caps a renewal at the lease's max TTL (and says so in a warning); from then on the
//! lease has a fixed end, which is reported once as an [`Ending`] so that `run` can warn, or
//! stop the command, before the credential dies under it.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::lease::Leased;
use crate::cli::client::Client;

/// A lease that will not be renewed past `at`.
#[derive(Debug)]
pub struct Ending {
    /// The `-secret` path.
    pub path: String,
    /// The lease.
    pub lease_id: String,
    /// When the credential dies (a little early: measured from before the renewal was asked).
    pub at: Instant,
    /// Why it cannot be extended.
    pub why: String,
}

/// Renew `lease` (obtained at `obtained`) until its end is fixed; then send that end on
/// `endings` and return. Runs until dropped otherwise (the command ended first).
pub async fn keep_alive(
    client: &Client,
    lease: &Leased,
    obtained: Instant,
    endings: UnboundedSender<Ending>,
) {
    if lease.lease_id.is_empty() {
        return;
    }
    let end = |at: Instant, why: String| {
        // The receiver is gone only when the command has ended, and then no one needs to know.
        let _ = endings.send(Ending {
            path: lease.path.clone(),
            lease_id: lease.lease_id.clone(),
            at,
            why,
        });
    };
    let mut expires = obtained + lease.ttl;
    if !lease.renewable || lease.ttl.is_zero() {
        end(expires, "is not renewable".into());
        return;
    }
    let increment = lease.ttl;
    let mut next = obtained + lease.ttl * 2 / 3;
    loop {
        tokio::time::sleep_until(next).await;
        let asked = Instant::now();
        let body = json!({"lease_id": lease.lease_id, "increment": increment.as_secs()});
        match client.write("sys/leases/renew", &body).await {
            Ok(answer) => {
                let got = Duration::from_secs(
                    answer
                        .get("lease_duration")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                );
                expires = asked + got;
                if got < increment || capped(&answer) {
                    end(expires, "reaches its max TTL".into());
                    return;
                }
                next = asked + got * 2 / 3;
            }
            // The server refused (expired, past max TTL, revoked by someone): asking again will
            // not change its mind.
            Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => {
                end(expires, format!("could not be renewed:\n{e}"));
                return;
            }
            // Unreachable or failing server: try again, sooner, while the lease lasts.
            Err(e) => {
                let now = Instant::now();
                if now >= expires {
                    end(expires, format!("could not be renewed in time:\n{e}"));
                    return;
                }
                eprintln!(
                    "Warning: renewing lease {} ({}) failed, retrying: {e}",
                    lease.lease_id, lease.path
                );
                next = now
                    + ((expires - now) / 3)
                        .clamp(Duration::from_millis(200), Duration::from_secs(10));
            }
        }
    }
}

/// The server's warning that the TTL asked for was cut to what the max TTL leaves.
fn capped(answer: &Value) -> bool {
    answer
        .get("warnings")
        .and_then(Value::as_array)
        .is_some_and(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .any(|m| m.contains("max_ttl") || m.contains("capped"))
        })
}
