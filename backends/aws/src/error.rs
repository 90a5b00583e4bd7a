//! What went wrong, for the caller: [`AwsError`], and how an AWS SDK failure becomes one.
//!
//! The split follows the caller's question "is this my fault?". A role that names a policy ARN or
//! group that does not exist, a malformed policy document, a TTL STS refuses: those are the
//! caller's mistakes and become `BackendError::InvalidRequest` (400), even when it took a call to
//! AWS to find out. AWS being unreachable, throttling past our retries, or refusing our root
//! credentials is our side's failure and becomes `BackendError::Target`.
//!
//! Every AWS failure is described from its error code and message only, and the text is scrubbed
//! of the secret keys the engine holds, so no error can carry a secret to a log or a response.

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use leasehold_backend::{BackendError, StorageError};
use secrecy::SecretString;

pub use leasehold_backend::error::REDACTED;

/// AWS error codes that mean the request (the role, the caller's parameters) was wrong, not AWS.
const CALLER_FAULT_CODES: &[&str] = &[
    "NoSuchEntity",
    "MalformedPolicyDocument",
    "InvalidInput",
    "ValidationError",
    "PackedPolicyTooLarge",
    "InvalidParameterValue",
    "InvalidParameterCombination",
];

/// Everything the aws engine can report. Converted to [`BackendError`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// `creds/:name`, `sts/:name` for a role that does not exist (400, as Vault).
    #[error("Role {role:?} not found")]
    RoleNotFound {
        /// The role asked for.
        role: String,
    },
    /// One request field is wrong; the text names the field.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field's wire name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A role write failed validation; every problem is listed, each naming its field.
    #[error("error(s) validating supplied role data: {}", .0.join("; "))]
    InvalidRole(Vec<String>),
    /// A request that cannot be served as asked (text shown as is).
    #[error("{0}")]
    BadRequest(String),
    /// AWS refused a call because of what the role or the caller asked for (a policy ARN or
    /// group that does not exist, a malformed document).
    #[error("{action} was refused: {detail}")]
    Refused {
        /// The AWS action (`iam:AttachUserPolicy`).
        action: &'static str,
        /// Code and message from AWS, scrubbed.
        detail: String,
    },
    /// AWS could not be reached and the call provably never left: every attempt failed while
    /// connecting. Only the first step of a create reports it (nothing exists then).
    #[error("{action} failed: {detail}")]
    NotReached {
        /// The AWS action.
        action: &'static str,
        /// The transport error, scrubbed.
        detail: String,
    },
    /// AWS failed or could not be reached (after the SDK's retries).
    #[error("{action} failed: {detail}")]
    Unavailable {
        /// The AWS action.
        action: &'static str,
        /// Code and message, or the transport error, scrubbed.
        detail: String,
    },
    /// The user was deleted, yet IAM still shows it (or a key of it) when asked afterwards: the
    /// revocation failed and is retried.
    #[error("IAM user {user:?} is still there after its deletion: {detail}")]
    NotRemoved {
        /// The IAM user name.
        user: String,
        /// Which question found it, and what.
        detail: String,
    },
    /// Our storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A broken invariant on our side (stored data we cannot read back, say).
    #[error("{0}")]
    Internal(String),
}

impl AwsError {
    /// Shorthand for [`AwsError::InvalidField`].
    pub(crate) fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

impl From<AwsError> for BackendError {
    fn from(err: AwsError) -> Self {
        match err {
            AwsError::RoleNotFound { .. }
            | AwsError::InvalidField { .. }
            | AwsError::InvalidRole(_)
            | AwsError::BadRequest(_)
            | AwsError::Refused { .. } => BackendError::InvalidRequest(err.to_string()),
            AwsError::Unavailable { .. } | AwsError::NotRemoved { .. } => {
                BackendError::Target(err.to_string())
            }
            AwsError::NotReached { .. } => BackendError::TargetNotReached(err.to_string()),
            AwsError::Storage(e) => BackendError::Storage(e),
            AwsError::Internal(text) => BackendError::Internal(text),
        }
    }
}

/// One failed AWS call, reduced to what we can safely say about it.
#[derive(Debug, Clone)]
pub(crate) struct CallFailure {
    /// The AWS action that failed (`iam:DeleteUser`).
    pub action: &'static str,
    /// AWS's error code (`NoSuchEntity`), when there is one.
    pub code: Option<String>,
    /// Human-readable detail, already scrubbed of secrets.
    pub detail: String,
    /// True when the request provably never left: it could not be built, or the connection to
    /// AWS could not be made (refused, name not resolved, TLS handshake failed).
    pub not_sent: bool,
}

impl CallFailure {
    /// Describe an SDK error. `secrets` are replaced wherever they occur in the text.
    pub(crate) fn from_sdk<E>(
        action: &'static str,
        err: &SdkError<E, HttpResponse>,
        secrets: &[SecretString],
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // moto (and AWS's own auth layer) may answer with a body the SDK cannot parse, leaving
        // `code()` empty; the raw XML still names the code, so read it from there.
        let body = err
            .raw_response()
            .and_then(|r| r.body().bytes())
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let code = err
            .code()
            .map(str::to_owned)
            .or_else(|| body.as_deref().and_then(|b| xml_element(b, "Code")));
        let message = err
            .message()
            .map(str::to_owned)
            .or_else(|| body.as_deref().and_then(|b| xml_element(b, "Message")));
        let detail = match (&code, message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            // No code: a transport failure (connection refused, timeout); its chain says which.
            // Each link's Display only: the SDK's own `DisplayErrorContext` ends in a Debug dump.
            (None, _) => leasehold_backend::error::error_chain(err),
        };
        Self {
            action,
            code,
            detail: leasehold_backend::error::scrub(detail, secrets),
            not_sent: never_sent(err),
        }
    }

    /// True when AWS asks us to slow down: the call was refused before it did anything.
    pub(crate) fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded")
        )
    }

    /// True when AWS says the entity (user, key, policy attachment) does not exist.
    pub(crate) fn is_no_such_entity(&self) -> bool {
        self.code.as_deref() == Some("NoSuchEntity")
    }

    /// True when a delete was refused because something still hangs off the entity.
    pub(crate) fn is_delete_conflict(&self) -> bool {
        self.code.as_deref() == Some("DeleteConflict")
    }
}

impl From<CallFailure> for AwsError {
    fn from(f: CallFailure) -> Self {
        if f.not_sent {
            return AwsError::NotReached {
                action: f.action,
                detail: f.detail,
            };
        }
        let caller_fault = f
            .code
            .as_deref()
            .is_some_and(|c| CALLER_FAULT_CODES.contains(&c));
        if caller_fault {
            AwsError::Refused {
                action: f.action,
                detail: f.detail,
            }
        } else {
            AwsError::Unavailable {
                action: f.action,
                detail: f.detail,
            }
        }
    }
}

/// True when the request cannot have reached AWS: it failed to be built, or the HTTP client
/// failed while connecting (hyper's `Connect` kind: DNS, TCP or TLS, before any byte of the
/// request is written). A timeout is not proof: it may have struck after the request was sent.
fn never_sent<E: std::error::Error + 'static>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ConstructionFailure(_) => true,
        SdkError::DispatchFailure(_) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
            while let Some(c) = cause {
                if c.downcast_ref::<hyper_util::client::legacy::Error>()
                    .is_some_and(hyper_util::client::legacy::Error::is_connect)
                {
                    return true;
                }
                cause = c.source();
            }
            false
        }
        _ => false,
    }
}

/// The text of the first `<name>...</name>` element in an XML error body.
fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let len = body.get(start..)?.find(&close)?;
    body.get(start..start + len).map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_code_from_raw_xml() {
        let body = "<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>\
                    <Message>The security token included in the request is invalid.</Message>\
                    </Error></Errors></ErrorResponse>";
        assert_eq!(
            xml_element(body, "Code").as_deref(),
            Some("InvalidClientTokenId")
        );
        assert_eq!(xml_element("<Code>", "Code"), None);
    }

    #[test]
    fn caller_faults_are_400() {
        let refused = CallFailure {
            action: "iam:AttachUserPolicy",
            code: Some("NoSuchEntity".into()),
            detail: "NoSuchEntity: no policy".into(),
            not_sent: false,
        };
        assert!(matches!(
            BackendError::from(AwsError::from(refused)),
            BackendError::InvalidRequest(_)
        ));
        let throttled = CallFailure {
            action: "iam:CreateUser",
            code: Some("Throttling".into()),
            detail: "Throttling: slow down".into(),
            not_sent: false,
        };
        assert!(matches!(
            BackendError::from(AwsError::from(throttled)),
            BackendError::Target(_)
        ));
    }
}
