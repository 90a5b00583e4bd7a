//! [`MySqlDriver`]: one pool to one MySQL or MariaDB server, and the user operations on it.
//!
//! MySQL commits every account statement (`CREATE USER`, `GRANT`) on its own, so creation cannot
//! be one transaction as on PostgreSQL. Atomicity is kept by undoing instead: the name is
//! checked to be free first (a user we did not make is never touched), then the statements run
//! in order, and on any failure the engine (`leasehold_database::accounts`) runs the rollback
//! statements (best effort) and destroys the user on every host it got, by the same path as a
//! revocation. Creation also fails, and is
//! undone, when the statements ran but made no account of that name.
//!
//! MySQL has no per-user expiry, so there is no backstop in the database: the lease engine's
//! revocation is the only end of the account.
//!
//! Deletion lives in `revoke.rs`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_database::{Dialect, DriverError, Failed, Revoked, Target};
use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Opts, Pool, Row};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::dialect::{quote_account, MySqlDialect};
use crate::error::{connecting, from_mysql};
use crate::revoke::ProcessPrivilege;

/// A pooled connection to one configured server.
pub struct MySqlDriver {
    opts: Opts,
    /// Created on first use: building a pool starts its background tasks, which needs the
    /// runtime, and the factory must not need one.
    pool: Mutex<PoolState>,
    connect_timeout: Duration,
    dialect: MySqlDialect,
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
            dialect: MySqlDialect { max_username_len },
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
impl Target for MySqlDriver {
    fn dialect(&self) -> &dyn Dialect {
        &self.dialect
    }

    fn connection(&self) -> &str {
        &self.connection
    }

    async fn verify(&self) -> Result<(), DriverError> {
        let mut conn = self.conn().await?;
        conn.query_drop("SELECT 1")
            .await
            .map_err(|e| from_mysql("the database did not answer", &e))
    }

    async fn create(
        &self,
        username: &str,
        _password: &SecretString,
        creation: &[Zeroizing<String>],
        _expiration: DateTime<Utc>,
    ) -> Result<(), Failed> {
        let mut conn = self.conn().await?;
        // A user of this name that we did not just create belongs to someone else (another
        // lease, or an operator): failing here must not lead to dropping it.
        if !hosts_of(&mut conn, username).await?.is_empty() {
            return Err(Failed::before_changes(DriverError::Rejected(format!(
                "user {username:?} already exists; refusing to create or change it"
            ))));
        }
        for (i, statement) in creation.iter().enumerate() {
            conn.query_drop(statement.as_str()).await.map_err(|e| {
                Failed::after_changes(from_mysql(
                    &format!("creation statement {} failed", i + 1),
                    &e,
                ))
            })?;
        }
        let made = hosts_of(&mut conn, username)
            .await
            .map_err(Failed::after_changes)?;
        if made.is_empty() {
            return Err(Failed::after_changes(DriverError::Rejected(format!(
                "the creation statements ran but made no user {username:?}; they must create \
                 it (e.g. CREATE USER '{{{{name}}}}'@'%' IDENTIFIED BY '{{{{password}}}}')"
            ))));
        }
        Ok(())
    }

    async fn execute_each(
        &self,
        statements: &[Zeroizing<String>],
    ) -> Result<Vec<Result<(), DriverError>>, DriverError> {
        let mut conn = self.conn().await?;
        let mut outcomes = Vec::with_capacity(statements.len());
        for statement in statements {
            outcomes.push(
                conn.query_drop(statement.as_str())
                    .await
                    .map_err(|e| from_mysql("rollback statement", &e)),
            );
        }
        Ok(outcomes)
    }

    /// MySQL has no per-user expiry to move. The role's renew statements, if it has any, run;
    /// otherwise nothing happens (and nothing is asked of the server).
    async fn renew(
        &self,
        _username: &str,
        renew: &[Zeroizing<String>],
        _expiration: DateTime<Utc>,
    ) -> Result<(), DriverError> {
        if renew.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        for (i, statement) in renew.iter().enumerate() {
            conn.query_drop(statement.as_str())
                .await
                .map_err(|e| from_mysql(&format!("renew statement {} failed", i + 1), &e))?;
        }
        Ok(())
    }

    /// Custom statements run in order. The default sets the password of every account of the
    /// name, in one `ALTER USER`, so that no host keeps accepting the old one.
    async fn set_password(
        &self,
        username: &str,
        password: &SecretString,
        statements: &[Zeroizing<String>],
    ) -> Result<(), DriverError> {
        let mut statements = statements.to_vec();
        let mut conn = self.conn().await?;
        if statements.is_empty() {
            let hosts = hosts_of(&mut conn, username).await?;
            if hosts.is_empty() {
                return Err(DriverError::Rejected(format!(
                    "user {username:?} does not exist"
                )));
            }
            let password = password.expose_secret();
            let accounts: Vec<String> = hosts
                .iter()
                .map(|host| quote_account(username, host))
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

    async fn destroy(
        &self,
        username: &str,
        custom: &[Zeroizing<String>],
        _heir: Option<&str>,
    ) -> Result<Revoked, Failed> {
        Ok(self.destroy_user(username, custom).await?)
    }

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
