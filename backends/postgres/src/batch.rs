//! Revocations that arrive together are destroyed together. A burst of expiries is bounded by
//! PostgreSQL, not by us: each role alone costs two commits (its `NOLOGIN`, then the drop) and
//! a sweep of `pg_stat_get_activity`, so the server does ≈ 2,000 of them a second however many
//! connections run them. A batch commits once for all its `NOLOGIN`s, sweeps once, and drops
//! every role in one transaction.
//!
//! Requests queue on a channel; a task takes whatever is queued (up to [`MAX_BATCH`]) whenever
//! one of its [`CONCURRENT_BATCHES`] slots is free, so a lone revocation goes out at once and
//! alone (through the one-role path), and a burst forms batches by itself. Only the default
//! revocation is batched; custom revocation statements run one user at a time.
//!
//! The order of the one-role path is kept: `NOLOGIN` for all, committed on its own; every
//! session signalled; then `REASSIGN OWNED`, `DROP OWNED`, `DROP ROLE` for all in one
//! transaction; then a last sweep by oid and a wait until no session is left. If anything of
//! the batch fails (one role owns objects in another database, a concurrent transaction), every
//! user of it is destroyed again on its own, so one bad user cannot fail the others and each
//! failure names its user.

use std::sync::Arc;

use leasehold_database::DriverError;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::dialect::quote_ident;
use crate::driver::PgDriver;
use crate::error::from_pg;

/// The most users destroyed in one batch.
pub(crate) const MAX_BATCH: usize = 64;
/// Batches running at once (each on its own pooled connection).
const CONCURRENT_BATCHES: usize = 4;

/// One queued revocation: the user, who inherits what it owns, and where to answer.
pub(crate) struct Job {
    pub username: String,
    pub heir: Option<String>,
    pub done: oneshot::Sender<Result<(), DriverError>>,
}

/// Start the task that batches `driver`'s revocations; it ends when the sender is dropped.
pub(crate) fn spawn(driver: Arc<PgDriver>) -> mpsc::UnboundedSender<Job> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(CONCURRENT_BATCHES));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let driver = driver.clone();
            tokio::spawn(async move {
                run(&driver, jobs).await;
                drop(slot);
            });
        }
    });
    tx
}

/// Destroy `jobs`' users and answer each.
async fn run(driver: &PgDriver, jobs: Vec<Job>) {
    // Users with another heir go in a batch of their own (the heir is in the statement).
    let mut groups: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        match groups
            .iter_mut()
            .find(|g| g.first().is_some_and(|j| j.heir == job.heir))
        {
            Some(group) => group.push(job),
            None => groups.push(vec![job]),
        }
    }
    for group in groups {
        if group.len() > 1 {
            let names: Vec<&str> = group.iter().map(|j| j.username.as_str()).collect();
            let heir = group.first().and_then(|j| j.heir.as_deref());
            match destroy_many(driver, &names, heir).await {
                Ok(()) => {
                    for job in group {
                        let _ = job.done.send(Ok(()));
                    }
                    continue;
                }
                Err(e) => tracing::debug!(
                    "a batch of {} revocations failed ({e}); destroying each on its own",
                    group.len()
                ),
            }
        }
        // One user, or a failed batch: the one-role path, all at once.
        let each = group.into_iter().map(|job| async move {
            let result = leasehold_database::accounts::destroy(
                driver,
                &job.username,
                &[],
                job.heir.as_deref(),
            )
            .await;
            let _ = job.done.send(result);
        });
        futures_util::future::join_all(each).await;
    }
}

/// Signals every session of the roles with the oids `$1`; answers how many.
const TERMINATE_ANY: &str = "SELECT count(pg_terminate_backend(s.pid)) \
     FROM pg_stat_get_activity(NULL) s WHERE s.usesysid = ANY($1) AND s.pid <> pg_backend_pid()";

/// The batch: see the module docs. Users that do not exist are done already.
async fn destroy_many(
    driver: &PgDriver,
    names: &[&str],
    heir: Option<&str>,
) -> Result<(), DriverError> {
    let client = driver.client().await?;
    let found = client
        .query(
            "SELECT rolname::text, oid FROM pg_roles WHERE rolname = ANY($1)",
            &[&names],
        )
        .await
        .map_err(|e| from_pg("cannot look up the users", &e))?;
    let mut roles = Vec::with_capacity(found.len());
    let mut oids: Vec<u32> = Vec::with_capacity(found.len());
    for row in &found {
        let name: String = row
            .try_get(0)
            .map_err(|e| from_pg("cannot read a user's name", &e))?;
        roles.push(quote_ident(&name));
        oids.push(
            row.try_get(1)
                .map_err(|e| from_pg("cannot read a user's oid", &e))?,
        );
    }
    if roles.is_empty() {
        return Ok(());
    }
    let heir = heir.map_or_else(|| "CURRENT_USER".to_owned(), quote_ident);
    let list = roles.join(", ");
    // Each simple query is one implicit transaction: every NOLOGIN or none, then every drop
    // or none. Sent pipelined, they run in this order on the one connection.
    let nologin: String = roles
        .iter()
        .map(|r| format!("ALTER ROLE {r} NOLOGIN;"))
        .collect();
    let drop =
        format!("REASSIGN OWNED BY {list} TO {heir}; DROP OWNED BY {list}; DROP ROLE {list}");
    let terminate = client
        .prepare_cached(TERMINATE_ANY)
        .await
        .map_err(|e| from_pg("cannot prepare the session sweep", &e))?;
    let by_oid: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&oids];
    let (disabled, signalled, dropped) = tokio::join!(
        client.batch_execute(&nologin),
        client.query_one(&terminate, &by_oid),
        client.batch_execute(&drop),
    );
    disabled.map_err(|e| from_pg("cannot disable the users' logins", &e))?;
    let signalled: i64 = signalled
        .and_then(|r| r.try_get(0))
        .map_err(|e| from_pg("cannot terminate the users' sessions", &e))?;
    dropped.map_err(|e| from_pg("cannot drop the users", &e))?;
    // Sessions that logged in between the sweep and the drop; then wait for all to go.
    let late: i64 = client
        .query_one(&terminate, &by_oid)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| from_pg("cannot terminate the users' sessions", &e))?;
    if signalled + late > 0 {
        crate::revoke::wait_sessions_gone_any(&client, &oids).await?;
    }
    Ok(())
}
