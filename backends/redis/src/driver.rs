//! [`RedisDriver`]: one connection to one Redis server, and ACL users on it.
//!
//! A user is created by one command, `ACL SETUSER name on >password <rules...>`, which Redis 7
//! applies whole or not at all. Redis 6 could leave a user half-configured by a failing rule, so
//! a failed creation is still followed by destroying the user (the name was checked to be free
//! first, so whatever exists under it is ours). Rollback statements have nothing to undo and are
//! not run.
//!
//! Redis users have no expiry, so there is no backstop in the database: the lease engine's
//! revocation is the only end of the account. ACL changes live in the server's memory; they are
//! not written to an ACL file (`ACL SAVE`) or the config (`CONFIG REWRITE`), as in Vault.
//!
//! One multiplexed connection serves every call (ACL commands are few and fast); it is opened on
//! first use and replaced after it breaks. Deletion lives in `revoke.rs`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_database::{Dialect, DriverError, Failed, Revoked, Target};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, Value};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::dialect::RedisDialect;
use crate::error::{connecting, from_redis, is_broken};
use crate::rules::parse_rules;

/// An unreachable target must fail, not hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one configured Redis server.
pub struct RedisDriver {
    client: Client,
    conn: Mutex<ConnState>,
    /// The connection's name, for logs.
    pub(crate) connection: String,
}

enum ConnState {
    Unopened,
    Open(MultiplexedConnection),
    Closed,
}

impl RedisDriver {
    pub(crate) fn new(client: Client, connection: String) -> Self {
        Self {
            client,
            conn: Mutex::new(ConnState::Unopened),
            connection,
        }
    }

    async fn conn(&self) -> Result<MultiplexedConnection, DriverError> {
        let mut state = self.conn.lock().await;
        match &*state {
            ConnState::Open(conn) => Ok(conn.clone()),
            ConnState::Closed => Err(DriverError::Unreachable(
                "the connection was closed (it was reconfigured or reset); try again".into(),
            )),
            ConnState::Unopened => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                let conn = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| connecting(&e))?;
                *state = ConnState::Open(conn.clone());
                Ok(conn)
            }
        }
    }

    /// Run `cmd`; a broken connection is dropped so that the next call opens a new one.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        context: &str,
    ) -> Result<T, DriverError> {
        self.run_raw(cmd).await.map_err(|e| match e {
            Failure::Connect(e) => e,
            Failure::Command(e) => from_redis(context, &e),
        })
    }

    /// Like [`Self::run`], but the command's own error is handed back for the caller to judge.
    pub(crate) async fn run_raw<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Failure> {
        let mut conn = self.conn().await.map_err(Failure::Connect)?;
        match cmd.query_async(&mut conn).await {
            Ok(value) => Ok(value),
            Err(e) => {
                if is_broken(&e) {
                    let mut state = self.conn.lock().await;
                    if matches!(*state, ConnState::Open(_)) {
                        *state = ConnState::Unopened;
                    }
                }
                Err(Failure::Command(e))
            }
        }
    }

    /// Whether a user of this name exists.
    pub(crate) async fn user_exists(&self, username: &str) -> Result<bool, DriverError> {
        let value: Value = self
            .run(
                redis::cmd("ACL").arg("GETUSER").arg(username),
                "cannot look up the user",
            )
            .await?;
        Ok(!matches!(value, Value::Nil))
    }
}

/// Why a command failed: no connection, or the command's own error.
pub(crate) enum Failure {
    Connect(DriverError),
    Command(redis::RedisError),
}

/// `>password`, the ACL rule adding a password; zeroized when dropped. (The redis crate copies
/// it into its command buffer, which it does not zeroize: a limit of the client.)
fn password_rule(password: &SecretString) -> Zeroizing<String> {
    let secret = password.expose_secret();
    let mut rule = Zeroizing::new(String::with_capacity(secret.len() + 1));
    rule.push('>');
    rule.push_str(secret);
    rule
}

#[async_trait]
impl Target for RedisDriver {
    fn dialect(&self) -> &dyn Dialect {
        &RedisDialect
    }

    fn connection(&self) -> &str {
        &self.connection
    }

    async fn verify(&self) -> Result<(), DriverError> {
        let _: String = self
            .run(&redis::cmd("PING"), "the database did not answer")
            .await?;
        Ok(())
    }

    async fn create(
        &self,
        username: &str,
        password: &SecretString,
        creation: &[Zeroizing<String>],
        _expiration: DateTime<Utc>,
    ) -> Result<(), Failed> {
        let rules = parse_rules(creation)?;
        // A user of this name that we did not just create belongs to someone else: failing here
        // must not lead to deleting it.
        if self.user_exists(username).await? {
            return Err(Failed::before_changes(DriverError::Rejected(format!(
                "user {username:?} already exists; refusing to create or change it"
            ))));
        }
        let password = password_rule(password);
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER")
            .arg(username)
            .arg("on")
            .arg(password.as_str())
            .arg(&rules);
        self.run(&cmd, "cannot create the user")
            .await
            .map_err(Failed::after_changes)
    }

    /// Rollback statements have nothing to undo on Redis and are not run.
    async fn execute_each(
        &self,
        _statements: &[Zeroizing<String>],
    ) -> Result<Vec<Result<(), DriverError>>, DriverError> {
        Ok(Vec::new())
    }

    /// Redis users have no expiry to move; nothing happens (renew statements are not run, as in
    /// Vault).
    async fn renew(
        &self,
        _username: &str,
        _renew: &[Zeroizing<String>],
        _expiration: DateTime<Utc>,
    ) -> Result<(), DriverError> {
        Ok(())
    }

    /// `ACL SETUSER name resetpass >password`: the old password stops working in the same
    /// command. Rotation statements are not run (as in Vault). A user that does not exist is an
    /// error (SETUSER would create it).
    async fn set_password(
        &self,
        username: &str,
        password: &SecretString,
        _statements: &[Zeroizing<String>],
    ) -> Result<(), DriverError> {
        if !self.user_exists(username).await? {
            return Err(DriverError::Rejected(format!(
                "user {username:?} does not exist"
            )));
        }
        let password = password_rule(password);
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER")
            .arg(username)
            .arg("resetpass")
            .arg(password.as_str());
        self.run(&cmd, "cannot set the password").await
    }

    async fn destroy(
        &self,
        username: &str,
        _custom: &[Zeroizing<String>],
        _heir: Option<&str>,
    ) -> Result<Revoked, Failed> {
        Ok(self.destroy_user(username).await?)
    }

    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
        let mut users: Vec<String> = self
            .run(redis::cmd("ACL").arg("USERS"), "cannot list users")
            .await?;
        users.retain(|u| u.starts_with(prefix));
        users.sort();
        Ok(users)
    }

    async fn close(&self) {
        *self.conn.lock().await = ConnState::Closed;
    }
}
