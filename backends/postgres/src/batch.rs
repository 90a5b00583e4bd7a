//! Revocations that arrive together are destroyed together. A burst of expiries is bounded by
//! PostgreSQL, not by us: each role alone costs two commits (its `NOLOGIN`, then the drop) and
//! a sweep of the cluster's backends, so the server does ≈ 2,000 of them a second however many
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
//!
//! Each revocation still learns how many sessions of its own user were ended: the sweeps answer
//! each session's role and pid, counted per user (each pid once), and a user absent from
//! `pg_roles` reports `None`, as on the one-role path. A batch that fails after signalling
//! sessions waits for them to exit, and what it ended is added to what the one-role retry of
//! each user reports, so they are neither lost with the batch nor counted twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use leasehold_database::{DriverError, Revoked};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::dialect::quote_ident;
use crate::driver::PgDriver;
use crate::error::from_pg;
use crate::revoke::Pids;

/// The most users destroyed in one batch.
pub(crate) const MAX_BATCH: usize = 64;
/// Batches running at once (each on its own pooled connection).
const CONCURRENT_BATCHES: usize = 4;

/// One queued revocation: the user, who inherits what it owns, and where to answer.
pub(crate) struct Job {
    pub username: String,
    pub heir: Option<String>,
    pub done: oneshot::Sender<Result<Revoked, DriverError>>,
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
        // Sessions a failed batch ended before failing, by user: the retry of each user finds
        // them gone, so they are added to what it reports.
        let mut earlier = HashMap::new();
        if group.len() > 1 {
            let names: Vec<&str> = group.iter().map(|j| j.username.as_str()).collect();
            let heir = group.first().and_then(|j| j.heir.as_deref());
            let mut ended = HashMap::new();
            match destroy_many(driver, &names, heir, &mut ended).await {
                Ok(listed) => {
                    for job in group {
                        // Not found by the batch's lookup: gone already, as on the one-role path.
                        let revoked = ended
                            .get(&job.username)
                            .map_or_else(Revoked::unknown, crate::revoke::sessions);
                        // The batch's read-back of pg_roles is each user's receipt; one still
                        // listed gets none here, and the engine's own check fails it.
                        let revoked = if listed.contains(&job.username) {
                            revoked
                        } else {
                            revoked.verified_by(leasehold_database::accounts::gone_from(
                                crate::revoke::PG_ROLES,
                                &job.username,
                            ))
                        };
                        let _ = job.done.send(Ok(revoked));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(
                        "a batch of {} revocations failed ({e}); destroying each on its own",
                        group.len()
                    );
                    earlier = ended
                        .into_iter()
                        .filter(|(_, pids)| !pids.is_empty())
                        .map(|(name, pids)| (name, pids.len() as u64))
                        .collect();
                }
            }
        }
        // One user, or a failed batch: the one-role path, all at once.
        let each = group.into_iter().map(|job| {
            let before = earlier.get(&job.username).copied();
            one_role(driver, job, before)
        });
        futures_util::future::join_all(each).await;
    }
}

/// Destroy `job`'s user on its own and answer it, adding `earlier` sessions a failed batch had
/// ended.
async fn one_role(driver: &PgDriver, job: Job, earlier: Option<u64>) {
    let result =
        leasehold_database::accounts::destroy(driver, &job.username, &[], job.heir.as_deref())
            .await
            .map(|revoked| match (revoked.sessions_terminated, earlier) {
                (n, None) => Revoked {
                    sessions_terminated: n,
                    verified: None,
                },
                (n, Some(e)) => Revoked::sessions(n.unwrap_or(0).saturating_add(e)),
            });
    let _ = job.done.send(result);
}

/// Signals every session of the roles with the oids `$1`: one row per session, its role's oid,
/// its pid, and whether it was signalled (false: it had exited already).
const TERMINATE_ANY: &str = concat!(
    "SELECT s.role, s.pid, pg_terminate_backend(s.pid) FROM (",
    crate::revoke::backends!(),
    ") s WHERE s.role = ANY($1)"
);

/// Which of the named roles `pg_roles` still lists: the receipts' read-back, one query for the
/// batch (by the catalog's unique index on the name).
const LISTED_ANY: &str = "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1)";

/// The batch: see the module docs. Users that do not exist are done already. `ended` gets, for
/// every user found, the sessions of it that were ended, as soon as that is known: it stays
/// right when a later step fails. Answers the names `pg_roles` still listed after the drop
/// (none, unless a role of the same name was made meanwhile).
async fn destroy_many(
    driver: &PgDriver,
    names: &[&str],
    heir: Option<&str>,
    ended: &mut HashMap<String, Pids>,
) -> Result<HashSet<String>, DriverError> {
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
    let mut names_by_oid = HashMap::with_capacity(found.len());
    for row in &found {
        let name: String = row
            .try_get(0)
            .map_err(|e| from_pg("cannot read a user's name", &e))?;
        let oid: u32 = row
            .try_get(1)
            .map_err(|e| from_pg("cannot read a user's oid", &e))?;
        roles.push(quote_ident(&name));
        oids.push(oid);
        ended.insert(name.clone(), Pids::new());
        names_by_oid.insert(oid, name);
    }
    if roles.is_empty() {
        return Ok(HashSet::new());
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
    let (terminate, listed) = tokio::try_join!(
        client.prepare_cached(TERMINATE_ANY),
        client.prepare_cached(LISTED_ANY),
    )
    .map_err(|e| from_pg("cannot prepare the session sweep", &e))?;
    let by_oid: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&oids];
    let (disabled, signalled, dropped) = tokio::join!(
        client.batch_execute(&nologin),
        client.query(&terminate, &by_oid),
        client.batch_execute(&drop),
    );
    // Recorded first: the sessions are ended whatever failed beside them.
    let signalled = add_up(signalled, &names_by_oid, ended);
    let failure = match (disabled, signalled, dropped) {
        (Err(e), _, _) => Some(from_pg("cannot disable the users' logins", &e)),
        (_, Err(e), _) => Some(e),
        (_, _, Err(e)) => Some(from_pg("cannot drop the users", &e)),
        _ => None,
    };
    if let Some(error) = failure {
        // Let the signalled sessions exit first, so that the one-role retries do not find
        // them still exiting and count them again.
        if ended.values().any(|pids| !pids.is_empty()) {
            if let Err(e) = crate::revoke::wait_sessions_gone_any(&client, &oids).await {
                tracing::debug!("after a failed batch: {e}");
            }
        }
        return Err(error);
    }
    // Sessions that logged in between the sweep and the drop; then wait for all to go. The
    // receipts' read-back goes out with that sweep, in the same round trip.
    let by_name: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&names];
    let (swept, still_listed) = tokio::join!(
        client.query(&terminate, &by_oid),
        client.query(&listed, &by_name),
    );
    add_up(swept, &names_by_oid, ended)?;
    if ended.values().any(|pids| !pids.is_empty()) {
        crate::revoke::wait_sessions_gone_any(&client, &oids).await?;
    }
    // A read-back that failed proves nothing: every user is answered without a receipt, and
    // the engine asks for each on its own.
    let mut listed = HashSet::new();
    match still_listed {
        Ok(rows) => {
            for row in rows {
                let name: String = row
                    .try_get(0)
                    .map_err(|e| from_pg("cannot read a user's name", &e))?;
                listed.insert(name);
            }
        }
        Err(_) => listed.extend(names.iter().map(|n| (*n).to_owned())),
    }
    Ok(listed)
}

/// Add the sessions a sweep signalled to their users' in `ended`.
fn add_up(
    rows: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>,
    names_by_oid: &HashMap<u32, String>,
    ended: &mut HashMap<String, Pids>,
) -> Result<(), DriverError> {
    let failed = |e: tokio_postgres::Error| from_pg("cannot terminate the users' sessions", &e);
    for row in rows.map_err(failed)? {
        let oid: u32 = row.try_get(0).map_err(failed)?;
        let pid: i32 = row.try_get(1).map_err(failed)?;
        let signalled: bool = row.try_get(2).map_err(failed)?;
        if let Some(pids) = names_by_oid.get(&oid).and_then(|name| ended.get_mut(name)) {
            if signalled {
                pids.insert(pid);
            }
        }
    }
    Ok(())
}
