//! A creation left open: the new user's transaction with every statement run and no COMMIT yet.
//! The lease engine commits it once the lease row naming the user is on disk, so that wait
//! overlaps the database's work (the statements, the password's SCRAM hashing) while the user
//! still never exists without its row: until COMMIT nothing of it is visible, and a crash, a
//! dropped connection or a dropped [`OpenCreate`] rolls it back.
//!
//! The one-step creation is the same transaction committed at once.
//!
//! BEGIN goes out in the same round trip as the statements, each of which is guarded
//! ([`guarded`]) so that it runs only inside a transaction block: were BEGIN to fail, every
//! statement behind it stops at its guard instead of running (and committing) on its own.
//! Waiting for BEGIN's answer instead cost a round trip per issue (0.17–0.23 ms at one client,
//! BENCHMARKS.md, "eighth round").

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use leasehold_database::{DriverError, Failed, PendingUser};
use zeroize::Zeroizing;

use crate::driver::{in_transaction, valid_until, PgDriver, USER_EXISTS};
use crate::error::from_pg;

/// The open transaction of one new user; see the module docs.
pub(crate) struct OpenCreate {
    /// `None` once committed or rolled back.
    client: Option<Object>,
}

impl OpenCreate {
    /// Begin the transaction and run the creation statements and the expiry backstop in it,
    /// pipelined with BEGIN (one round trip). A failure leaves nothing: it is rolled back.
    pub(crate) async fn begin(
        driver: &PgDriver,
        username: &str,
        creation: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<Self, Failed> {
        let client = driver.client().await?;
        let lookup = client
            .prepare_cached(USER_EXISTS)
            .await
            .map_err(|e| Failed::before_changes(from_pg("cannot look up the user", &e)))?;
        let open = Self {
            client: Some(client),
        };
        let outcome = open.run(username, &lookup, creation, expiration).await;
        match outcome {
            Ok(()) => Ok(open),
            Err(failed) => {
                open.roll_back().await;
                Err(failed)
            }
        }
    }

    async fn run(
        &self,
        username: &str,
        lookup: &tokio_postgres::Statement,
        creation: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<(), Failed> {
        let client = self.client()?;
        let creation: Vec<_> = creation.iter().map(|s| guarded(s)).collect();
        let backstop = guarded(&valid_until(username, expiration));
        let name: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&username];
        // Requests polled together go out pipelined and PostgreSQL runs them in order. The
        // lookup only reads: outside a transaction (BEGIN failed) it does no harm.
        let (begun, existing, statements, backstop) = tokio::join!(
            client.batch_execute("BEGIN"),
            client.query_opt(lookup, &name),
            futures_util::future::join_all(creation.iter().map(|s| client.batch_execute(s))),
            client.batch_execute(&backstop),
        );
        // Without a transaction every statement stopped at its guard: nothing ran.
        begun.map_err(|e| Failed::before_changes(from_pg("cannot begin a transaction", &e)))?;
        // A user of this name that existed before this transaction belongs to someone else
        // (another lease, or an operator): whatever the statements did to it is rolled back,
        // and failing must not lead to dropping it.
        let existing =
            existing.map_err(|e| Failed::before_changes(from_pg("cannot look up the user", &e)))?;
        if existing.is_some() {
            return Err(Failed::before_changes(DriverError::Rejected(format!(
                "user {username:?} already exists; refusing to create or change it"
            ))));
        }
        // The first failure is the cause; later statements only report the aborted transaction.
        for (i, result) in statements.into_iter().enumerate() {
            result
                .map_err(|e| in_transaction(&format!("creation statement {} failed", i + 1), &e))?;
        }
        backstop.map_err(|e| in_transaction("cannot set the user's expiry", &e))
    }

    fn client(&self) -> Result<&Object, Failed> {
        self.client.as_ref().ok_or_else(closed)
    }

    /// COMMIT: the user exists once this answers `Ok`. A failed or unanswered COMMIT leaves the
    /// outcome unknown ([`Failed::may_exist`]); the connection is not reused.
    pub(crate) async fn commit_now(mut self) -> Result<(), Failed> {
        let client = self.client.take().ok_or_else(closed)?;
        match client.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                drop(Object::take(client));
                Err(in_transaction("cannot commit the new user", &e))
            }
        }
    }

    /// ROLLBACK, and the connection back to the pool (closed instead if that fails).
    async fn roll_back(mut self) {
        if let Some(client) = self.client.take() {
            roll_back(client).await;
        }
    }
}

/// `statement` behind a guard that fails outside a transaction block, sent as one simple query:
/// PostgreSQL runs a query's statements in order and skips the rest at the first error, and
/// `SAVEPOINT` is an error unless a transaction block is open (an explicit one: a multi-statement
/// query's implicit block does not count). Released at once, it leaves no subtransaction for
/// the statement to write in. Zeroized, as the statement may carry the password.
fn guarded(statement: &str) -> Zeroizing<String> {
    const GUARD: &str = "SAVEPOINT leasehold_guard; RELEASE SAVEPOINT leasehold_guard;\n";
    // Sized up front: growing would leave a copy of the password in freed memory.
    let mut query = Zeroizing::new(String::with_capacity(GUARD.len() + statement.len()));
    query.push_str(GUARD);
    query.push_str(statement);
    query
}

/// A call on a transaction already committed or rolled back (a bug of ours, never the target's).
fn closed() -> Failed {
    Failed::before_changes(DriverError::Rejected(
        "the creation's transaction is already closed".into(),
    ))
}

async fn roll_back(client: Object) {
    if client.batch_execute("ROLLBACK").await.is_err() {
        drop(Object::take(client));
    }
}

#[async_trait]
impl PendingUser for OpenCreate {
    async fn commit(self: Box<Self>) -> Result<(), DriverError> {
        (*self).commit_now().await.map_err(|failed| failed.error)
    }
}

/// Dropped open (the lease row could not be written, the request was cancelled): rolled back
/// before its connection serves anyone else; without a runtime to do that on, the connection is
/// closed, which rolls it back too.
impl Drop for OpenCreate {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(roll_back(client))),
                Err(_) => drop(Object::take(client)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_postgres::error::SqlState;

    use super::guarded;
    use crate::dialect::quote_ident;

    /// A superuser session, and a role name with the guarded statement that would create it.
    async fn setup(what: &str) -> (tokio_postgres::Client, String, String) {
        let cluster = leasehold_testkit::PgCluster::shared().await;
        let admin = cluster.admin("postgres").await.unwrap();
        let role = format!("v-guard-{what}-{}", std::process::id());
        let create = format!("CREATE ROLE {} LOGIN", quote_ident(&role));
        (admin, role, create)
    }

    async fn exists(admin: &tokio_postgres::Client, role: &str) -> bool {
        admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .unwrap()
            .is_some()
    }

    /// What makes pipelining BEGIN safe: with no transaction open (BEGIN failed), a guarded
    /// statement stops at its guard, and what it would have made does not exist.
    #[tokio::test]
    async fn a_guarded_statement_does_not_run_outside_a_transaction_block() {
        let (admin, role, create) = setup("outside").await;

        let err = admin.batch_execute(&guarded(&create)).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION),
            "{err}"
        );
        assert!(!exists(&admin, &role).await, "the guarded statement ran");
        // Nor in the aborted state BEGIN itself fails in: nothing runs there either.
        admin.batch_execute("BEGIN; SELECT 1/0").await.unwrap_err();
        assert!(admin.batch_execute(&guarded(&create)).await.is_err());
        admin.batch_execute("ROLLBACK").await.unwrap();
        assert!(!exists(&admin, &role).await, "the guarded statement ran");
    }

    /// Inside a transaction block the guard is invisible: the statement runs in the
    /// transaction itself (no subtransaction left open), and rolls back with it.
    #[tokio::test]
    async fn a_guarded_statement_runs_in_the_open_transaction() {
        let (admin, role, create) = setup("inside").await;

        admin.batch_execute("BEGIN").await.unwrap();
        admin.batch_execute(&guarded(&create)).await.unwrap();
        assert!(exists(&admin, &role).await);
        // No savepoint is left behind to roll back to: the guard released its own.
        let err = admin
            .batch_execute("ROLLBACK TO SAVEPOINT leasehold_guard")
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::S_E_INVALID_SPECIFICATION),
            "{err}"
        );
        admin.batch_execute("ROLLBACK").await.unwrap();
        assert!(
            !exists(&admin, &role).await,
            "rolled back with the transaction"
        );
    }
}
