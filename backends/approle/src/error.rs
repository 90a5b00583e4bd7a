//! What can go wrong for a caller of the AppRole method, one variant per mistake, so handlers and
//! tests speak of `InvalidCredentials` rather than of message text. Every variant becomes a
//! [`BackendError`]; the core's `http::error` picks the status from that, never from the text.
//!
//! This enum is private to the crate (what leaves it is always a [`BackendError`]); it exists
//! so the texts Vault clients match on (`missing role_id`, `invalid role or secret ID`) are
//! written once.

use leasehold_backend::{BackendError, StorageError};

/// An AppRole request that cannot be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppRoleError {
    /// Login without `role_id`.
    #[error("missing role_id")]
    MissingRoleId,
    /// Login to a role that binds secret ids, without `secret_id`.
    #[error("missing secret_id")]
    MissingSecretId,
    /// Unknown role id, unknown, expired or used-up secret id: one answer for all, so a caller
    /// cannot learn which half was right.
    #[error("invalid role or secret ID")]
    InvalidCredentials,
    /// A use-limited secret id kept changing under this login (other logins kept taking its
    /// uses) more often than a login retries. No use was taken; trying again is safe.
    #[error("secret ID is being used by too many logins at once; try again")]
    SecretIdContended,
    /// The client's address is outside the CIDR blocks bound to the role or secret id.
    #[error("source address {addr} is not allowed by the CIDR blocks bound to the {bound_to}")]
    SourceAddressRefused {
        /// The client's address, or `unknown`.
        addr: String,
        /// `role` or `secret ID`.
        bound_to: &'static str,
    },
    /// An administrative path named a role that does not exist.
    #[error("role {role:?} not found")]
    RoleNotFound {
        /// The role name from the path.
        role: String,
    },
    /// A field's value is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's name as the caller sent it.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The write would leave the role with nothing to check at login.
    #[error(
        "a role needs at least one constraint: bind_secret_id, secret_id_bound_cidrs or token_bound_cidrs"
    )]
    NoConstraint,
    /// A custom `role_id` already belongs to another role.
    #[error("role_id is already in use by another role")]
    RoleIdTaken,
    /// A custom `secret_id` is already registered on the role.
    #[error("this secret_id is already registered on role {role:?}")]
    SecretIdExists {
        /// The role name.
        role: String,
    },
    /// A secret id was requested for a role with `bind_secret_id=false`.
    #[error("role {role:?} does not use secret IDs (bind_secret_id is false)")]
    SecretIdsNotBound {
        /// The role name.
        role: String,
    },
    /// No secret id on the role has this accessor.
    #[error("no secret ID with this accessor on role {role:?}")]
    AccessorNotFound {
        /// The role name.
        role: String,
    },
    /// Our storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A broken invariant on our side.
    #[error("{0}")]
    Internal(String),
}

impl AppRoleError {
    /// Shorthand for [`AppRoleError::InvalidField`].
    pub(crate) fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

impl From<AppRoleError> for BackendError {
    fn from(e: AppRoleError) -> Self {
        match e {
            AppRoleError::Storage(e) => BackendError::Storage(e),
            AppRoleError::Internal(msg) => BackendError::Internal(msg),
            caller => BackendError::InvalidRequest(caller.to_string()),
        }
    }
}
