//! The integrity sweep: every `integrity_sweep_interval`, walk the live rows a page at a time and
//! check each row's tag, flagging (and auditing) the ones that fail.
//!
//! Why it exists: the expiry worker only looks at rows when they fall due, and `due_at` is queue
//! bookkeeping, not covered by the tag. A row whose expiry (and `due_at`) was pushed back in
//! storage would otherwise not be looked at until the pushed-back time, and nothing would say
//! so. The sweep bounds that to one interval: the row is then flagged, audited, counted, shown as
//! `integrity: failed` in lookups and listed with the irrevocable leases. It is not destroyed
//! (see `check_row`): the account column of an edited row cannot be trusted.
//!
//! Cost: one indexed page query per 500 rows and one HMAC per row (a million rows: about a
//! second of one core per sweep). Every node sweeps on shared storage; flagging is idempotent,
//! so two nodes finding the same row only audit it twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

use super::engine::LeaseEngine;

/// Rows per page.
const PAGE: usize = 500;

/// Run until `shutdown` turns true.
pub async fn run(engine: Arc<LeaseEngine>, mut shutdown: watch::Receiver<bool>) {
    let every = engine
        .settings()
        .integrity_sweep_interval
        .max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        if let Err(e) = engine.sweep_integrity().await {
            warn!(error = %e, "lease integrity sweep failed; retrying next interval");
        }
    }
}

impl LeaseEngine {
    /// Check every live row's tag once; returns how many failed (already flagged ones included).
    pub async fn sweep_integrity(&self) -> crate::error::Result<u64> {
        let mut after = String::new();
        let mut failed = 0u64;
        loop {
            let page = self.storage.lease_page_live(&after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(failed);
            };
            after = last.id.clone();
            for row in &page {
                if self.verify_row(row) {
                    continue;
                }
                failed += 1;
                // Already flagged: audited when it was; do not repeat it every sweep.
                if row.tampered_at.is_none() {
                    let _ = self.check_row(row, "keep").await;
                }
            }
            if page.len() < PAGE {
                return Ok(failed);
            }
        }
    }
}
