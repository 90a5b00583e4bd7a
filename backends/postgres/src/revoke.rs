//! Destroying a user, the one destruction path (revocation, expiry, and clean-up after a failed
//! creation all come here).
//!
//! Order matters. `NOLOGIN` first, so no new session can appear; then end every session of the
//! user (a session open when its role is dropped keeps running queries); then either our default
//! (hand what it owns to the connection's user or `reassign_owned_to`, drop its remaining
//! privileges, drop the role, all in one transaction) or the role's own revocation statements,
//! followed by another sweep of sessions. Success only once the user is gone from `pg_roles`
//! (our default's committed `DROP ROLE` proves it; after custom statements it is looked up).
//! A user that does not exist is success: deletion is idempotent.
//!
//! `REASSIGN OWNED` and `DROP OWNED` act in the connected database only. A user that owns objects
//! or holds privileges in other databases of the cluster cannot be dropped from here; the error
//! says so and the lease engine keeps retrying (and lists the lease as irrevocable).

use std::time::Duration;

use deadpool_postgres::Object;
use leasehold_database::{DeleteUser, DriverError};

use crate::driver::{prepare, PgDriver};
use crate::error::from_pg;
use crate::render::{check_username, quote_ident, Values};

/// How long to wait for terminated sessions to be gone.
const SESSION_END_TIMEOUT: Duration = Duration::from_secs(10);
const SESSION_POLL: Duration = Duration::from_millis(20);

impl PgDriver {
    /// Destroy `req.username`; see the module docs.
    pub(crate) async fn destroy(&self, req: &DeleteUser<'_>) -> Result<(), DriverError> {
        check_username(req.username)?;
        let values = Values {
            name: req.username,
            password: None,
            expiration: None,
        };
        let custom = prepare(req.revocation_statements, &values)?;
        let name = quote_ident(req.username);

        let mut client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT oid FROM pg_roles WHERE rolname = $1",
            req.username,
        )
        .await
        .map_err(|e| from_pg("cannot look up the user", &e))?;
        let Some(row) = row else {
            tracing::debug!("user {} does not exist: nothing to revoke", req.username);
            return Ok(());
        };
        let oid: u32 = row
            .try_get(0)
            .map_err(|e| from_pg("cannot read the user's oid", &e))?;

        client
            .batch_execute(&format!("ALTER ROLE {name} NOLOGIN"))
            .await
            .map_err(|e| from_pg("cannot disable the user's login", &e))?;
        end_sessions(&client, oid, req.username).await?;

        if custom.is_empty() {
            // One simple query is one implicit transaction: all three or none, in one round trip.
            let heir = req
                .reassign_owned_to
                .map_or_else(|| "CURRENT_USER".to_owned(), quote_ident);
            client
                .batch_execute(&format!(
                    "REASSIGN OWNED BY {name} TO {heir}; DROP OWNED BY {name}; DROP ROLE {name}"
                ))
                .await
                .map_err(|e| from_pg("cannot drop the user", &e))?;
            // A session that was authenticating as NOLOGIN committed could have slipped past
            // the first sweep; the role is gone now, so this one is final.
            return end_sessions(&client, oid, req.username).await;
        }
        let tx = client
            .transaction()
            .await
            .map_err(|e| from_pg("cannot begin a transaction", &e))?;
        for (i, statement) in custom.iter().enumerate() {
            tx.batch_execute(statement)
                .await
                .map_err(|e| from_pg(&format!("revocation statement {} failed", i + 1), &e))?;
        }
        tx.commit()
            .await
            .map_err(|e| from_pg("cannot commit the revocation", &e))?;
        // Custom statements could have let the user back in (or not dropped it); sweep again.
        end_sessions(&client, oid, req.username).await?;

        let still_there = query_opt(
            &client,
            "SELECT 1 FROM pg_roles WHERE rolname = $1",
            req.username,
        )
        .await
        .map_err(|e| from_pg("cannot check that the user is gone", &e))?;
        if still_there.is_some() {
            return Err(DriverError::NotRemoved(format!(
                "user {:?} still exists after its revocation statements ran; they must drop it \
                 (e.g. DROP ROLE \"{{{{name}}}}\")",
                req.username
            )));
        }
        Ok(())
    }
}

/// Terminate every session of the user with `oid` and wait until none is left.
async fn end_sessions(client: &Object, oid: u32, username: &str) -> Result<(), DriverError> {
    let terminate = client
        .prepare_cached(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE usesysid = $1 AND pid <> pg_backend_pid()",
        )
        .await
        .map_err(|e| from_pg("cannot terminate the user's sessions", &e))?;
    let signalled: i64 = client
        .query_one(&terminate, &[&oid])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| from_pg("cannot terminate the user's sessions", &e))?;
    if signalled == 0 {
        return Ok(());
    }
    // pg_terminate_backend only signals; the sessions leave pg_stat_activity when they exit.
    let deadline = tokio::time::Instant::now() + SESSION_END_TIMEOUT;
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE usesysid = $1 AND pid <> pg_backend_pid()",
                &[&oid],
            )
            .await
            .map_err(|e| from_pg("cannot count the user's sessions", &e))?;
        let left: i64 = row
            .try_get(0)
            .map_err(|e| from_pg("cannot count the user's sessions", &e))?;
        if left == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DriverError::NotRemoved(format!(
                "{left} session(s) of user {username:?} did not end within {SESSION_END_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(SESSION_POLL).await;
    }
}

/// `query_opt` for a one-text-parameter statement, prepared once per pooled connection.
async fn query_opt(
    client: &Object,
    sql: &str,
    value: &str,
) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_opt(&statement, &[&value]).await
}
