//! A creation left open: the new user's transaction with every statement run and no COMMIT yet.
//! The lease engine commits it once the lease row naming the user is on disk, so that wait
//! overlaps the database's work (the statements, the password's SCRAM hashing) while the user
//! still never exists without its row: until COMMIT nothing of it is visible, and a crash, a
//! dropped connection or a dropped [`OpenCreate`] rolls it back.
//!
//! The one-step creation is the same transaction committed at once.
//!
//! BEGIN is answered before the statements go out: were it to fail, statements pipelined
//! behind it would run (and commit) one by one outside any transaction.

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
    /// pipelined after BEGIN (one round trip). A failure leaves nothing: it is rolled back.
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
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| Failed::before_changes(from_pg("cannot begin a transaction", &e)))?;
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
        let backstop = valid_until(username, expiration);
        let name: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&username];
        // Requests polled together go out pipelined and PostgreSQL runs them in order.
        let (existing, statements, backstop) = tokio::join!(
            client.query_opt(lookup, &name),
            futures_util::future::join_all(creation.iter().map(|s| client.batch_execute(s))),
            client.batch_execute(&backstop),
        );
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
