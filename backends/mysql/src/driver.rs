//! [`MySqlDriver`]: one pool to one MySQL or MariaDB server, and the user operations on it.
//!
//! MySQL commits every account statement (`CREATE USER`, `GRANT`) on its own, so creation cannot
//! be one transaction as on PostgreSQL. Atomicity is kept by undoing instead: the name is
//! checked to be free first (a user we did not make is never touched), then the statements run
//! in order, and on any failure the rollback statements run (best effort) and the user is
//! destroyed on every host it got, by the same path as a revocation. Creation also fails, and is
//! undone, when the statements ran but made no account of that name.
//!
//! MySQL has no per-user expiry, so there is no backstop in the database: the lease engine's
//! revocation is the only end of the account.
//!
//! Deletion lives in `revoke.rs`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use leasehold_database::{DeleteUser, Driver, DriverError, NewUser, UpdateExpiry, UpdatePassword};
use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Opts, Pool, Row};
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::error::{connecting, from_mysql};
use crate::render::{check_password, check_username, quote_account, render, Values};
use crate::revoke::ProcessPrivilege;
use crate::statements::split_statements;

/// A pooled connection to one configured server.
pub struct MySqlDriver {
    opts: Opts,
    /// Created on first use: building a pool starts its background tasks, which needs the
    /// runtime, and the factory must not need one.
    pool: Mutex<PoolState>,
    connect_timeout: Duration,
    max_username_len: usize,
    /// Whether revocation may trust PROCESSLIST (see `revoke.rs`).
    pub(crate) process_privilege: ProcessPrivilege,
    /// The connection's name, for logs.
    pub(crate) connection: String,
}

enum PoolState {
    Unopened,
    Open(Pool),
    Closed,
}

impl MySqlDriver {
    pub(crate) fn new(
        opts: Opts,
        connect_timeout: Duration,
        max_username_len: usize,
        connection: String,
    ) -> Self {
        Self {
            opts,
            pool: Mutex::new(PoolState::Unopened),
            connect_timeout,
            max_username_len,
            process_privilege: ProcessPrivilege::unchecked(),
            connection,
        }
    }

    fn pool(&self) -> Result<Pool, DriverError> {
        // The guarded state is replaced whole, so a panic elsewhere cannot leave it half-made.
        let mut state = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            PoolState::Open(pool) => Ok(pool.clone()),
            PoolState::Closed => Err(DriverError::Unreachable(
                "the connection pool was closed (the connection was reconfigured or reset); try again"
                    .into(),
            )),
            PoolState::Unopened => {
                let pool = Pool::new(self.opts.clone());
                *state = PoolState::Open(pool.clone());
                Ok(pool)
            }
        }
    }

    /// A pooled connection, or an outage after the connect timeout.
    pub(crate) async fn conn(&self) -> Result<Conn, DriverError> {
        let pool = self.pool()?;
        match tokio::time::timeout(self.connect_timeout, pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(connecting(&e)),
            Err(_) => Err(DriverError::Unreachable(format!(
                "cannot connect to the database: no connection within {:?}",
                self.connect_timeout
            ))),
        }
    }

    /// Run the creation statements; the error says whether anything may have been made.
    async fn create(
        &self,
        username: &str,
        creation: &[Zeroizing<String>],
    ) -> Result<(), (DriverError, bool)> {
        let mut conn = self.conn().await.map_err(|e| (e, false))?;
        // A user of this name that we did not just create belongs to someone else (another
        // lease, or an operator): failing here must not lead to dropping it.
        if !hosts_of(&mut conn, username)
            .await
            .map_err(|e| (e, false))?
            .is_empty()
        {
            return Err((
                DriverError::Rejected(format!(
                    "user {username:?} already exists; refusing to create or change it"
                )),
                false,
            ));
        }
        for (i, statement) in creation.iter().enumerate() {
            conn.query_drop(statement.as_str()).await.map_err(|e| {
                (
                    from_mysql(&format!("creation statement {} failed", i + 1), &e),
                    true,
                )
            })?;
        }
        let made = hosts_of(&mut conn, username).await.map_err(|e| (e, true))?;
        if made.is_empty() {
            return Err((
                DriverError::Rejected(format!(
                    "the creation statements ran but made no user {username:?}; they must create \
                     it (e.g. CREATE USER '{{{{name}}}}'@'%' IDENTIFIED BY '{{{{password}}}}')"
                )),
                true,
            ));
        }
        Ok(())
    }

    /// After a failed creation: rollback statements (best effort, each on its own), then make
    /// sure the user does not exist on any host.
    async fn undo_create(
        &self,
        username: &str,
        rollback: &[Zeroizing<String>],
    ) -> Result<(), DriverError> {
        if !rollback.is_empty() {
            match self.conn().await {
                Ok(mut conn) => {
                    for statement in rollback {
                        if let Err(e) = conn.query_drop(statement.as_str()).await {
                            tracing::warn!(
                                db.connection = %self.connection,
                                db.user = %username,
                                "rollback statement failed (continuing): {}",
                                from_mysql("rollback statement", &e)
                            );
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(db.connection = %self.connection, "cannot run rollback statements: {e}")
                }
            }
        }
        self.destroy(&DeleteUser {
            username,
            revocation_statements: &[],
            reassign_owned_to: None,
        })
        .await
    }
}

/// Split each statement string and fill in the values; nothing touches the database yet, so a
/// bad template fails before any change.
pub(crate) fn prepare(
    statements: &[String],
    values: &Values<'_>,
) -> Result<Vec<Zeroizing<String>>, DriverError> {
    let mut out = Vec::new();
    for text in statements {
        let pieces = split_statements(text)
            .map_err(|e| DriverError::Refused(format!("cannot split statements: {e}")))?;
        for piece in pieces {
            out.push(render(&piece, values)?);
        }
    }
    Ok(out)
}

/// The hosts of every account named `username` (`'name'@'%'`, `'name'@'localhost'`, ...).
pub(crate) async fn hosts_of(conn: &mut Conn, username: &str) -> Result<Vec<String>, DriverError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT Host FROM mysql.user WHERE User = ? ORDER BY Host",
            (username,),
        )
        .await
        .map_err(|e| from_mysql("cannot look up the user", &e))?;
    rows.iter().map(|row| column(row, "Host")).collect()
}

/// The first column of `row`, converted without the panic mysql_async's typed rows would raise
/// on an unexpected value.
pub(crate) fn column<T: FromValue>(row: &Row, what: &str) -> Result<T, DriverError> {
    match row.get_opt::<T, usize>(0) {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(DriverError::Rejected(format!(
            "unexpected value for {what}: {e}"
        ))),
        None => Err(DriverError::Rejected(format!("no {what} in the answer"))),
    }
}

#[async_trait]
impl Driver for MySqlDriver {
    #[tracing::instrument(skip_all, fields(db.connection = %self.connection))]
    async fn verify(&self) -> Result<(), DriverError> {
        let mut conn = self.conn().await?;
        conn.query_drop("SELECT 1")
            .await
            .map_err(|e| from_mysql("the database did not answer", &e))
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn new_user(&self, req: NewUser<'_>) -> Result<(), DriverError> {
        check_username(req.username, self.max_username_len)?;
        check_password(req.password)?;
        let values = Values {
            name: req.username,
            password: Some(req.password),
            expiration: Some(req.expiration),
        };
        let creation = prepare(req.creation_statements, &values)?;
        if creation.is_empty() {
            return Err(DriverError::Refused("empty creation statements".into()));
        }
        let rollback = prepare(req.rollback_statements, &values)?;
        match self.create(req.username, &creation).await {
            Ok(()) => Ok(()),
            Err((error, false)) => Err(error),
            Err((error, true)) => {
                if let Err(cleanup) = self.undo_create(req.username, &rollback).await {
                    // The lease row exists, so the core will revoke (and retry) this user; say
                    // both what failed and that the user may still be there.
                    return Err(DriverError::Rejected(format!(
                        "{error}; removing the half-made user also failed: {cleanup}"
                    )));
                }
                Err(error)
            }
        }
    }

    /// MySQL has no per-user expiry to move. The role's renew statements, if it has any, run;
    /// otherwise nothing happens (and nothing is asked of the server).
    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn update_expiry(&self, req: UpdateExpiry<'_>) -> Result<(), DriverError> {
        check_username(req.username, crate::render::MAX_ANY_SERVER)?;
        let values = Values {
            name: req.username,
            password: None,
            expiration: Some(req.expiration),
        };
        let statements = prepare(req.renew_statements, &values)?;
        if statements.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        for (i, statement) in statements.iter().enumerate() {
            conn.query_drop(statement.as_str())
                .await
                .map_err(|e| from_mysql(&format!("renew statement {} failed", i + 1), &e))?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn delete_user(&self, req: DeleteUser<'_>) -> Result<(), DriverError> {
        self.destroy(&req).await
    }

    /// Custom statements run in order. The default sets the password of every account of the
    /// name, in one `ALTER USER`, so that no host keeps accepting the old one.
    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn update_password(&self, req: UpdatePassword<'_>) -> Result<(), DriverError> {
        check_username(req.username, crate::render::MAX_ANY_SERVER)?;
        check_password(req.password)?;
        let values = Values {
            name: req.username,
            password: Some(req.password),
            expiration: None,
        };
        let mut statements = prepare(req.statements, &values)?;
        let mut conn = self.conn().await?;
        if statements.is_empty() {
            let hosts = hosts_of(&mut conn, req.username).await?;
            if hosts.is_empty() {
                return Err(DriverError::Rejected(format!(
                    "user {:?} does not exist",
                    req.username
                )));
            }
            let password = req.password.expose_secret();
            let accounts: Vec<String> = hosts
                .iter()
                .map(|host| quote_account(req.username, host))
                .collect();
            // Sized up front so the buffer holding the password never reallocates (which
            // would leave an unzeroized copy behind).
            let size = 16
                + accounts
                    .iter()
                    .map(|a| a.len() + password.len() + 20)
                    .sum::<usize>();
            let mut statement = Zeroizing::new(String::with_capacity(size));
            statement.push_str("ALTER USER ");
            for (i, account) in accounts.iter().enumerate() {
                if i > 0 {
                    statement.push_str(", ");
                }
                statement.push_str(account);
                statement.push_str(" IDENTIFIED BY '");
                statement.push_str(password);
                statement.push('\'');
            }
            statements.push(statement);
        }
        for (i, statement) in statements.iter().enumerate() {
            conn.query_drop(statement.as_str())
                .await
                .map_err(|e| from_mysql(&format!("password statement {} failed", i + 1), &e))?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection))]
    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
        let mut conn = self.conn().await?;
        // LIKE treats % and _ as wildcards; escape them (with `!`, which needs no backslash
        // and so means the same under every sql_mode) and check the prefix exactly after.
        let pattern = format!(
            "{}%",
            prefix
                .replace('!', "!!")
                .replace('%', "!%")
                .replace('_', "!_")
        );
        let rows: Vec<Row> = conn
            .exec(
                "SELECT DISTINCT User FROM mysql.user WHERE User LIKE ? ESCAPE '!' ORDER BY User",
                (pattern,),
            )
            .await
            .map_err(|e| from_mysql("cannot list users", &e))?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            let user: String = column(row, "User")?;
            if user.starts_with(prefix) {
                users.push(user);
            }
        }
        Ok(users)
    }

    fn max_username_len(&self) -> usize {
        self.max_username_len
    }

    fn unusable_password_chars(&self) -> &'static [char] {
        crate::render::UNUSABLE_PASSWORD_CHARS
    }

    async fn close(&self) {
        let pool = {
            let mut state = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut *state, PoolState::Closed) {
                PoolState::Open(pool) => Some(pool),
                PoolState::Unopened | PoolState::Closed => None,
            }
        };
        if let Some(pool) = pool {
            if let Err(e) = pool.disconnect().await {
                tracing::debug!(db.connection = %self.connection, "closing the pool: {e}");
            }
        }
    }
}
