//! What happens to leases, as events: the audit log and the metrics listen here, so the engine
//! stays free of both. Observers are called inline and must not block (write to a buffer, bump a
//! counter); a panicking observer is the observer's bug, not the lease's.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::storage::LeaseRecord;

/// One thing that happened to a lease.
#[derive(Debug)]
pub enum LeaseEvent<'a> {
    /// A credential was created and its lease is active.
    Issued {
        /// The lease.
        lease: &'a LeaseRecord,
        /// From the request reaching the engine to the account existing.
        latency: Duration,
    },
    /// Creating the account failed; whatever was made is being destroyed.
    IssueFailed {
        /// The lease: `revoking`, or already `revoked` when the create provably never reached
        /// the target (see the header of `lease/issue.rs`).
        lease: &'a LeaseRecord,
        /// The target's error.
        error: &'a str,
    },
    /// A lease was renewed.
    Renewed {
        /// The lease after renewal.
        lease: &'a LeaseRecord,
    },
    /// The expiry worker took a lease whose time was up.
    Expired {
        /// The lease.
        lease: &'a LeaseRecord,
    },
    /// One destruction attempt, successful or not.
    DestroyAttempt {
        /// The lease after the attempt (its state, attempts, error, next attempt).
        lease: &'a LeaseRecord,
        /// The error, when the attempt failed.
        error: Option<&'a str>,
    },
    /// The account is gone.
    Destroyed {
        /// The lease (tombstone).
        lease: &'a LeaseRecord,
        /// How long the privilege existed: issue to destruction.
        privilege: Duration,
        /// How long it outlived its window: expire time to destruction (zero when destroyed
        /// before its expiry, e.g. an explicit revoke).
        overstay: Duration,
        /// Sessions of the account open at revocation and ended by it: evidence of use.
        /// `None` when the target cannot tell (no sessions, as AWS keys and tokens; or the
        /// account was already gone, e.g. a retry after an attempt that dropped it). `Some(0)`:
        /// nothing was connected at the end, which is not proof the credential was never used.
        sessions_terminated: Option<u64>,
        /// What the target answered, after the destruction, that proved the account gone.
        /// `None` when the engine asked nothing (AWS, tokens) or the answer could not be read.
        receipt: Option<Receipt<'a>>,
    },
    /// Destruction has now failed `irrevocable_after` times (it is still retried).
    Irrevocable {
        /// The lease.
        lease: &'a LeaseRecord,
    },
    /// An admin removed the lease with revoke-force although its account may remain.
    ForceRemoved {
        /// The lease (tombstone, `forced`).
        lease: &'a LeaseRecord,
        /// Why destruction failed.
        error: &'a str,
    },
    /// The row's integrity tag does not match its columns: someone edited it in storage (or it
    /// has none after the one-time migration). The engine refused to act on it and flagged it.
    /// The columns shown are the row's as found, so they are not to be trusted.
    Tampered {
        /// The row as found.
        lease: &'a LeaseRecord,
        /// What the engine was about to do (`destroy`, `renew`).
        action: &'a str,
    },
    /// Reconciliation found (and maybe destroyed) an account no lease describes.
    Orphan {
        /// Mount path.
        mount: &'a str,
        /// Account name.
        account: &'a str,
        /// `None` report only; `Some(Ok)` destroyed; `Some(Err)` destruction failed.
        destroyed: Option<Result<(), &'a str>>,
    },
}

impl LeaseEvent<'_> {
    /// A short name for the event (`issued`, `destroy_attempt`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Issued { .. } => "issued",
            Self::IssueFailed { .. } => "issue_failed",
            Self::Renewed { .. } => "renewed",
            Self::Expired { .. } => "expired",
            Self::DestroyAttempt { .. } => "destroy_attempt",
            Self::Destroyed { .. } => "destroyed",
            Self::Irrevocable { .. } => "irrevocable",
            Self::ForceRemoved { .. } => "force_removed",
            Self::Tampered { .. } => "tampered",
            Self::Orphan { .. } => "orphan",
        }
    }
}

/// A destruction receipt: the check the target answered proving the account gone, and when the
/// engine received that answer.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    /// What was asked and found (`pg_roles has no user "v-..."`).
    pub check: &'a str,
    /// When the answer was received.
    pub at: DateTime<Utc>,
}

/// A record being written, which the engine may wait for (bounded by the observer).
pub type Recording = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Something that wants to know.
pub trait LeaseObserver: Send + Sync {
    /// Called for every event, in the order they happen for one lease.
    fn on_event(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>);

    /// Like `on_event`, for an event whose record must be written before the engine goes on
    /// (an account's destruction, recorded before its row says so). Returns what to wait for,
    /// which the observer bounds in time; `None` when there is nothing to wait for.
    fn on_event_recorded(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>) -> Option<Recording> {
        self.on_event(event, at);
        None
    }
}

/// The engine's list of observers.
#[derive(Default)]
pub struct Observers(RwLock<Vec<Arc<dyn LeaseObserver>>>);

impl Observers {
    /// Add an observer.
    pub fn add(&self, observer: Arc<dyn LeaseObserver>) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(observer);
    }

    /// Tell every observer.
    pub fn emit(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>) {
        for o in self.0.read().unwrap_or_else(|p| p.into_inner()).iter() {
            o.on_event(event, at);
        }
    }

    /// Tell every observer and wait until those that record it have written it (each bounds
    /// its own wait).
    pub async fn emit_recorded(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>) {
        let recordings: Vec<Recording> = self
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|o| o.on_event_recorded(event, at))
            .collect();
        futures_util::future::join_all(recordings).await;
    }
}
