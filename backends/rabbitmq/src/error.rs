//! What went wrong, for the caller: [`RabbitMqError`], and how a failed management API call
//! becomes one.
//!
//! The split answers the caller's question "is this my fault?". A role naming a vhost the broker
//! does not have, a field we refuse, an unknown role: the caller's mistakes, 400 — even when it
//! took a call to the broker to find out. The broker unreachable, answering 5xx, or refusing the
//! engine's own administrator credentials is our side's failure and becomes
//! `BackendError::Target` (502), or `TargetNotReached` when the request provably never left.
//!
//! Every text is scrubbed of the secrets the engine holds (the administrator password, a new
//! user's password) before it is built into an error, so none can reach a log or a response.

use leasehold_backend::{BackendError, StorageError};

pub use leasehold_backend::error::REDACTED;

/// Everything the rabbitmq engine can report. Converted to [`BackendError`] at the trait
/// boundary (`backend.rs`).
#[derive(Debug, thiserror::Error)]
pub enum RabbitMqError {
    /// `creds/:name` for a role that does not exist (400, Vault's text).
    #[error("unknown role: {role}")]
    RoleNotFound {
        /// The role asked for.
        role: String,
    },
    /// One request field is wrong or not supported; the text names the field.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field's wire name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request that cannot be served as asked (text shown as is; a field accessor's error,
    /// which names its field).
    #[error("{0}")]
    BadRequest(String),
    /// `creds/:name` before `config/connection` was written.
    #[error("the connection is not configured: write config/connection first")]
    NotConfigured,
    /// The broker refused a call because of what the role asked for (a vhost it does not
    /// have, a malformed permission pattern).
    #[error("{action} was refused by RabbitMQ: {detail}")]
    Refused {
        /// The management API call (`PUT permissions`).
        action: &'static str,
        /// Status and the broker's reason, scrubbed.
        detail: String,
    },
    /// The broker could not be reached and the request provably never left (connection
    /// refused, name not resolved, TLS handshake failed).
    #[error("{action} failed: cannot reach RabbitMQ: {detail}")]
    NotReached {
        /// The management API call.
        action: &'static str,
        /// The transport error, scrubbed.
        detail: String,
    },
    /// The broker failed, timed out or refused the engine's own credentials.
    #[error("{action} failed: {detail}")]
    Unavailable {
        /// The management API call.
        action: &'static str,
        /// Status and reason, or the transport error, scrubbed.
        detail: String,
    },
    /// Our storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A broken invariant on our side (stored data we cannot read back, say).
    #[error("{0}")]
    Internal(String),
}

impl RabbitMqError {
    /// Shorthand for [`RabbitMqError::InvalidField`].
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<RabbitMqError> for BackendError {
    fn from(err: RabbitMqError) -> Self {
        match err {
            RabbitMqError::RoleNotFound { .. }
            | RabbitMqError::InvalidField { .. }
            | RabbitMqError::BadRequest(_)
            | RabbitMqError::NotConfigured
            | RabbitMqError::Refused { .. } => BackendError::InvalidRequest(err.to_string()),
            RabbitMqError::NotReached { .. } => BackendError::TargetNotReached(err.to_string()),
            RabbitMqError::Unavailable { .. } => BackendError::Target(err.to_string()),
            RabbitMqError::Storage(e) => BackendError::Storage(e),
            RabbitMqError::Internal(text) => BackendError::Internal(text),
        }
    }
}

/// A field accessor's error (it already names the field) as ours.
pub(crate) fn from_field(e: BackendError) -> RabbitMqError {
    match e {
        BackendError::InvalidRequest(text) => RabbitMqError::BadRequest(text),
        other => RabbitMqError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_faults_are_400_and_outages_502() {
        let refused = RabbitMqError::Refused {
            action: "PUT permissions",
            detail: "400 vhost_or_user_not_found".into(),
        };
        assert!(matches!(
            BackendError::from(refused),
            BackendError::InvalidRequest(_)
        ));
        let down = RabbitMqError::NotReached {
            action: "PUT user",
            detail: "connection refused".into(),
        };
        assert!(matches!(
            BackendError::from(down),
            BackendError::TargetNotReached(_)
        ));
    }
}
