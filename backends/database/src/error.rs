//! [`DatabaseError`]: what went wrong in the engine, named for the caller's problem.
//!
//! The crate has a second error type, [`crate::DriverError`], because that one is a contract with
//! driver crates (what a driver may report); this one is what the engine reports to the core.
//! `From<DatabaseError> for BackendError` is the one place that sorts each case into caller's
//! fault (`InvalidRequest`, 400), target's fault (`Target`) or ours (`Internal`, `Storage`).
//! The match is exhaustive, so a new variant does not compile until it is sorted.

use leasehold_backend::{BackendError, StorageError};

use crate::driver::DriverError;

/// An engine failure. No variant carries a secret: driver errors arrive scrubbed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// A field has a bad value; the text names the field.
    #[error("{0}")]
    InvalidField(String),
    /// A role was written without `db_name`.
    #[error("database name is required")]
    DatabaseNameRequired,
    /// A connection was written without `plugin_name`.
    #[error("plugin_name is required")]
    PluginNameRequired,
    /// No registered driver serves this plugin name.
    #[error("unknown plugin_name {plugin:?}: this server supports {supported}")]
    UnknownPlugin {
        /// The name given.
        plugin: String,
        /// The names that would work, comma-separated.
        supported: String,
    },
    /// The driver refused the connection settings.
    #[error("error creating database object: {0}")]
    InvalidConnection(DriverError),
    /// `verify_connection` was on and the database could not be reached with these settings.
    #[error("error creating database object: error verifying connection: {0}")]
    VerifyFailed(DriverError),
    /// Creds were asked for a role that does not exist.
    #[error("unknown role: {role}")]
    UnknownRole {
        /// The role asked for.
        role: String,
    },
    /// A role names a connection that is not configured.
    #[error("failed to find entry for connection with name: {name:?}")]
    ConnectionNotFound {
        /// The connection name.
        name: String,
    },
    /// The connection's `allowed_roles` does not admit this role.
    #[error("{role:?} is not an allowed role")]
    RoleNotAllowed {
        /// The role asked for.
        role: String,
    },
    /// The role has no creation statements, so there is nothing to run.
    #[error("empty creation statements")]
    EmptyCreationStatements,
    /// A lease of a deleted role cannot be renewed (it can still be revoked).
    #[error("could not find role with name: {role:?}; leases of a deleted role cannot be renewed")]
    RenewWithoutRole {
        /// The lease's role.
        role: String,
    },
    /// The connection a lease's user lives on was deleted, so the user cannot be destroyed.
    /// Never success: the user may still exist.
    #[error(
        "cannot revoke database user {username:?}: connection {db_name:?} is no longer \
         configured; write database/config/{db_name} again so the revocation can proceed"
    )]
    RevokeWithoutConnection {
        /// The user to destroy.
        username: String,
        /// The missing connection.
        db_name: String,
    },
    /// A dynamic role and a static role may not share a name (Vault's rule and text).
    #[error("Role and Static Role names must be unique")]
    RoleNamesNotUnique,
    /// A static-role path named a role that does not exist.
    #[error("no static role found for role name: {role:?}")]
    UnknownStaticRole {
        /// The role asked for.
        role: String,
    },
    /// A static role created with `skip_import_rotation` has not been rotated yet, so leasehold
    /// does not know its password.
    #[error(
        "static role {role:?} has no password yet: it was imported with skip_import_rotation; \
         rotate it with database/rotate-role/{role}, or wait for its first rotation at {next}"
    )]
    NoPasswordYet {
        /// The role.
        role: String,
        /// Its first scheduled rotation (RFC 3339).
        next: String,
    },
    /// rotate-root cannot work with this connection's settings (Vault's texts).
    #[error("unable to rotate root credentials: {0}")]
    RootRotationUnavailable(String),
    /// A rotation set a new password whose fate is unknown (the database went away during the
    /// change, or our storage failed right after it). The new password is kept sealed as pending
    /// and applied again before anything uses the password.
    #[error(
        "{what}: {cause}; the new password may or may not be set: it is kept pending and \
         applied again before the password is used"
    )]
    RotationPending {
        /// What was being rotated (`static role "app"`, `root credentials of connection "pg"`).
        what: String,
        /// Why the outcome is unknown.
        cause: Box<DatabaseError>,
    },
    /// The database failed or refused.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// A lease's internal data is not what this engine stored: a bug or a foreign lease.
    #[error("lease internal data is not a database credential: {0}")]
    CorruptInternal(String),
    /// Our storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<DatabaseError> for BackendError {
    fn from(err: DatabaseError) -> Self {
        let text = err.to_string();
        match err {
            DatabaseError::InvalidField(_)
            | DatabaseError::DatabaseNameRequired
            | DatabaseError::PluginNameRequired
            | DatabaseError::UnknownPlugin { .. }
            | DatabaseError::InvalidConnection(_)
            | DatabaseError::VerifyFailed(_)
            | DatabaseError::UnknownRole { .. }
            | DatabaseError::ConnectionNotFound { .. }
            // Vault answers 500 here (a plain Go error); it is the caller's or the operator's
            // doing, so we answer 400.
            | DatabaseError::RoleNotAllowed { .. }
            | DatabaseError::EmptyCreationStatements
            | DatabaseError::RenewWithoutRole { .. }
            | DatabaseError::RoleNamesNotUnique
            | DatabaseError::UnknownStaticRole { .. }
            | DatabaseError::NoPasswordYet { .. }
            // Vault answers 500; the connection's settings are the operator's to fix.
            | DatabaseError::RootRotationUnavailable(_) => BackendError::InvalidRequest(text),
            DatabaseError::RotationPending { cause, .. } => match *cause {
                DatabaseError::Storage(_) => BackendError::Internal(text),
                _ => BackendError::Target(text),
            },
            DatabaseError::RevokeWithoutConnection { .. } => BackendError::Target(text),
            DatabaseError::Driver(driver) => match driver {
                DriverError::InvalidConfig(_) | DriverError::Refused(_) => {
                    BackendError::InvalidRequest(text)
                }
                DriverError::Unreachable(_)
                | DriverError::Rejected(_)
                | DriverError::NotRemoved(_) => BackendError::Target(text),
                // Nothing was sent: for a create, the core may end the lease at once.
                DriverError::NotConnected(_) => BackendError::TargetNotReached(text),
            },
            DatabaseError::CorruptInternal(_) => BackendError::Internal(text),
            DatabaseError::Storage(e) => BackendError::Storage(e),
        }
    }
}
