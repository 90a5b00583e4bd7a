//! The one place that chooses status codes. Every [`Error`] variant maps here, exhaustively, to
//! Vault's `{"errors": [...]}` body; adding a variant does not compile until it has a status.
//! The rule is `crate::error`'s: the caller's fault 4xx, the target's 502, ours 500. Internal
//! detail (storage, bugs) is logged, never sent.

use axum::http::StatusCode;
use leasehold_backend::BackendError;

use crate::error::Error;

/// Status and error messages for an error.
pub fn status_and_messages(err: &Error) -> (StatusCode, Vec<String>) {
    use StatusCode as S;
    match err {
        Error::PermissionDenied => (S::FORBIDDEN, vec!["permission denied".into()]),
        Error::InvalidRequest(m) => (S::BAD_REQUEST, vec![m.clone()]),
        Error::NotFound => (S::NOT_FOUND, vec![]),
        Error::NoRoute(_) => (S::NOT_FOUND, vec![err.to_string()]),
        Error::UnsupportedOperation => {
            (S::METHOD_NOT_ALLOWED, vec!["unsupported operation".into()])
        }
        Error::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, vec![err.to_string()]),
        Error::BodyTimeout => (S::REQUEST_TIMEOUT, vec![err.to_string()]),
        Error::RequestDuration => (S::SERVICE_UNAVAILABLE, vec![err.to_string()]),
        Error::Lease(problem) => (S::BAD_REQUEST, vec![problem.to_string()]),
        // The target's fault, as on issue: the lease is still live and will be retried.
        Error::RevokeFailed { .. } => (S::BAD_GATEWAY, vec![err.to_string()]),
        Error::Backend(b) => match b {
            BackendError::InvalidRequest(m) => (S::BAD_REQUEST, vec![m.clone()]),
            BackendError::UnsupportedPath => (S::NOT_FOUND, vec!["unsupported path".into()]),
            BackendError::UnsupportedOperation => {
                (S::METHOD_NOT_ALLOWED, vec!["unsupported operation".into()])
            }
            // The target failed, not the caller and not us: say so, with the (scrubbed) reason.
            BackendError::Target(m) | BackendError::TargetNotReached(m) => {
                (S::BAD_GATEWAY, vec![m.clone()])
            }
            BackendError::Storage(_) | BackendError::Internal(_) => internal(),
        },
        Error::RateLimitQuotaExceeded { .. } | Error::LeaseCountQuotaExceeded { .. } => {
            (S::TOO_MANY_REQUESTS, vec![err.to_string()])
        }
        Error::AuditFailed => (S::INTERNAL_SERVER_ERROR, vec![err.to_string()]),
        Error::Storage(_) | Error::Internal(_) => internal(),
    }
}

fn internal() -> (StatusCode, Vec<String>) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        vec!["internal error".into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LeaseProblem;

    #[test]
    fn statuses() {
        assert_eq!(status_and_messages(&Error::PermissionDenied).0, 403);
        assert_eq!(
            status_and_messages(&Error::NotFound),
            (StatusCode::NOT_FOUND, vec![])
        );
        let (s, m) = status_and_messages(&Error::Lease(LeaseProblem::Invalid));
        assert_eq!((s.as_u16(), m[0].as_str()), (400, "invalid lease"));
        let (s, m) = status_and_messages(&Error::Internal("secret detail".into()));
        assert_eq!(s, 500);
        assert_eq!(m, vec!["internal error"]);
    }

    #[test]
    fn a_failure_is_the_callers_the_targets_or_ours() {
        let target_down = Error::RevokeFailed {
            lease_id: "database/creds/ro/1".into(),
            error: "connection refused".into(),
        };
        let issue_target_down = Error::Backend(BackendError::TargetNotReached("refused".into()));
        assert_eq!(status_and_messages(&target_down).0, 502);
        assert_eq!(status_and_messages(&issue_target_down).0, 502);
        let storage = Error::Storage(crate::storage::StorageError("disk I/O error".into()));
        let (s, m) = status_and_messages(&storage);
        assert_eq!((s.as_u16(), m), (500, vec!["internal error".to_owned()]));
        assert_eq!(status_and_messages(&Error::AuditFailed).0, 500);
        assert_eq!(status_and_messages(&Error::invalid("bad ttl")).0, 400);
    }
}
