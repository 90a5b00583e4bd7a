//! [`PgDriver`]: one pool to one PostgreSQL database, and the user operations on it.
//!
//! Creation is one transaction: the role's statements, then always
//! `ALTER ROLE ... VALID UNTIL '<expiration>'`, the database's own backstop should every other
//! guard fail (and should a template forget it). If anything fails, the transaction is rolled
//! back and the engine (`leasehold_database::accounts`) runs the rollback statements and
//! destroys the user by the same path as a revocation, which is a no-op when it does not exist.
//! That last step matters when the failure was at COMMIT: a lost connection leaves the outcome
//! unknown. A create or destroy aborted by a concurrent transaction is reported transient, and
//! the engine runs it again.
//!
//! Deletion lives in `revoke.rs`; default revocations that arrive together are batched by
//! `batch.rs`.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use leasehold_database::{Dialect, DriverError, Failed, PendingUser, Revoked, Target};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

use crate::batch;
use crate::dialect::{quote_ident, PgDialect};
use crate::error::{from_pg, from_pool, is_transient};
use crate::open_create::OpenCreate;

/// A pooled connection to one configured database.
pub struct PgDriver {
    pool: Pool,
    /// The connection's name, for logs.
    connection: String,
    /// Where default revocations queue to be destroyed in batches (`batch`); started on the
    /// first one.
    batcher: OnceLock<mpsc::UnboundedSender<batch::Job>>,
}

/// A failure inside the creating transaction, transient when a concurrent one caused it.
pub(crate) fn in_transaction(context: &str, e: &tokio_postgres::Error) -> Failed {
    Failed::after_changes(from_pg(context, e)).transient_if(is_transient(e))
}

/// The backstop every creation and renewal sets: the role's own expiry.
pub(crate) fn valid_until(username: &str, expiration: DateTime<Utc>) -> String {
    format!(
        "ALTER ROLE {} VALID UNTIL '{}'",
        quote_ident(username),
        PgDialect.format_expiration(expiration)
    )
}

impl PgDriver {
    pub(crate) fn new(pool: Pool, connection: String) -> Self {
        Self {
            pool,
            connection,
            batcher: OnceLock::new(),
        }
    }

    /// The same pool without the batcher: what the batching task destroys with. (Holding the
    /// driver itself would keep its own queue open forever.)
    fn unbatched(&self) -> Self {
        Self::new(self.pool.clone(), self.connection.clone())
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, DriverError> {
        self.pool.get().await.map_err(from_pool)
    }

    /// Run `statements` in one transaction; `what` names them in errors.
    async fn in_one_transaction(
        &self,
        statements: &[Zeroizing<String>],
        what: &str,
        commit: &str,
    ) -> Result<(), DriverError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| from_pg("cannot begin a transaction", &e))?;
        for statement in statements {
            tx.batch_execute(statement)
                .await
                .map_err(|e| from_pg(what, &e))?;
        }
        tx.commit().await.map_err(|e| from_pg(commit, &e))
    }
}

#[async_trait]
impl Target for PgDriver {
    fn dialect(&self) -> &dyn Dialect {
        &PgDialect
    }

    fn connection(&self) -> &str {
        &self.connection
    }

    async fn verify(&self) -> Result<(), DriverError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| from_pg("the database did not answer", &e))?;
        Ok(())
    }

    async fn create(
        &self,
        username: &str,
        _password: &SecretString,
        creation: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<(), Failed> {
        OpenCreate::begin(self, username, creation, expiration)
            .await?
            .commit_now()
            .await
    }

    fn prepares_users(&self) -> bool {
        true
    }

    async fn begin_create(
        &self,
        username: &str,
        _password: &SecretString,
        creation: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<Option<Box<dyn PendingUser>>, Failed> {
        let open = OpenCreate::begin(self, username, creation, expiration).await?;
        Ok(Some(Box::new(open)))
    }

    async fn execute_each(
        &self,
        statements: &[Zeroizing<String>],
    ) -> Result<Vec<Result<(), DriverError>>, DriverError> {
        let client = self.client().await?;
        let mut outcomes = Vec::with_capacity(statements.len());
        for statement in statements {
            outcomes.push(
                client
                    .batch_execute(statement)
                    .await
                    .map_err(|e| from_pg("rollback statement", &e)),
            );
        }
        Ok(outcomes)
    }

    async fn renew(
        &self,
        username: &str,
        renew: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<(), DriverError> {
        // Always move the backstop too: creation set it, so renew statements that forget it
        // would leave the user expiring at its first expiry.
        let mut statements = renew.to_vec();
        statements.push(Zeroizing::new(valid_until(username, expiration)));
        self.in_one_transaction(
            &statements,
            "renew statement failed",
            "cannot commit the renewal",
        )
        .await
    }

    async fn set_password(
        &self,
        username: &str,
        password: &SecretString,
        statements: &[Zeroizing<String>],
    ) -> Result<(), DriverError> {
        let default;
        let statements = if statements.is_empty() {
            default = [Zeroizing::new(format!(
                "ALTER ROLE {} WITH PASSWORD '{}'",
                quote_ident(username),
                password.expose_secret()
            ))];
            &default[..]
        } else {
            statements
        };
        self.in_one_transaction(
            statements,
            "password statement failed",
            "cannot commit the new password",
        )
        .await
    }

    async fn destroy(
        &self,
        username: &str,
        custom: &[Zeroizing<String>],
        heir: Option<&str>,
    ) -> Result<Revoked, Failed> {
        self.destroy_once(username, custom, heir).await
    }

    /// Custom statements run one user at a time; default revocations queue for `batch`.
    async fn revoke(
        &self,
        username: &str,
        custom: &[Zeroizing<String>],
        heir: Option<&str>,
    ) -> Result<Revoked, DriverError> {
        if !custom.is_empty() {
            return leasehold_database::accounts::destroy(self, username, custom, heir).await;
        }
        let queue = self
            .batcher
            .get_or_init(|| batch::spawn(Arc::new(self.unbatched())));
        let (done, answer) = oneshot::channel();
        let job = batch::Job {
            username: username.to_owned(),
            heir: heir.map(str::to_owned),
            done,
        };
        if queue.send(job).is_err() {
            return leasehold_database::accounts::destroy(self, username, custom, heir).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(DriverError::Unreachable(
                "the revocation was dropped before it finished; it will be retried".into(),
            ))
        })
    }

    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
        let client = self.client().await?;
        // LIKE treats % and _ as wildcards; escape them so the prefix is taken literally.
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = client
            .query(
                "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1",
                &[&pattern],
            )
            .await
            .map_err(|e| from_pg("cannot list roles", &e))?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    /// An exact lookup by the catalog's unique index on the name: the prefix listing above
    /// reads every role (`LIKE` on a `name` column), 10,000 of them per receipt in a burst.
    async fn user_exists(&self, username: &str) -> Result<bool, DriverError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(USER_EXISTS)
            .await
            .map_err(|e| from_pg("cannot look up the user", &e))?;
        let row = client
            .query_opt(&statement, &[&username])
            .await
            .map_err(|e| from_pg("cannot look up the user", &e))?;
        Ok(row.is_some())
    }

    async fn close(&self) {
        self.pool.close();
    }
}

/// Whether a role named `$1` exists (one row, or none).
pub(crate) const USER_EXISTS: &str = "SELECT 1 FROM pg_roles WHERE rolname = $1";
