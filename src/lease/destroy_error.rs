//! Why a destruction did not happen ([`DestroyError`]), and whose fault that is ([`Fault`]), so
//! that a caller hears Vault's revoke failure for a target's refusal and a server error for ours.

use leasehold_backend::BackendError;

use super::transitions::IllegalTransition;
use crate::error::{Error, LeaseProblem};
use crate::storage::StorageError;

/// Whose fault a failed destruction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The target refused, failed or did not answer (or another node's attempt on it failed).
    Target,
    /// The row is held for an operator (it failed its integrity check): refused, not failed.
    Refused,
    /// Our side: storage, a mount or sealed data that should be there, a broken invariant.
    Ours,
}

/// One destruction that did not happen. The lease stays `revoking` (or as it was) and is
/// retried by the expiry worker, except where the variant says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum DestroyError {
    /// The target's revoke call failed (text scrubbed of secrets by the backend).
    #[error("{0}")]
    Target(BackendError),
    /// Another node holds the lease's destruction and did not finish while we waited.
    #[error("destruction is under way on node {node}; not finished within {waited_secs}s")]
    Busy {
        /// The node holding the claim.
        node: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// Another node's attempt, which we waited for, failed with this error.
    #[error("{0}")]
    OtherNode(String),
    /// The row failed its integrity check: flagged and left for an operator (revoke-force).
    #[error("{0}")]
    Tampered(String),
    /// A token's expiry row: the token, its descendants or a lease they obtained could not all
    /// be revoked (the leases' own failures say why, every one of them listed).
    #[error("revoking the token's tree: {error}")]
    TokenTree {
        /// What failed.
        error: String,
        /// Whose fault: ours when any of the failures is (or the walk itself failed).
        fault: Fault,
    },
    /// The lease's mount no longer exists, so nothing knows how to destroy its account.
    #[error("mount {0} no longer exists")]
    MountGone(String),
    /// The lease's sealed backend data did not open (or decode).
    #[error("{0}")]
    Sealed(String),
    /// Storage failed before anything was attempted (the claim).
    #[error("storage error: {0}")]
    Storage(StorageError),
    /// The attempt ran, but its outcome could not be written to the lease row. `destroyed`
    /// says whether the account is gone; either way the row still says `revoking`, so the
    /// destruction is retried (a no-op when the account is gone).
    #[error("{}", unrecorded(*destroyed, attempt.as_deref(), error))]
    Unrecorded {
        /// True when the account was destroyed.
        destroyed: bool,
        /// The attempt's error when it failed.
        attempt: Option<String>,
        /// The write's error.
        error: StorageError,
    },
    /// A transition the state machine has no arrow for: a bug.
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
}

fn unrecorded(destroyed: bool, attempt: Option<&str>, error: &StorageError) -> String {
    if destroyed {
        format!("account destroyed, but its lease row could not be marked revoked: {error}")
    } else {
        format!(
            "destruction failed ({}) and the failure could not be recorded: {error}",
            attempt.unwrap_or("no detail")
        )
    }
}

impl DestroyError {
    /// Whose fault it is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Target(BackendError::Storage(_) | BackendError::Internal(_)) => Fault::Ours,
            Self::TokenTree { fault, .. } => *fault,
            Self::Target(_) | Self::Busy { .. } | Self::OtherNode(_) => Fault::Target,
            Self::Tampered(_) => Fault::Refused,
            Self::MountGone(_)
            | Self::Sealed(_)
            | Self::Storage(_)
            | Self::Unrecorded { .. }
            | Self::Transition(_) => Fault::Ours,
        }
    }

    /// The error a caller who asked to revoke `lease_id` now sees: a target failure (502)
    /// when the target failed, the integrity refusal when the row is held for an operator, and
    /// a server error when the fault is ours.
    pub fn into_error(self, lease_id: &str) -> Error {
        match (self.fault(), self) {
            (_, Self::Storage(e)) => Error::Storage(e),
            (Fault::Ours, e) => Error::Internal(format!("lease {lease_id}: {e}")),
            (Fault::Refused, _) => Error::Lease(LeaseProblem::Tampered),
            (Fault::Target, e) => Error::RevokeFailed {
                lease_id: lease_id.to_owned(),
                error: e.to_string(),
            },
        }
    }
}

/// Failures listed in one revoke error at most; the rest are counted.
const LISTED_FAILURES: usize = 10;
/// Characters of each failure's cause kept in that list.
const CAUSE_CHARS: usize = 200;

/// The error for a revoke of many leases (a prefix, a mount) of which `failures` could not be
/// destroyed: every failed lease id with its cause (bounded), not only the first. A server
/// error when any failure is ours; else Vault's revoke failure. `None` when nothing failed.
pub fn revoke_failures(failures: Vec<(String, DestroyError)>) -> Option<Error> {
    let ours = failures.iter().any(|(_, e)| e.fault() == Fault::Ours);
    let mut listed = failures.iter().map(|(id, e)| {
        let cause: String = e.to_string().chars().take(CAUSE_CHARS).collect();
        (id.clone(), cause)
    });
    let (first_id, first_cause) = listed.next()?;
    let mut error = first_cause;
    let rest: Vec<String> = listed
        .by_ref()
        .take(LISTED_FAILURES.saturating_sub(1))
        .map(|(id, cause)| format!("{id}: {cause}"))
        .collect();
    if !rest.is_empty() {
        error.push_str(&format!("; also failed: {}", rest.join("; ")));
    }
    let unlisted = failures.len().saturating_sub(LISTED_FAILURES);
    if unlisted > 0 {
        error.push_str(&format!("; and {unlisted} more"));
    }
    Some(if ours {
        Error::Internal(format!("failed to revoke lease {first_id}: {error}"))
    } else {
        Error::RevokeFailed {
            lease_id: first_id,
            error,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_is_reported_and_the_list_is_bounded() {
        let failures = (0..15)
            .map(|i| {
                let e = DestroyError::Target(BackendError::Target(format!("refused {i}")));
                (format!("db/creds/ro/{i}"), e)
            })
            .collect();
        let Some(Error::RevokeFailed { lease_id, error }) = revoke_failures(failures) else {
            panic!("a target's failures are Vault's revoke failure");
        };
        assert_eq!(lease_id, "db/creds/ro/0");
        assert!(error.starts_with("refused 0; also failed: db/creds/ro/1: refused 1"));
        assert!(error.contains("db/creds/ro/9: refused 9"), "{error}");
        assert!(!error.contains("db/creds/ro/10"), "{error}");
        assert!(error.ends_with("; and 5 more"), "{error}");
        assert!(revoke_failures(Vec::new()).is_none());
        let ours = vec![(
            "a".to_owned(),
            DestroyError::Storage(StorageError("disk full".into())),
        )];
        assert!(matches!(revoke_failures(ours), Some(Error::Internal(_))));
    }

    #[test]
    fn a_token_trees_failure_keeps_whose_fault_it_is() {
        let tree = |fault| DestroyError::TokenTree {
            error: "lease(s) not destroyed yet".into(),
            fault,
        };
        assert_eq!(tree(Fault::Ours).fault(), Fault::Ours);
        assert_eq!(tree(Fault::Target).fault(), Fault::Target);
        assert!(matches!(
            tree(Fault::Ours).into_error("auth/token/create/x"),
            Error::Internal(_)
        ));
        assert!(matches!(
            tree(Fault::Target).into_error("auth/token/create/x"),
            Error::RevokeFailed { .. }
        ));
    }

    #[test]
    fn an_unrecorded_outcome_says_what_really_happened() {
        let failed = DestroyError::Unrecorded {
            destroyed: false,
            attempt: Some("refused".into()),
            error: StorageError("disk full".into()),
        };
        assert!(
            !failed.to_string().contains("account destroyed"),
            "{failed}"
        );
        assert!(failed.to_string().contains("refused"), "{failed}");
        let done = DestroyError::Unrecorded {
            destroyed: true,
            attempt: None,
            error: StorageError("disk full".into()),
        };
        assert!(done.to_string().starts_with("account destroyed"), "{done}");
        assert_eq!(done.fault(), Fault::Ours);
    }
}
