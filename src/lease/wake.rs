//! The expiry worker's alarm: the worker sleeps until the earliest due time it found, and a
//! write that makes a lease due wakes it only when that lease is due before then.
//!
//! Waking it on every issue made it look at the table again on every issue (a claim and a
//! next-due query, both through the storage threads) although an issued lease is due an hour
//! later, not before the worker's next look. Skipping those wake-ups is safe under this rule:
//! while the worker is looking (from before it reads the table until it has stored its next
//! wake-up time) every write wakes it, so a row written after its read is never slept past.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// `planned_ms` while the worker is looking at the table: every write wakes it.
const LOOKING: i64 = i64::MIN;

/// See the module header.
pub struct Wake {
    notify: Notify,
    /// When the worker will look next (ms since the epoch, the engine's clock), or [`LOOKING`].
    planned_ms: AtomicI64,
}

impl Default for Wake {
    fn default() -> Self {
        Self {
            notify: Notify::new(),
            planned_ms: AtomicI64::new(LOOKING),
        }
    }
}

impl Wake {
    /// Wake the worker whatever it planned (the clock moved, a node died, a retry was written).
    pub fn notify_one(&self) {
        self.notify.notify_one();
    }

    /// A lease was written that becomes due at `due`: wake the worker if it would otherwise
    /// sleep past it. Call after the write.
    pub fn due_at(&self, due: DateTime<Utc>) {
        let planned = self.planned_ms.load(Ordering::SeqCst);
        if planned == LOOKING || due.timestamp_millis() < planned {
            self.notify.notify_one();
        }
    }

    /// The worker's wait for a wake-up (register it before [`Wake::looking`]).
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }

    /// The worker is about to read the table: every write wakes it until [`Wake::planned`].
    pub fn looking(&self) {
        self.planned_ms.store(LOOKING, Ordering::SeqCst);
    }

    /// The worker read the table and will look again at `at` unless woken.
    pub fn planned(&self, at: DateTime<Utc>) {
        self.planned_ms
            .store(at.timestamp_millis().max(LOOKING + 1), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn woken(w: &Wake) -> bool {
        tokio::time::timeout(Duration::from_millis(50), w.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_write_wakes_the_worker_only_when_due_before_its_plan_or_while_it_looks() {
        let w = Wake::default();
        let now = Utc::now();
        w.looking();
        w.due_at(now + chrono::Duration::hours(1));
        assert!(woken(&w).await, "looking: every write wakes");
        w.planned(now + chrono::Duration::seconds(5));
        w.due_at(now + chrono::Duration::hours(1));
        assert!(!woken(&w).await, "due after the plan: no wake-up");
        w.due_at(now + chrono::Duration::seconds(1));
        assert!(woken(&w).await, "due before the plan");
        w.notify_one();
        assert!(woken(&w).await);
    }
}
