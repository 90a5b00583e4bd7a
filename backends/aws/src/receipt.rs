//! The destruction receipt of an `iam_user` credential: after the destroy sequence says the user
//! is gone, IAM itself is asked, and its answer is what the `destroyed` audit event records.
//!
//! Two questions, both of which must answer "no such user": `iam:GetUser` (the user) and
//! `iam:ListAccessKeys` (its keys; on AWS a key cannot outlive its user, but the key is what the
//! credential was, so the receipt asks about it by name). A user IAM still shows makes the
//! revocation fail, whatever the delete calls answered, and the lease engine retries it — which
//! also covers a read served by an IAM replica that has not yet seen the deletion. A question
//! that cannot be answered (no `iam:GetUser` permission, AWS unreachable) leaves the revocation
//! unproven rather than failed: the destroy sequence's own answer stands, and no receipt is
//! claimed.
//!
//! STS credentials get no receipt: AWS has no call to revoke or look up an `AssumeRole`,
//! `GetFederationToken` or `GetSessionToken` credential, so there is nothing to prove gone.

use crate::client::AwsClients;
use crate::error::{AwsError, CallFailure};
use crate::iam;

/// Ask IAM whether `user` and its access keys are gone. `Ok(Some(check))`: proved, `check` names
/// what answered; `Ok(None)`: IAM could not be asked; `Err`: the user is still there.
pub(crate) async fn prove_gone(
    clients: &AwsClients,
    user: &str,
) -> Result<Option<String>, AwsError> {
    let found = clients
        .iam
        .get_user()
        .user_name(user)
        .send()
        .await
        .map(|_| vec![user.to_owned()])
        .map_err(|e| clients.failure("iam:GetUser", &e));
    let Some(user_check) = absence("iam:GetUser", user, found)? else {
        return Ok(None);
    };
    let keys = iam::list_access_keys(clients, user).await;
    let Some(keys_check) = absence("iam:ListAccessKeys", user, keys)? else {
        return Ok(None);
    };
    Ok(Some(format!(
        "{user_check} and {keys_check} for user {user:?}"
    )))
}

/// What one question's `answer` (the user or keys it found) says about `user`: proof of absence
/// (the check, e.g. `iam:GetUser NoSuchEntity`), presence (an error), or nothing (`None`).
fn absence(
    action: &'static str,
    user: &str,
    answer: Result<Vec<String>, CallFailure>,
) -> Result<Option<String>, AwsError> {
    match answer {
        Err(f) if f.is_no_such_entity() => Ok(Some(format!("{action} NoSuchEntity"))),
        Ok(found) if found.is_empty() => Ok(Some(format!("{action} empty"))),
        // The count only: key ids are not secret, but a receipt need not spread them.
        Ok(found) => Err(AwsError::NotRemoved {
            user: user.to_owned(),
            detail: format!("{action} still finds {} item(s)", found.len()),
        }),
        Err(f) => {
            tracing::warn!(aws.user = %user, error = %f.detail,
                "revoked IAM user {user} but {action} could not prove it gone: {}", f.detail);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use leasehold_backend::BackendError;

    use super::*;

    fn failure(code: &str) -> CallFailure {
        CallFailure {
            action: "iam:GetUser",
            code: Some(code.into()),
            detail: format!("{code}: ..."),
            not_sent: false,
        }
    }

    #[test]
    fn no_such_entity_or_an_empty_listing_is_proof() {
        assert_eq!(
            absence("iam:GetUser", "u", Err(failure("NoSuchEntity"))).unwrap(),
            Some("iam:GetUser NoSuchEntity".into())
        );
        assert_eq!(
            absence("iam:ListAccessKeys", "u", Ok(Vec::new())).unwrap(),
            Some("iam:ListAccessKeys empty".into())
        );
    }

    #[test]
    fn a_user_still_found_fails_the_revocation_as_a_target_error() {
        let err = absence("iam:GetUser", "lh-u", Ok(vec!["lh-u".into()])).unwrap_err();
        assert!(matches!(err, AwsError::NotRemoved { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("\"lh-u\"") && text.contains("iam:GetUser"),
            "{text}"
        );
        assert!(matches!(BackendError::from(err), BackendError::Target(_)));
        let keys = absence("iam:ListAccessKeys", "lh-u", Ok(vec!["AKIA1".into()]));
        assert!(!keys.unwrap_err().to_string().contains("AKIA1"));
    }

    #[test]
    fn an_unanswered_question_proves_nothing_and_fails_nothing() {
        for code in ["AccessDenied", "Throttling"] {
            assert_eq!(
                absence("iam:GetUser", "u", Err(failure(code))).unwrap(),
                None
            );
        }
    }
}
