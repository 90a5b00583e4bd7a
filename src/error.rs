//! The crate's one error type, named for what went wrong for the caller. Each variant says whose
//! fault it is, and that picks its status class in `http::error` (the one place that chooses
//! status codes):
//!
//! - **the caller's** (bad input, no permission, a quota, an unknown lease): 4xx;
//! - **the target's** (a database or IAM that refused, failed or was unreachable, on issue,
//!   renew or a synchronous revoke alike): 502, with the target's scrubbed reason;
//! - **ours** (storage, a broken invariant, an audit trail that could not be written): 500
//!   (503 for a request that outlived its time limit), with no internal detail sent.
//!
//! A failure of ours is never reported as the caller's: an error from storage or a bug travels
//! as [`Error::Storage`] or [`Error::Internal`], never stringified into [`Error::InvalidRequest`].

use leasehold_backend::BackendError;

use crate::storage::StorageError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No token, an unknown token, or a token without the capability.
    #[error("permission denied")]
    PermissionDenied,
    /// Bad input; the text names the problem.
    #[error("{0}")]
    InvalidRequest(String),
    /// A read or list found nothing (Vault's empty 404).
    #[error("not found")]
    NotFound,
    /// No mount or system path serves this path.
    #[error("no handler for route {0:?}. route entry not found.")]
    NoRoute(String),
    /// The path exists but not for this HTTP method / operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// The request body exceeds the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request body did not arrive within the listener's `http_read_timeout`.
    #[error("the request body was not received within the listener's http_read_timeout")]
    BodyTimeout,
    /// Ours: the request took longer than the listener's `max_request_duration`. What it started is
    /// finished in the background (a credential issued then still gets its lease).
    #[error("the request took longer than the listener's max_request_duration")]
    RequestDuration,
    /// A lease lookup or renew named no live lease.
    #[error("{0}")]
    Lease(LeaseProblem),
    /// The target's fault: a synchronous revocation could not destroy the account because its
    /// target refused, failed or was unreachable; the lease stays `revoking` and is retried.
    /// (A failure of ours while revoking is [`Error::Storage`] or [`Error::Internal`].)
    #[error("failed to revoke lease {lease_id}: {error}")]
    RevokeFailed {
        /// The lease that is still live.
        lease_id: String,
        /// The target's error, scrubbed of secrets.
        error: String,
    },
    /// A secrets engine refused (the caller's fault), its target failed (the target's) or its
    /// storage failed (ours): [`BackendError`]'s variants say which.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A rate-limit quota refused the request (Vault's text).
    #[error("request path {path:?}: rate limit quota exceeded")]
    RateLimitQuotaExceeded {
        /// The request's canonical path.
        path: String,
    },
    /// A lease-count quota is full: no lease (and no account) was made (Vault's text).
    #[error("request path {path:?}: lease count quota exceeded")]
    LeaseCountQuotaExceeded {
        /// The request's canonical path.
        path: String,
    },
    /// Ours: audit devices are enabled and none recorded the request in time: refused (fail
    /// closed).
    #[error("no audit device could record the request; it was refused")]
    AuditFailed,
    /// Ours: our storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// Ours: a broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a lease operation was refused; texts are Vault's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseProblem {
    /// `lease_id` absent from the request.
    #[error("lease_id must be specified")]
    MissingId,
    /// Lookup of an unknown lease.
    #[error("invalid lease")]
    Invalid,
    /// Lookup of a lease that ended because its issue failed: still Vault's "invalid lease"
    /// (the lease is over), followed by why, so the caller need not search the audit log.
    #[error("invalid lease: {reason}")]
    EndedByFailedIssue {
        /// The recorded creation failure (`creation failed: ...`).
        reason: String,
    },
    /// Renew of an unknown lease.
    #[error("lease not found")]
    NotFound,
    /// Renew of a lease whose destruction keeps failing.
    #[error("lease is expired and has failed previous revocation attempts")]
    Irrevocable,
    /// Renew of a non-renewable lease.
    #[error("lease is not renewable")]
    NotRenewable,
    /// Renew after expiry.
    #[error("lease expired")]
    Expired,
    /// Renew of a lease already at its max TTL.
    #[error("past the max TTL, cannot renew")]
    PastMaxTtl,
    /// The lease row was edited in storage (its integrity tag does not match); it is left for
    /// an operator (`sys/leases/revoke-force`).
    #[error("lease row failed its integrity check (edited in storage); it is not acted on until an operator removes it with revoke-force")]
    Tampered,
}

impl Error {
    /// Shorthand for [`Error::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidRequest(msg.into())
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
