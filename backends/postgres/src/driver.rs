//! [`PgDriver`]: one pool to one PostgreSQL database, and the user operations on it.
//!
//! Creation is one transaction: the role's statements, then always
//! `ALTER ROLE ... VALID UNTIL '<expiration>'`, the database's own backstop should every other
//! guard fail (and should a template forget it). If anything fails, the transaction is rolled
//! back, the rollback statements run (best effort), and the user is destroyed by the same path as
//! a revocation, which is a no-op when it does not exist. That last step matters when the failure
//! was at COMMIT: a lost connection leaves the outcome unknown.
//!
//! Deletion lives in `revoke.rs`; default revocations that arrive together are batched by
//! `batch.rs`.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use leasehold_database::{DeleteUser, Driver, DriverError, NewUser, UpdateExpiry, UpdatePassword};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

use crate::batch;
use crate::error::{from_pg, from_pool, is_transient};
use crate::render::{
    check_password, check_username, format_expiration, quote_ident, render, Values,
    MAX_IDENTIFIER_LEN,
};
use crate::retry;
use crate::statements::split_statements;

/// A pooled connection to one configured database.
pub struct PgDriver {
    pool: Pool,
    /// The connection's name, for logs.
    connection: String,
    /// Where default revocations queue to be destroyed in batches (`batch`); started on the
    /// first one.
    batcher: OnceLock<mpsc::UnboundedSender<batch::Job>>,
}

/// Why a creation failed, and whether anything may have been made that must be cleaned up.
struct CreateFailure {
    error: DriverError,
    may_exist: bool,
    /// Aborted by a concurrent transaction: nothing was committed, so the whole create may run
    /// again.
    transient: bool,
}

impl CreateFailure {
    fn before_any_change(error: DriverError) -> Self {
        Self {
            error,
            may_exist: false,
            transient: false,
        }
    }

    fn after_changes(error: DriverError) -> Self {
        Self {
            error,
            may_exist: true,
            transient: false,
        }
    }

    /// A failure inside the creating transaction, transient when a concurrent one caused it.
    fn in_transaction(context: &str, e: &tokio_postgres::Error) -> Self {
        Self {
            transient: is_transient(e),
            ..Self::after_changes(from_pg(context, e))
        }
    }
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

    /// The default revocation of one user, now, on its own.
    pub(crate) async fn destroy_default(
        &self,
        username: &str,
        heir: Option<&str>,
    ) -> Result<(), DriverError> {
        self.destroy(&DeleteUser {
            username,
            revocation_statements: &[],
            reassign_owned_to: heir,
        })
        .await
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, DriverError> {
        self.pool.get().await.map_err(from_pool)
    }

    async fn create(
        &self,
        username: &str,
        creation: &[Zeroizing<String>],
        expiration: DateTime<Utc>,
    ) -> Result<(), CreateFailure> {
        let mut client = self
            .client()
            .await
            .map_err(CreateFailure::before_any_change)?;
        let tx = client.transaction().await.map_err(|e| {
            CreateFailure::before_any_change(from_pg("cannot begin a transaction", &e))
        })?;
        // Everything after BEGIN goes out pipelined (tokio-postgres sends requests polled
        // together without waiting for each answer) and PostgreSQL runs it in order: one round
        // trip instead of one per statement. Nothing is committed until every answer is in.
        let lookup = tx
            .prepare_cached("SELECT 1 FROM pg_roles WHERE rolname = $1")
            .await
            .map_err(|e| {
                CreateFailure::before_any_change(from_pg("cannot look up the user", &e))
            })?;
        let backstop = format!(
            "ALTER ROLE {} VALID UNTIL '{}'",
            quote_ident(username),
            format_expiration(expiration)
        );
        let name: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&username];
        let (existing, statements, backstop) = tokio::join!(
            tx.query_opt(&lookup, &name),
            futures_util::future::join_all(creation.iter().map(|s| tx.batch_execute(s))),
            tx.batch_execute(&backstop),
        );
        // A user of this name that existed before this transaction belongs to someone else
        // (another lease, or an operator): whatever the statements did to it is rolled back
        // with the transaction, and failing must not lead to dropping it.
        let existing = existing.map_err(|e| {
            CreateFailure::before_any_change(from_pg("cannot look up the user", &e))
        })?;
        if existing.is_some() {
            return Err(CreateFailure::before_any_change(DriverError::Rejected(
                format!("user {username:?} already exists; refusing to create or change it"),
            )));
        }
        // The first failure is the cause; later statements only report the aborted transaction.
        for (i, result) in statements.into_iter().enumerate() {
            result.map_err(|e| {
                CreateFailure::in_transaction(&format!("creation statement {} failed", i + 1), &e)
            })?;
        }
        backstop.map_err(|e| CreateFailure::in_transaction("cannot set the user's expiry", &e))?;
        tx.commit()
            .await
            .map_err(|e| CreateFailure::in_transaction("cannot commit the new user", &e))
    }

    /// After a failed creation: rollback statements (best effort, each on its own), then make
    /// sure the user does not exist.
    async fn undo_create(
        &self,
        username: &str,
        rollback: &[Zeroizing<String>],
    ) -> Result<(), DriverError> {
        if !rollback.is_empty() {
            match self.client().await {
                Ok(client) => {
                    for statement in rollback {
                        if let Err(e) = client.batch_execute(statement).await {
                            tracing::warn!(
                                db.connection = %self.connection,
                                db.user = %username,
                                "rollback statement failed (continuing): {}",
                                from_pg("rollback statement", &e)
                            );
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(db.connection = %self.connection, "cannot run rollback statements: {e}")
                }
            }
        }
        self.destroy(&DeleteUser {
            username,
            revocation_statements: &[],
            reassign_owned_to: None,
        })
        .await
    }
}

/// Split each statement string and fill in the values; nothing touches the database yet, so a
/// bad template fails before any change.
pub(crate) fn prepare(
    statements: &[String],
    values: &Values<'_>,
) -> Result<Vec<Zeroizing<String>>, DriverError> {
    let mut out = Vec::new();
    for text in statements {
        let pieces = split_statements(text)
            .map_err(|e| DriverError::Refused(format!("cannot split statements: {e}")))?;
        for piece in pieces {
            out.push(render(&piece, values)?);
        }
    }
    Ok(out)
}

#[async_trait]
impl Driver for PgDriver {
    #[tracing::instrument(skip_all, fields(db.connection = %self.connection))]
    async fn verify(&self) -> Result<(), DriverError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| from_pg("the database did not answer", &e))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn new_user(&self, req: NewUser<'_>) -> Result<(), DriverError> {
        check_username(req.username)?;
        check_password(req.password)?;
        let values = Values {
            name: req.username,
            password: Some(req.password),
            expiration: Some(req.expiration),
        };
        let creation = prepare(req.creation_statements, &values)?;
        if creation.is_empty() {
            return Err(DriverError::Refused("empty creation statements".into()));
        }
        let rollback = prepare(req.rollback_statements, &values)?;
        let mut attempt: u32 = 1;
        let deadline = tokio::time::Instant::now() + retry::BUDGET;
        let outcome = loop {
            match self.create(req.username, &creation, req.expiration).await {
                // The transaction was rolled back whole.
                Err(f) if f.transient && tokio::time::Instant::now() < deadline => {
                    retry::back_off(attempt).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(CreateFailure {
                error,
                may_exist: false,
                ..
            }) => Err(error),
            Err(CreateFailure {
                error,
                may_exist: true,
                ..
            }) => {
                if let Err(cleanup) = self.undo_create(req.username, &rollback).await {
                    // The lease row exists, so the core will revoke (and retry) this user; say
                    // both what failed and that the user may still be there.
                    return Err(DriverError::Rejected(format!(
                        "{error}; removing the half-made user also failed: {cleanup}"
                    )));
                }
                Err(error)
            }
        }
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn update_expiry(&self, req: UpdateExpiry<'_>) -> Result<(), DriverError> {
        check_username(req.username)?;
        let values = Values {
            name: req.username,
            password: None,
            expiration: Some(req.expiration),
        };
        let mut statements = prepare(req.renew_statements, &values)?;
        // Always move the backstop too: creation set it, so renew statements that forget it
        // would leave the user expiring at its first expiry.
        statements.push(Zeroizing::new(format!(
            "ALTER ROLE {} VALID UNTIL '{}'",
            quote_ident(req.username),
            format_expiration(req.expiration)
        )));
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| from_pg("cannot begin a transaction", &e))?;
        for statement in &statements {
            tx.batch_execute(statement)
                .await
                .map_err(|e| from_pg("renew statement failed", &e))?;
        }
        tx.commit()
            .await
            .map_err(|e| from_pg("cannot commit the renewal", &e))
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn delete_user(&self, req: DeleteUser<'_>) -> Result<(), DriverError> {
        if !req.revocation_statements.is_empty() {
            return self.destroy(&req).await;
        }
        check_username(req.username)?;
        let queue = self
            .batcher
            .get_or_init(|| batch::spawn(Arc::new(self.unbatched())));
        let (done, answer) = oneshot::channel();
        let job = batch::Job {
            username: req.username.to_owned(),
            heir: req.reassign_owned_to.map(str::to_owned),
            done,
        };
        if queue.send(job).is_err() {
            return self.destroy(&req).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(DriverError::Unreachable(
                "the revocation was dropped before it finished; it will be retried".into(),
            ))
        })
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection, db.user = %req.username))]
    async fn update_password(&self, req: UpdatePassword<'_>) -> Result<(), DriverError> {
        check_username(req.username)?;
        check_password(req.password)?;
        let values = Values {
            name: req.username,
            password: Some(req.password),
            expiration: None,
        };
        let mut statements = prepare(req.statements, &values)?;
        if statements.is_empty() {
            statements.push(Zeroizing::new(format!(
                "ALTER ROLE {} WITH PASSWORD '{}'",
                quote_ident(req.username),
                req.password.expose_secret()
            )));
        }
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| from_pg("cannot begin a transaction", &e))?;
        for statement in &statements {
            tx.batch_execute(statement)
                .await
                .map_err(|e| from_pg("password statement failed", &e))?;
        }
        tx.commit()
            .await
            .map_err(|e| from_pg("cannot commit the new password", &e))
    }

    #[tracing::instrument(skip_all, fields(db.connection = %self.connection))]
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

    fn max_username_len(&self) -> usize {
        MAX_IDENTIFIER_LEN
    }

    fn unusable_password_chars(&self) -> &'static [char] {
        crate::render::UNUSABLE_PASSWORD_CHARS
    }

    async fn close(&self) {
        self.pool.close();
    }
}
