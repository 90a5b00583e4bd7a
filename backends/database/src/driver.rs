//! The seam between the engine and a database: [`Driver`] (three calls on users, plus verify and
//! close) and [`DriverFactory`] (which plugin names it serves, and how to open a connection).
//!
//! The engine never speaks SQL or any wire protocol; a driver crate (`leasehold-postgres`) does.
//! Calls take request structs so that a field can be added without touching every driver.
//! Every driver the engine opens is wrapped by [`crate::scrub`], so whatever text a driver puts
//! in a [`DriverError`] has the secrets it was handed replaced by `[REDACTED]` before anyone
//! else sees it. Drivers should still avoid echoing values, but they need not be perfect.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::connection_url;
use crate::options::Options;
use crate::Revoked;

/// What a driver reports. The variants say whose problem it is, which decides the status code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DriverError {
    /// The connection settings cannot work (malformed URL, unknown option). The operator must
    /// change the connection config. Caller's fault (400).
    #[error("{0}")]
    InvalidConfig(String),
    /// The driver refused input it will not run safely (a user name outside the safe alphabet,
    /// an unterminated quote in a statement template). Caller's fault (400).
    #[error("{0}")]
    Refused(String),
    /// The database could not be reached or refused our login: an outage. Target's fault.
    #[error("{0}")]
    Unreachable(String),
    /// No connection to the database could be opened (refused, name not resolved, TLS failed,
    /// login refused, timed out while connecting or waiting for a pooled one), so nothing of
    /// the call was sent. An outage like [`DriverError::Unreachable`], with one more promise:
    /// a `new_user` that fails so created nothing, and its lease can end at once. Report it
    /// only when no statement of the call went out; when unsure, `Unreachable`.
    #[error("{0}")]
    NotConnected(String),
    /// The database rejected a statement. Target's (or the template's) fault.
    #[error("{0}")]
    Rejected(String),
    /// Deletion ran but the user still exists afterwards. Never reported as success.
    #[error("{0}")]
    NotRemoved(String),
}

impl DriverError {
    /// The same error with its text transformed (used to scrub secrets out of it).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::InvalidConfig(m) => Self::InvalidConfig(f(m)),
            Self::Refused(m) => Self::Refused(f(m)),
            Self::Unreachable(m) => Self::Unreachable(f(m)),
            Self::NotConnected(m) => Self::NotConnected(f(m)),
            Self::Rejected(m) => Self::Rejected(f(m)),
            Self::NotRemoved(m) => Self::NotRemoved(f(m)),
        }
    }
}

/// Create a user that can log in until `expiration`.
pub struct NewUser<'a> {
    /// The name chosen when the lease was planned; only `[a-z0-9_-]`.
    pub username: &'a str,
    /// The password generated for it; never part of an error or log.
    pub password: &'a SecretString,
    /// The lease's expiry; the driver makes it the account's own expiry too (`VALID UNTIL`).
    pub expiration: DateTime<Utc>,
    /// The role's creation statements, unsplit (splitting is dialect-specific). Non-empty.
    pub creation_statements: &'a [String],
    /// Run (best effort) when creation fails, before the driver makes sure the user is gone.
    pub rollback_statements: &'a [String],
}

/// Move a user's own expiry.
pub struct UpdateExpiry<'a> {
    /// The user to change.
    pub username: &'a str,
    /// The new expiry (the lease's new expire time).
    pub expiration: DateTime<Utc>,
    /// The role's renew statements; empty means the driver's default.
    pub renew_statements: &'a [String],
}

/// Set a user's password: static-role rotation and rotate-root.
pub struct UpdatePassword<'a> {
    /// The user to change (a static role's user, or the connection's own user).
    pub username: &'a str,
    /// The new password.
    pub password: &'a SecretString,
    /// Rotation statements with `{{name}}`/`{{username}}` and `{{password}}`; empty means the
    /// driver's default (e.g. `ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'`).
    pub statements: &'a [String],
}

/// Destroy a user.
pub struct DeleteUser<'a> {
    /// The user to destroy.
    pub username: &'a str,
    /// The role's revocation statements; empty means the driver's default.
    pub revocation_statements: &'a [String],
    /// Who inherits the objects the user owns; `None` means the connection's own user.
    pub reassign_owned_to: Option<&'a str>,
}

/// One open connection (pool) to one configured database.
///
/// Contracts every implementation must keep:
/// - `new_user` is atomic: the user exists with its expiry afterwards, or (on error) it does not
///   exist at all: no half-made user that the lease table cannot destroy.
/// - `delete_user` is idempotent: a user that does not exist is success. It returns success only
///   once the user is really gone, with no session of it still running, and says how many
///   sessions it ended ([`Revoked::sessions_terminated`]: `None` when the user did not exist,
///   or the driver cannot count them).
#[async_trait]
pub trait Driver: Send + Sync {
    /// Connect (or take a pooled connection) and check that the database answers.
    async fn verify(&self) -> Result<(), DriverError>;

    /// Create a user; see the trait's contract.
    async fn new_user(&self, req: NewUser<'_>) -> Result<(), DriverError>;

    /// Whether [`Driver::prepare_user`] can make users in two steps. Asked first, so that an
    /// issue on a driver that cannot reads and generates nothing for a prepare it will not use.
    fn prepares_users(&self) -> bool {
        false
    }

    /// `new_user` in two steps: everything short of the commit, then [`PendingUser::commit`].
    /// Until it commits the user does not exist, and dropping the pending user leaves nothing.
    /// `Ok(None)`: this driver creates in one step only (the engine calls `new_user`).
    async fn prepare_user(
        &self,
        _req: NewUser<'_>,
    ) -> Result<Option<Box<dyn PendingUser>>, DriverError> {
        Ok(None)
    }

    /// Set a user's own expiry to `req.expiration`.
    async fn update_expiry(&self, req: UpdateExpiry<'_>) -> Result<(), DriverError>;

    /// Destroy a user; see the trait's contract.
    async fn delete_user(&self, req: DeleteUser<'_>) -> Result<Revoked, DriverError>;

    /// Set a user's password (static-role rotation, rotate-root: the user may be the
    /// connection's own). Idempotent: setting the password it already has is success, because
    /// the engine sets a pending password again after a crash. An error means the old password
    /// is still the one set, except for [`DriverError::Unreachable`], which the engine reads as
    /// "outcome unknown" (the answer to a COMMIT may be what was lost) and keeps the new
    /// password pending. So report a refusal by the database as `Rejected`, never as
    /// `Unreachable`.
    async fn update_password(&self, req: UpdatePassword<'_>) -> Result<(), DriverError>;

    /// Users whose names start with `prefix` (reconciliation looks for ours).
    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError>;

    /// The longest user name the database accepts (generated names are cut to it).
    fn max_username_len(&self) -> usize;

    /// Characters a generated password must not contain because statements cannot hold them
    /// (PostgreSQL: a quote, a backslash, `$` which could close a `$$` body). A connection
    /// whose `password_charset` holds one is refused when it is written, instead of every issue
    /// failing later.
    fn unusable_password_chars(&self) -> &'static [char] {
        &[]
    }

    /// True when the driver creates users for a role without creation statements, with a
    /// default of its own (Vault's Redis plugin: the rules `["~*", "+@read"]`). Otherwise such a
    /// role cannot issue.
    fn creates_without_statements(&self) -> bool {
        false
    }

    /// Close the pool. Later calls fail; the engine drops the driver after closing it.
    async fn close(&self);
}

/// A user made ready by [`Driver::prepare_user`] (a transaction left open). Dropped without
/// `commit`, it is rolled back.
#[async_trait]
pub trait PendingUser: Send {
    /// Make the user real. On error the user may or may not exist (the answer to a COMMIT can
    /// be lost): the engine destroys it by the revocation path either way.
    async fn commit(self: Box<Self>) -> Result<(), DriverError>;
}

/// Opens [`Driver`]s for the plugin names it serves. The server registers one factory per
/// database kind with [`crate::DatabaseBackend::new`].
pub trait DriverFactory: Send + Sync {
    /// The `plugin_name` values this factory serves (`postgresql-database-plugin`).
    fn plugin_names(&self) -> &'static [&'static str];

    /// Prepare a connection pool for `config`. This must not block on the network: connecting
    /// happens on first use or in [`Driver::verify`]. Errors here are configuration errors
    /// (400s); an option that is invalid, or given but of no use to this driver, is one, named.
    fn open(&self, config: &ConnectionConfig) -> Result<Arc<dyn Driver>, DriverError>;

    /// The connection-config fields that are this driver's own settings, handed to it in
    /// [`ConnectionConfig::options`]: those it uses, and those of other plugins it refuses
    /// rather than ignores. Fields neither the engine nor the driver knows are answered with
    /// an "unrecognized parameters" warning.
    fn options(&self) -> &'static [&'static str] {
        &[]
    }

    /// What a config read shows of the options, under `connection_details`. Never a secret.
    fn show_options(&self, _options: &Options) -> Map<String, Value> {
        Map::new()
    }
}

/// Everything a driver needs to connect, from the stored connection config.
#[derive(Clone, Default)]
pub struct ConnectionConfig {
    /// The connection's name (`database/config/<name>`), for logs.
    pub name: String,
    /// The plugin the factory was chosen by.
    pub plugin_name: String,
    /// The connection URL as written, possibly with `{{username}}`/`{{password}}` placeholders;
    /// use [`ConnectionConfig::render_url`] to fill them.
    pub connection_url: String,
    /// The root user name, substituted for `{{username}}`.
    pub username: Option<String>,
    /// The root password, substituted for `{{password}}`.
    pub password: Option<SecretString>,
    /// Substitute the placeholders without URL escaping (Vault's `disable_escaping`).
    pub disable_escaping: bool,
    /// Upper bound of the pool's size (at least 1).
    pub max_open_connections: u32,
    /// Idle connections to keep (`<= max_open_connections`; accepted for compatibility, a
    /// driver may keep up to `max_open_connections`).
    pub max_idle_connections: u32,
    /// Retire pooled connections older than this; zero means no limit.
    pub max_connection_lifetime: Duration,
    /// The driver's own settings (every field of the connection config the factory lists in
    /// [`DriverFactory::options`]), for it to parse and validate.
    pub options: Options,
}

impl ConnectionConfig {
    /// The connection URL with `{{username}}` and `{{password}}` filled in. For `scheme://` URLs
    /// the values are percent-escaped unless `disable_escaping`; in `key=value` strings they are
    /// inserted as they are and must not contain blanks, quotes or backslashes.
    pub fn render_url(&self) -> Result<SecretString, DriverError> {
        connection_url::render(
            &self.connection_url,
            self.username.as_deref(),
            self.password.as_ref(),
            self.disable_escaping,
        )
    }
}

impl std::fmt::Debug for ConnectionConfig {
    // The URL may carry a literal password: show it redacted, and the password not at all.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("name", &self.name)
            .field("plugin_name", &self.plugin_name)
            .field(
                "connection_url",
                &connection_url::redact(&self.connection_url),
            )
            .field("username", &self.username)
            .field("options", &self.options)
            .field("max_open_connections", &self.max_open_connections)
            .finish_non_exhaustive()
    }
}
