//! [`Target`]: what a driver supplies that is truly its own — connecting, running statements,
//! listing and destroying accounts (ending their sessions), and saying which failures are
//! transient. The engine turns a target into a [`crate::Driver`] with [`crate::accounts`]:
//! it checks the values, prepares the statements in the target's [`Dialect`], runs attempts
//! again while they fail transiently, and undoes a failed creation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::dialect::Dialect;
use crate::driver::{DriverError, PendingUser};
use crate::Revoked;

/// A failed attempt: what went wrong, whether anything may have been made that must be undone,
/// and whether a concurrent transaction caused it (then the whole attempt may run again).
/// A destruction attempt that ended sessions before it failed says how many in
/// `sessions_terminated` (they are gone all the same), so that a revocation retried after a
/// collision still counts them ([`crate::accounts::destroy`] adds them up).
#[derive(Debug)]
pub struct Failed {
    pub error: DriverError,
    pub may_exist: bool,
    pub transient: bool,
    pub sessions_terminated: u64,
}

impl Failed {
    /// Nothing was changed (no connection, the name is taken, the lookup failed).
    pub fn before_changes(error: DriverError) -> Self {
        Self {
            error,
            may_exist: false,
            transient: false,
            sessions_terminated: 0,
        }
    }

    /// Something may have been made.
    pub fn after_changes(error: DriverError) -> Self {
        Self {
            error,
            may_exist: true,
            transient: false,
            sessions_terminated: 0,
        }
    }

    /// The same failure, transient when `transient`.
    pub fn transient_if(self, transient: bool) -> Self {
        Self { transient, ..self }
    }

    /// The same failure, after the attempt had ended `n` sessions of the user.
    pub fn after_ending(self, n: u64) -> Self {
        Self {
            sessions_terminated: n,
            ..self
        }
    }
}

impl From<DriverError> for Failed {
    fn from(error: DriverError) -> Self {
        Self::before_changes(error)
    }
}

/// One open connection (pool) to one database, as the engine drives it. Statements handed in
/// are prepared already (split, placeholders filled); user names and passwords are checked.
#[async_trait]
pub trait Target: Send + Sync + 'static {
    /// How this database writes statements.
    fn dialect(&self) -> &dyn Dialect;

    /// The connection's name, for logs.
    fn connection(&self) -> &str;

    /// Connect (or take a pooled connection) and check that the database answers.
    async fn verify(&self) -> Result<(), DriverError>;

    /// One attempt at creating `username` with `creation` (never empty unless the dialect
    /// creates without statements; `password` is rendered into them already, and given for a
    /// database that sets it apart), valid until `expiration` where the database can say so. On
    /// failure, [`Failed::may_exist`] says whether the engine must undo it.
    async fn create(
        &self,
        username: &str,
        password: &SecretString,
        creation: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<(), Failed>;

    /// Whether [`Target::begin_create`] answers a pending user (see
    /// [`crate::driver::Driver::prepares_users`]).
    fn prepares_users(&self) -> bool {
        false
    }

    /// [`Target::create`] short of its commit (see [`crate::driver::Driver::prepare_user`]):
    /// the statements ran in a transaction left open. A failure changed nothing (the
    /// transaction is rolled back). `Ok(None)`: this target creates in one step only.
    async fn begin_create(
        &self,
        _username: &str,
        _password: &SecretString,
        _creation: &[Zeroizing<String>],
        _expiration: DateTime<Utc>,
    ) -> Result<Option<Box<dyn PendingUser>>, Failed> {
        Ok(None)
    }

    /// Run each statement on its own, after a failed creation: the outer error when none could
    /// run (no connection), else each statement's outcome.
    async fn execute_each(
        &self,
        statements: &[Zeroizing<String>],
    ) -> Result<Vec<Result<(), DriverError>>, DriverError>;

    /// Move `username`'s expiry: run `renew` (possibly empty) and whatever the database's own
    /// expiry needs.
    async fn renew(
        &self,
        username: &str,
        renew: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<(), DriverError>;

    /// Set `username`'s password, by `statements` or, when empty, the database's default. An
    /// error but [`DriverError::Unreachable`] means the old password is still set.
    async fn set_password(
        &self,
        username: &str,
        password: &SecretString,
        statements: &[Zeroizing<String>],
    ) -> Result<(), DriverError>;

    /// One attempt at destroying `username` and ending its sessions, with `custom` statements or
    /// the database's default (`heir` inherits what it owns). A user that does not exist is
    /// success. Reports how many sessions the attempt ended: `None` when the user did not exist
    /// (or the database cannot tell), `Some(0)` when it existed with none open.
    async fn destroy(
        &self,
        username: &str,
        custom: &[Zeroizing<String>],
        heir: Option<&str>,
    ) -> Result<Revoked, Failed>;

    /// A revocation: [`Target::destroy`] attempts, run again while they fail transiently. A
    /// driver may gather revocations that arrive together (PostgreSQL batches them).
    async fn revoke(
        &self,
        username: &str,
        custom: &[Zeroizing<String>],
        heir: Option<&str>,
    ) -> Result<Revoked, DriverError> {
        crate::accounts::destroy(self, username, custom, heir).await
    }

    /// Users whose names start with `prefix`.
    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError>;

    /// Whether the database lists a user named exactly `username`: the destruction receipt's
    /// question. By default through [`Target::list_users`]; a database whose prefix listing
    /// scans the whole catalog answers it by an exact lookup instead.
    async fn user_exists(&self, username: &str) -> Result<bool, DriverError> {
        Ok(self
            .list_users(username)
            .await?
            .iter()
            .any(|u| u == username))
    }

    /// Close the pool; later calls fail.
    async fn close(&self);
}
