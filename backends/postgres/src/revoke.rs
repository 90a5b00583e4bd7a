//! Destroying a user, the one destruction path (revocation, expiry, and clean-up after a failed
//! creation all come here).
//!
//! Order matters. `NOLOGIN` first, committed on its own, so no new session can appear (and none
//! can, should the drop fail and be retried); then signal every session of the user (a session
//! open when its role is dropped keeps running queries); then either our default (hand what it
//! owns to the connection's user or `reassign_owned_to`, drop its remaining privileges, drop the
//! role, in one transaction) or the role's own revocation statements; then end, by oid, whatever
//! session is left and wait until none is. Success only once the user is gone from `pg_roles`
//! (our default's committed `DROP ROLE` proves it; after custom statements it is looked up).
//! Our default goes out as one pipelined round trip plus the last sweep.
//! A user that does not exist is success: deletion is idempotent.
//!
//! The sessions ended are the backends `pg_terminate_backend` signalled (true; false means it
//! had exited already) over every sweep, each pid once: a backend signalled by the first sweep
//! may still be listed, exiting, when the sweep after the drop signals it again. A user that
//! does not exist reports `None`: an earlier attempt dropped it, and ended (and counted) its
//! sessions then. A parallel query's workers run as its session's user and count as sessions.
//! An attempt that fails after signalling sessions waits for them to exit before it reports
//! the failure (with how many it ended), so that the engine's retry does not count them again.
//!
//! `REASSIGN OWNED` and `DROP OWNED` act in the connected database only. A user that owns objects
//! or holds privileges in other databases of the cluster cannot be dropped from here; the error
//! says so and the lease engine keeps retrying (and lists the lease as irrevocable).

use std::collections::HashSet;
use std::time::Duration;

use deadpool_postgres::Object;
use leasehold_database::{DriverError, Failed, Revoked};
use zeroize::Zeroizing;

use crate::dialect::quote_ident;
use crate::driver::PgDriver;
use crate::error::{from_pg, is_transient};

/// How long to wait for terminated sessions to be gone.
const SESSION_END_TIMEOUT: Duration = Duration::from_secs(10);
const SESSION_POLL: Duration = Duration::from_millis(20);

/// Backend process ids: sessions signalled, kept as a set because a session signalled by one
/// sweep can still be listed (exiting) when the next sweep signals it again.
pub(crate) type Pids = HashSet<i32>;

impl PgDriver {
    /// One attempt at destroying `username`; see the module docs. An attempt a concurrent
    /// transaction aborted is reported transient, and the engine runs it again.
    pub(crate) async fn destroy_once(
        &self,
        username: &str,
        custom: &[Zeroizing<String>],
        heir: Option<&str>,
    ) -> Result<Revoked, Failed> {
        let name = quote_ident(username);

        let client = self.client().await?;
        // Requests polled together go out pipelined and run in order, each its own statement:
        // find the user, shut its login, signal its sessions (for a user that does not exist
        // the ALTER fails harmlessly and the lookup says there is nothing to do).
        let (lookup, terminate_named, terminate_oid) = tokio::try_join!(
            client.prepare_cached("SELECT oid FROM pg_roles WHERE rolname = $1"),
            client.prepare_cached(TERMINATE_BY_NAME),
            client.prepare_cached(TERMINATE_BY_OID),
        )
        .map_err(|e| pg("cannot prepare the revocation", &e))?;
        let nologin = format!("ALTER ROLE {name} NOLOGIN");
        let user: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&username];
        if custom.is_empty() {
            let heir = heir.map_or_else(|| "CURRENT_USER".to_owned(), quote_ident);
            // One simple query is one implicit transaction: all three or none.
            let drop = format!(
                "REASSIGN OWNED BY {name} TO {heir}; DROP OWNED BY {name}; DROP ROLE {name}"
            );
            // One round trip for the whole of our default, pipelined and run in this order.
            // NOLOGIN commits on its own, so that should the drop fail (objects in another
            // database) the user still cannot log in while the engine retries.
            let (row, disabled, signalled, dropped) = tokio::join!(
                client.query_opt(&lookup, &user),
                client.batch_execute(&nologin),
                client.query(&terminate_named, &user),
                client.batch_execute(&drop),
            );
            // A user that does not exist is done (the statements after the lookup failed on
            // the missing role and changed nothing).
            let Some(oid) = oid_of(row)? else {
                tracing::debug!("user {} does not exist: nothing to revoke", username);
                return Ok(Revoked::unknown());
            };
            let signalled = signalled_pids(signalled);
            if let Err(e) = disabled {
                let failed = pg("cannot disable the user's login", &e);
                let so_far = signalled.as_ref().map_or(0, HashSet::len);
                return Err(failed_after(&client, oid, so_far, failed).await);
            }
            let mut ended = signalled?;
            if let Err(e) = dropped {
                let failed = pg("cannot drop the user", &e);
                return Err(failed_after(&client, oid, ended.len(), failed).await);
            }
            // A session that logged in between the sweep and the drop keeps running; end it by
            // oid (a dropped role's sessions have no user name) and wait for every one to go.
            // The receipt's look in pg_roles goes out with that sweep, in the same round trip.
            let by_oid: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&oid];
            let (swept, still_there) = tokio::join!(
                client.query(&terminate_oid, &by_oid),
                client.query_opt(&lookup, &user),
            );
            ended.extend(signalled_pids(swept)?);
            if !ended.is_empty() {
                wait_sessions_gone(&client, oid, username).await?;
            }
            return Ok(with_receipt(sessions(&ended), username, still_there));
        }

        let (row, disabled, signalled) = tokio::join!(
            client.query_opt(&lookup, &user),
            client.batch_execute(&nologin),
            client.query(&terminate_named, &user),
        );
        let Some(oid) = oid_of(row)? else {
            tracing::debug!("user {} does not exist: nothing to revoke", username);
            return Ok(Revoked::unknown());
        };
        let signalled = signalled_pids(signalled);
        if let Err(e) = disabled {
            let failed = pg("cannot disable the user's login", &e);
            let so_far = signalled.as_ref().map_or(0, HashSet::len);
            return Err(failed_after(&client, oid, so_far, failed).await);
        }
        let mut ended = signalled?;
        if !ended.is_empty() {
            wait_sessions_gone(&client, oid, username).await?;
        }
        // The sessions are gone: an attempt failing from here on only says how many there were.
        let so_far = ended.len() as u64;
        let failed = |context: &str, e: &tokio_postgres::Error| pg(context, e).after_ending(so_far);
        let mut client = client;
        let tx = client
            .transaction()
            .await
            .map_err(|e| failed("cannot begin a transaction", &e))?;
        for (i, statement) in custom.iter().enumerate() {
            tx.batch_execute(statement)
                .await
                .map_err(|e| failed(&format!("revocation statement {} failed", i + 1), &e))?;
        }
        tx.commit()
            .await
            .map_err(|e| failed("cannot commit the revocation", &e))?;
        // Custom statements could have let the user back in (or not dropped it); sweep again.
        ended.extend(end_sessions(&client, oid, username).await?);

        let still_there = query_opt(&client, crate::driver::USER_EXISTS, username)
            .await
            .map_err(|e| pg("cannot check that the user is gone", &e))?;
        if still_there.is_some() {
            return Err(DriverError::NotRemoved(format!(
                "user {:?} still exists after its revocation statements ran; they must drop it \
                 (e.g. DROP ROLE \"{{{{name}}}}\")",
                username
            ))
            .into());
        }
        Ok(sessions(&ended))
    }
}

/// A PostgreSQL error met while doing `context`.
fn pg(context: &str, e: &tokio_postgres::Error) -> Failed {
    Failed::after_changes(from_pg(context, e)).transient_if(is_transient(e))
}

/// An attempt failing after it signalled `signalled` sessions of the user with `oid`: wait
/// (best effort) for them to exit, so that the next attempt does not find them still exiting
/// and count them again, and say how many the attempt ended.
async fn failed_after(client: &Object, oid: u32, signalled: usize, failed: Failed) -> Failed {
    if signalled > 0 {
        if let Err(e) = wait_gone(client, &[oid], "the revoked user").await {
            tracing::debug!("after a failed revocation attempt: {e}");
        }
    }
    failed.after_ending(signalled as u64)
}

/// `revoked` with its destruction receipt when the look in `pg_roles` after the drop (`found`)
/// found no such user. Anything else (still listed, the look failed) leaves it without one, and
/// the database engine asks again on its own (a listed user fails the revocation there).
pub(crate) fn with_receipt(
    revoked: Revoked,
    username: &str,
    found: Result<Option<tokio_postgres::Row>, tokio_postgres::Error>,
) -> Revoked {
    match found {
        Ok(None) => {
            revoked.verified_by(leasehold_database::accounts::gone_from(PG_ROLES, username))
        }
        _ => revoked,
    }
}

/// The catalog the receipts name (the dialect's `user_catalog`).
pub(crate) const PG_ROLES: &str = "pg_roles";

/// The report of a revocation that ended `pids`.
pub(crate) fn sessions(pids: &Pids) -> Revoked {
    Revoked::sessions(pids.len() as u64)
}

/// The user's oid from the lookup's answer, `None` when there is no such user.
fn oid_of(
    row: Result<Option<tokio_postgres::Row>, tokio_postgres::Error>,
) -> Result<Option<u32>, DriverError> {
    let row = row.map_err(|e| from_pg("cannot look up the user", &e))?;
    row.map(|r| r.try_get(0))
        .transpose()
        .map_err(|e| from_pg("cannot read the user's oid", &e))
}

/// The sessions a terminate statement signalled, from its rows (`pid`, `pg_terminate_backend`'s
/// answer): a backend it found exited already (false) is not one.
fn signalled_pids(
    rows: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>,
) -> Result<Pids, DriverError> {
    let failed = |e: tokio_postgres::Error| from_pg("cannot terminate the user's sessions", &e);
    let mut pids = HashSet::new();
    for row in rows.map_err(failed)? {
        let pid: i32 = row.try_get(0).map_err(failed)?;
        let signalled: bool = row.try_get(1).map_err(failed)?;
        if signalled {
            pids.insert(pid);
        }
    }
    Ok(pids)
}

/// The backends of this cluster but the one asking, as `(pid, role)` (the role's oid), read
/// through the per-backend accessors rather than `pg_stat_get_activity`: that function fills
/// some thirty columns (query text, client address, wait event, ...) for every backend slot,
/// and a sweep only needs two of them. Measured with pgbench on a 100-slot cluster: 0.17 ms of
/// server time per sweep above `SELECT 1` against 0.05 ms this way; a revocation sweeps twice.
/// (The view `pg_stat_activity`, which also joins every role and database, was slower still.)
/// A parallel query's workers are backends of their session's user here as there.
macro_rules! backends {
    () => {
        "SELECT pg_stat_get_backend_pid(i) AS pid, pg_stat_get_backend_userid(i) AS role \
         FROM pg_stat_get_backend_idset() i WHERE pg_stat_get_backend_pid(i) <> pg_backend_pid()"
    };
}
pub(crate) use backends;

/// Signals every session of the role with oid `$1`: one row per session, its pid and whether it
/// was signalled. `pg_terminate_backend` is in the select list, so it runs only on rows the
/// filter kept.
const TERMINATE_BY_OID: &str = concat!(
    "SELECT s.pid, pg_terminate_backend(s.pid) FROM (",
    backends!(),
    ") s WHERE s.role = $1"
);

/// [`TERMINATE_BY_OID`] for the role named `$1` (none when there is no such role).
const TERMINATE_BY_NAME: &str = concat!(
    "SELECT s.pid, pg_terminate_backend(s.pid) FROM (",
    backends!(),
    ") s WHERE s.role = (SELECT oid FROM pg_roles WHERE rolname = $1)"
);

/// Terminate every session of the user with `oid` and wait until none is left; answers those
/// signalled.
async fn end_sessions(client: &Object, oid: u32, username: &str) -> Result<Pids, DriverError> {
    let terminate = client
        .prepare_cached(TERMINATE_BY_OID)
        .await
        .map_err(|e| from_pg("cannot terminate the user's sessions", &e))?;
    let signalled = signalled_pids(client.query(&terminate, &[&oid]).await)?;
    if !signalled.is_empty() {
        wait_sessions_gone(client, oid, username).await?;
    }
    Ok(signalled)
}

/// `pg_terminate_backend` only signals; wait until the sessions have exited.
async fn wait_sessions_gone(client: &Object, oid: u32, username: &str) -> Result<(), DriverError> {
    wait_gone(client, &[oid], &format!("user {username:?}")).await
}

/// [`wait_sessions_gone`] for the roles of a batch.
pub(crate) async fn wait_sessions_gone_any(
    client: &Object,
    oids: &[u32],
) -> Result<(), DriverError> {
    wait_gone(client, oids, &format!("{} revoked users", oids.len())).await
}

/// How many sessions the roles with the oids `$1` still have.
const SESSIONS_LEFT: &str = concat!(
    "SELECT count(*) FROM (",
    backends!(),
    ") s WHERE s.role = ANY($1)"
);

pub(crate) async fn wait_gone(client: &Object, oids: &[u32], who: &str) -> Result<(), DriverError> {
    let deadline = tokio::time::Instant::now() + SESSION_END_TIMEOUT;
    loop {
        let row = client
            .query_one(SESSIONS_LEFT, &[&oids])
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
                "{left} session(s) of {who} did not end within {SESSION_END_TIMEOUT:?}"
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
