//! Destroying a user, the one destruction path (revocation, expiry, and clean-up after a failed
//! creation all come here).
//!
//! A MySQL user is one or more accounts (`'name'@'%'`, `'name'@'localhost'`, ...), and a session
//! open when its account is dropped keeps running (MySQL's manual: `DROP USER` does not close
//! open sessions). So, for every account of the name found in `mysql.user`:
//!
//! 1. `ALTER USER ... ACCOUNT LOCK`, so that no new session can start while we work (servers
//!    older than MySQL 5.7.6 / MariaDB 10.4 lack it; then we go on without, and the sweep after
//!    the drop catches a session that slipped in);
//! 2. `KILL CONNECTION` each of the user's sessions in `information_schema.PROCESSLIST` and wait
//!    until none is listed;
//! 3. `DROP USER IF EXISTS` every account at once, or the role's own revocation statements;
//! 4. sweep sessions again, then succeed only if `mysql.user` has no account of the name left.
//!
//! A user that does not exist is success (deletion is idempotent), after a sweep of sessions
//! still running under the name: they may have outlived an earlier drop.
//!
//! The sessions ended are counted: each session id killed once (a killed thread can stay listed
//! for a moment and be killed again; it counts once), a thread that had ended on its own not at
//! all. A user that does not exist reports `None` (unknown) unless the sweep ended some.
//!
//! PROCESSLIST shows other users' sessions only to a user with the `PROCESS` privilege; without
//! it the sweep would see nothing and report success while sessions run on. So the privilege is
//! checked first, and its absence is an error, never a silent success.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use leasehold_database::{DriverError, Revoked};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use zeroize::Zeroizing;

use crate::dialect::quote_account;
use crate::driver::{column, hosts_of, MySqlDriver};
use crate::error::{from_mysql, server_code, NO_SUCH_THREAD, PARSE_ERROR};

/// How long to wait for killed sessions to be gone.
const SESSION_END_TIMEOUT: Duration = Duration::from_secs(10);
const SESSION_POLL: Duration = Duration::from_millis(20);

/// Whether the connection's user holds `PROCESS` globally (directly granted: a privilege that
/// only comes through a role is not seen here, and then revocation fails loudly).
const HAS_PROCESS_PRIVILEGE: &str = "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES \
     WHERE PRIVILEGE_TYPE = 'PROCESS' AND GRANTEE = CONCAT('''', \
     SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";

/// Remembers that the privilege was seen, so it is checked once per driver, not per revocation.
pub(crate) struct ProcessPrivilege(AtomicBool);

impl ProcessPrivilege {
    pub(crate) fn unchecked() -> Self {
        Self(AtomicBool::new(false))
    }
}

impl MySqlDriver {
    /// Destroy `username` with `custom` statements or our default; see the module docs.
    pub(crate) async fn destroy_user(
        &self,
        username: &str,
        custom: &[Zeroizing<String>],
    ) -> Result<Revoked, DriverError> {
        let mut conn = self.conn().await?;
        self.check_process_privilege(&mut conn).await?;
        let mut killed = HashSet::new();

        let hosts = hosts_of(&mut conn, username).await?;
        if hosts.is_empty() {
            end_sessions(&mut conn, username, &mut killed).await?;
            tracing::debug!("user {} does not exist: nothing to revoke", username);
            return Ok(if killed.is_empty() {
                Revoked::unknown()
            } else {
                Revoked::sessions(killed.len() as u64)
            });
        }
        lock_accounts(&mut conn, username, &hosts).await?;
        end_sessions(&mut conn, username, &mut killed).await?;

        if custom.is_empty() {
            let accounts: Vec<String> = hosts
                .iter()
                .map(|host| quote_account(username, host))
                .collect();
            conn.query_drop(format!("DROP USER IF EXISTS {}", accounts.join(", ")))
                .await
                .map_err(|e| from_mysql("cannot drop the user", &e))?;
        } else {
            for (i, statement) in custom.iter().enumerate() {
                conn.query_drop(statement.as_str()).await.map_err(|e| {
                    from_mysql(&format!("revocation statement {} failed", i + 1), &e)
                })?;
            }
        }
        // Custom statements could have unlocked the user (or not dropped it); sweep again.
        end_sessions(&mut conn, username, &mut killed).await?;

        let left = hosts_of(&mut conn, username).await?;
        if !left.is_empty() {
            return Err(DriverError::NotRemoved(format!(
                "user {:?} still exists on host(s) {} after its revocation statements ran; they \
                 must drop every account of it (e.g. DROP USER '{{{{name}}}}'@'%')",
                username,
                left.join(", ")
            )));
        }
        Ok(Revoked::sessions(killed.len() as u64))
    }

    async fn check_process_privilege(&self, conn: &mut Conn) -> Result<(), DriverError> {
        if self.process_privilege.0.load(Ordering::Relaxed) {
            return Ok(());
        }
        let rows: Vec<Row> = conn
            .query(HAS_PROCESS_PRIVILEGE)
            .await
            .map_err(|e| from_mysql("cannot check the PROCESS privilege", &e))?;
        let count: u64 = match rows.first() {
            Some(row) => column(row, "the privilege count")?,
            None => 0,
        };
        if count == 0 {
            return Err(DriverError::Rejected(
                "the connection's user lacks the PROCESS privilege (granted directly), so it cannot \
                 see the sessions of the user to end them; GRANT PROCESS ON *.* to it"
                    .into(),
            ));
        }
        self.process_privilege.0.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// `ACCOUNT LOCK` on every account of the user, or a warning where the server predates it.
async fn lock_accounts(
    conn: &mut Conn,
    username: &str,
    hosts: &[String],
) -> Result<(), DriverError> {
    let accounts: Vec<String> = hosts
        .iter()
        .map(|host| quote_account(username, host))
        .collect();
    match conn
        .query_drop(format!("ALTER USER {} ACCOUNT LOCK", accounts.join(", ")))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if server_code(&e) == Some(PARSE_ERROR) => {
            tracing::warn!(
                db.user = %username,
                "this server cannot lock accounts (ALTER USER ... ACCOUNT LOCK); ending sessions without"
            );
            Ok(())
        }
        Err(e) => Err(from_mysql("cannot lock the user's accounts", &e)),
    }
}

/// Kill every session of `username` (but ours) and wait until none is listed. Each round kills
/// what is listed, so a session that started after the first listing (on a server that could
/// not lock the account) is caught too. The ids of the sessions killed go into `killed`.
async fn end_sessions(
    conn: &mut Conn,
    username: &str,
    killed: &mut HashSet<u64>,
) -> Result<(), DriverError> {
    let deadline = tokio::time::Instant::now() + SESSION_END_TIMEOUT;
    loop {
        let listed = sessions(conn, username).await?;
        if listed.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DriverError::NotRemoved(format!(
                "{} session(s) of user {username:?} did not end within {SESSION_END_TIMEOUT:?}",
                listed.len()
            )));
        }
        for id in listed {
            match conn.query_drop(format!("KILL CONNECTION {id}")).await {
                Ok(()) => {
                    killed.insert(id);
                }
                // It ended on its own between the listing and the kill.
                Err(e) if server_code(&e) == Some(NO_SUCH_THREAD) => {}
                Err(e) => return Err(from_mysql("cannot kill the user's session", &e)),
            }
        }
        // A killed thread leaves the list when it notices, which is soon but not at once.
        tokio::time::sleep(SESSION_POLL).await;
    }
}

async fn sessions(conn: &mut Conn, username: &str) -> Result<Vec<u64>, DriverError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
            (username,),
        )
        .await
        .map_err(|e| from_mysql("cannot list the user's sessions", &e))?;
    rows.iter().map(|row| column(row, "a session id")).collect()
}
