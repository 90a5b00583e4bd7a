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
    /// The queue's `due_at` is bookkeeping the tag does not cover (storage changes it in SQL).
    /// Pushed back or cleared on a row whose tag is fine, it would hide the row from the expiry
    /// worker while its account lives on. An active row is due at its expire time; any other
    /// live row within a retry, a claim or a creation of now. A row found later than that is
    /// queued again (its covered columns are intact, so destroying it as named is safe).
    async fn requeue_if_hidden(&self, row: &super::LeaseRecord) -> crate::error::Result<()> {
        use super::LeaseState;
        if row.tampered_at.is_some() {
            return Ok(());
        }
        let now = self.now();
        let s = self.settings();
        let slack =
            s.retry_max.max(s.claim_timeout).max(s.target_timeout * 2) + Duration::from_secs(60);
        let latest = match row.state {
            LeaseState::Active => row.expire_time,
            LeaseState::Creating | LeaseState::Revoking => now + super::engine::chrono_dur(slack),
            LeaseState::Revoked => return Ok(()),
        };
        if row.due_at.is_some_and(|d| d <= latest) {
            return Ok(());
        }
        let lock = self.lock_for(&row.id);
        let _held = lock.lock().await;
        let mut fixed = row.clone();
        fixed.due_at = Some(if row.state == LeaseState::Active {
            row.expire_time.max(now)
        } else {
            now
        });
        warn!(lease.id = %row.id, due_at = ?row.due_at,
            "lease {} was hidden from the expiry worker (due_at moved in storage); queued again",
            row.id);
        self.update_row(&mut fixed, row.state).await?;
        self.wake.notify_one();
        Ok(())
    }

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
                    self.requeue_if_hidden(row).await?;
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
