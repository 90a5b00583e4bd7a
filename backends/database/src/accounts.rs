//! A [`Target`] as a [`Driver`]: everything about users that is the same on every database.
//!
//! - Values are checked before anything runs: names against the dialect's limits, passwords
//!   against the characters its literals cannot hold.
//! - Statements are prepared (split, filled) before any change, so a bad template fails first.
//! - Creation is atomic: an attempt aborted by a concurrent transaction runs again (within
//!   [`crate::retry::BUDGET`]); a failure that may have made something runs the rollback
//!   statements (best effort) and destroys the user by the revocation path.
//! - Destruction attempts run again while they fail transiently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::dialect::{Dialect, Values};
use crate::driver::{
    DeleteUser, Driver, DriverError, NewUser, PendingUser, UpdateExpiry, UpdatePassword,
};
use crate::render::{check_password, check_username};
use crate::retry::retrying;
use crate::target::Target;
use crate::Revoked;

/// The [`Driver`] the engine uses for `target`.
pub fn driver<T: Target>(target: T) -> Arc<dyn Driver> {
    Arc::new(Accounts(target))
}

/// Destroy `username` by the target's attempts, run again while they fail transiently.
///
/// The sessions reported are those every attempt ended, the failed ones included: an attempt
/// that ended sessions and then collided did end them, and the attempt that succeeds finds
/// none left. When the successful attempt found no user at all (`None`), sessions an earlier
/// attempt ended are still reported. A target whose failed attempt signalled sessions waits
/// for them to exit before failing, so that the next attempt does not find them exiting and
/// count them again (PostgreSQL does).
pub async fn destroy<T: Target + ?Sized>(
    target: &T,
    username: &str,
    custom: &[Zeroizing<String>],
    heir: Option<&str>,
) -> Result<Revoked, DriverError> {
    let earlier = AtomicU64::new(0);
    let earlier = &earlier;
    let done = retrying(&format!("revocation of {username}"), move || async move {
        target
            .destroy(username, custom, heir)
            .await
            .inspect_err(|f| {
                earlier.fetch_add(f.sessions_terminated, Ordering::Relaxed);
            })
    })
    .await
    .map_err(|f| f.error)?;
    Ok(with_earlier(done, earlier.load(Ordering::Relaxed)))
}

/// `done` (the successful attempt's report) with `earlier` sessions that failed attempts ended.
/// A receipt the attempt brought (its own read-back of the user list) is kept.
fn with_earlier(done: Revoked, earlier: u64) -> Revoked {
    match (done.sessions_terminated, earlier) {
        (_, 0) => done,
        (n, e) => Revoked {
            sessions_terminated: Some(n.unwrap_or(0).saturating_add(e)),
            verified: done.verified,
        },
    }
}

/// What a destruction receipt says: `catalog` (the database's user list) has no `username`.
/// One wording for the receipts [`Accounts`] asks for and those a driver's batch reads back.
pub fn gone_from(catalog: &str, username: &str) -> String {
    format!("{catalog} has no user {username:?}")
}

struct Accounts<T>(T);

/// Statements prepared for one user (placeholders filled, secrets in them zeroized when dropped).
type Statements = Vec<Zeroizing<String>>;

impl<T: Target> Accounts<T> {
    fn dialect(&self) -> &dyn Dialect {
        self.0.dialect()
    }

    /// The destruction receipt: after a revocation said the user is gone, ask the database's
    /// own user list. Still listed is a failed destruction (whatever the statements claimed);
    /// absent is the proof the receipt records. A list that cannot be read leaves the
    /// revocation unproven, not failed: the destruction's own answer stands.
    /// A target that read the list back itself (a batch of revocations asks once for all its
    /// users) brings its receipt, and is not asked again.
    async fn receipt(&self, username: &str, revoked: Revoked) -> Result<Revoked, DriverError> {
        if revoked.verified.is_some() {
            return Ok(revoked);
        }
        match self.0.user_exists(username).await {
            Ok(true) => Err(DriverError::NotRemoved(format!(
                "user {username:?} is still in {} after its revocation",
                self.dialect().user_catalog()
            ))),
            Ok(false) => {
                Ok(revoked.verified_by(gone_from(self.dialect().user_catalog(), username)))
            }
            Err(e) => {
                tracing::warn!(db.user = %username, error = %e,
                    "revoked {username} but could not read the user list to prove it gone");
                Ok(revoked)
            }
        }
    }

    /// A new user's values checked and its statements prepared (creation, rollback), before
    /// anything runs: a bad name, password or template fails here.
    fn creation(&self, req: &NewUser<'_>) -> Result<(Statements, Statements), DriverError> {
        let dialect = self.dialect();
        check_username(req.username, dialect.max_username_len())?;
        check_password(req.password, dialect.unusable_password_chars())?;
        let values = Values {
            name: req.username,
            password: Some(req.password),
            expiration: Some(req.expiration),
        };
        let creation = dialect.prepare(req.creation_statements, &values)?;
        if creation.is_empty() && !dialect.creates_without_statements() {
            return Err(DriverError::Refused("empty creation statements".into()));
        }
        let rollback = dialect.prepare(req.rollback_statements, &values)?;
        Ok((creation, rollback))
    }

    /// After a failed creation: rollback statements (best effort, each on its own), then make
    /// sure the user does not exist.
    async fn undo_create(
        &self,
        username: &str,
        rollback: &[Zeroizing<String>],
    ) -> Result<(), DriverError> {
        let connection = self.0.connection();
        if !rollback.is_empty() {
            match self.0.execute_each(rollback).await {
                Ok(outcomes) => {
                    for e in outcomes.into_iter().filter_map(Result::err) {
                        tracing::warn!(
                            db.connection = %connection,
                            db.user = %username,
                            "rollback statement failed (continuing): {e}"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(db.connection = %connection, "cannot run rollback statements: {e}")
                }
            }
        }
        destroy(&self.0, username, &[], None).await.map(drop)
    }
}

#[async_trait]
impl<T: Target> Driver for Accounts<T> {
    #[tracing::instrument(level = "debug", skip_all, fields(db.connection = %self.0.connection()))]
    async fn verify(&self) -> Result<(), DriverError> {
        self.0.verify().await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.connection = %self.0.connection(), db.user = %req.username))]
    async fn new_user(&self, req: NewUser<'_>) -> Result<(), DriverError> {
        let (creation, rollback) = self.creation(&req)?;
        let outcome: Result<(), _> = retrying(&format!("creation of {}", req.username), || {
            self.0
                .create(req.username, req.password, &creation, req.expiration)
        })
        .await;
        let Err(failed) = outcome else {
            return Ok(());
        };
        if !failed.may_exist {
            return Err(failed.error);
        }
        let error = failed.error;
        if let Err(cleanup) = self.undo_create(req.username, &rollback).await {
            // The lease row exists, so the core will revoke (and retry) this user; say both
            // what failed and that the user may still be there.
            return Err(DriverError::Rejected(format!(
                "{error}; removing the half-made user also failed: {cleanup}"
            )));
        }
        Err(error)
    }

    fn prepares_users(&self) -> bool {
        self.0.prepares_users()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.connection = %self.0.connection(), db.user = %req.username))]
    async fn prepare_user(
        &self,
        req: NewUser<'_>,
    ) -> Result<Option<Box<dyn PendingUser>>, DriverError> {
        let (creation, _) = self.creation(&req)?;
        // Nothing is committed before the pending user is: a failed attempt left nothing to
        // undo (no rollback statements), and one a concurrent transaction aborted runs again.
        retrying(&format!("creation of {}", req.username), || {
            self.0
                .begin_create(req.username, req.password, &creation, req.expiration)
        })
        .await
        .map_err(|failed| failed.error)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.connection = %self.0.connection(), db.user = %req.username))]
    async fn update_expiry(&self, req: UpdateExpiry<'_>) -> Result<(), DriverError> {
        let dialect = self.dialect();
        check_username(req.username, dialect.max_existing_username_len())?;
        let values = Values {
            name: req.username,
            password: None,
            expiration: Some(req.expiration),
        };
        let renew = dialect.prepare(req.renew_statements, &values)?;
        self.0.renew(req.username, &renew, req.expiration).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.connection = %self.0.connection(), db.user = %req.username))]
    async fn delete_user(&self, req: DeleteUser<'_>) -> Result<Revoked, DriverError> {
        let dialect = self.dialect();
        check_username(req.username, dialect.max_existing_username_len())?;
        let values = Values {
            name: req.username,
            password: None,
            expiration: None,
        };
        let custom = dialect.prepare(req.revocation_statements, &values)?;
        let revoked = self
            .0
            .revoke(req.username, &custom, req.reassign_owned_to)
            .await?;
        self.receipt(req.username, revoked).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.connection = %self.0.connection(), db.user = %req.username))]
    async fn update_password(&self, req: UpdatePassword<'_>) -> Result<(), DriverError> {
        let dialect = self.dialect();
        check_username(req.username, dialect.max_existing_username_len())?;
        check_password(req.password, dialect.unusable_password_chars())?;
        let values = Values {
            name: req.username,
            password: Some(req.password),
            expiration: None,
        };
        let statements = dialect.prepare(req.statements, &values)?;
        self.0
            .set_password(req.username, req.password, &statements)
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.connection = %self.0.connection()))]
    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
        self.0.list_users(prefix).await
    }

    fn max_username_len(&self) -> usize {
        self.dialect().max_username_len()
    }

    fn unusable_password_chars(&self) -> &'static [char] {
        self.dialect().unusable_password_chars()
    }

    fn creates_without_statements(&self) -> bool {
        self.dialect().creates_without_statements()
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::{DateTime, Utc};
    use secrecy::SecretString;

    use super::*;
    use crate::target::Failed;

    struct Plain;

    impl Dialect for Plain {
        fn max_username_len(&self) -> usize {
            63
        }
        fn format_expiration(&self, at: DateTime<Utc>) -> String {
            at.to_rfc3339()
        }
        fn split_statements(&self, text: &str) -> Result<Vec<String>, String> {
            Ok(vec![text.to_owned()])
        }
    }

    /// A target whose destruction attempts answer, in turn, what the test scripted, and whose
    /// user list holds the given names.
    struct Scripted(Mutex<Vec<Result<Revoked, Failed>>>, Vec<String>);

    #[async_trait]
    impl Target for Scripted {
        fn dialect(&self) -> &dyn Dialect {
            &Plain
        }
        fn connection(&self) -> &str {
            "scripted"
        }
        async fn verify(&self) -> Result<(), DriverError> {
            Ok(())
        }
        async fn create(
            &self,
            _: &str,
            _: &SecretString,
            _: &[Zeroizing<String>],
            _: DateTime<Utc>,
        ) -> Result<(), Failed> {
            Ok(())
        }
        async fn execute_each(
            &self,
            _: &[Zeroizing<String>],
        ) -> Result<Vec<Result<(), DriverError>>, DriverError> {
            Ok(Vec::new())
        }
        async fn renew(
            &self,
            _: &str,
            _: &[Zeroizing<String>],
            _: DateTime<Utc>,
        ) -> Result<(), DriverError> {
            Ok(())
        }
        async fn set_password(
            &self,
            _: &str,
            _: &SecretString,
            _: &[Zeroizing<String>],
        ) -> Result<(), DriverError> {
            Ok(())
        }
        async fn destroy(
            &self,
            _: &str,
            _: &[Zeroizing<String>],
            _: Option<&str>,
        ) -> Result<Revoked, Failed> {
            self.0.lock().unwrap().remove(0)
        }
        async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
            Ok(self
                .1
                .iter()
                .filter(|u| u.starts_with(prefix))
                .cloned()
                .collect())
        }
        async fn close(&self) {}
    }

    async fn delete_listing(listed: &[&str]) -> Result<Revoked, DriverError> {
        let target = Scripted(
            Mutex::new(vec![Ok(Revoked::sessions(0))]),
            listed.iter().map(|u| (*u).to_owned()).collect(),
        );
        Accounts(target)
            .delete_user(DeleteUser {
                username: "v-x",
                revocation_statements: &[],
                reassign_owned_to: None,
            })
            .await
    }

    #[tokio::test]
    async fn a_revocation_is_proved_by_the_user_list_or_fails() {
        // Gone from the list (a longer name with the same start is someone else): the receipt.
        let proved = delete_listing(&["v-x2"]).await.unwrap();
        assert_eq!(proved.sessions_terminated, Some(0));
        assert_eq!(
            proved.verified.as_deref(),
            Some("the user list has no user \"v-x\"")
        );
        // Still listed, whatever the statements said: a failed destruction, retried.
        let err = delete_listing(&["v-x"]).await.unwrap_err();
        assert!(matches!(err, DriverError::NotRemoved(_)), "{err}");
    }

    fn collided_after_ending(n: u64) -> Result<Revoked, Failed> {
        Err(
            Failed::after_changes(DriverError::Rejected("tuple concurrently updated".into()))
                .transient_if(true)
                .after_ending(n),
        )
    }

    async fn revoke(script: Vec<Result<Revoked, Failed>>) -> Revoked {
        destroy(&Scripted(Mutex::new(script), Vec::new()), "v-x", &[], None)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn sessions_ended_by_a_collided_attempt_are_counted_with_the_retry() {
        // The retry found the rest.
        let script = vec![collided_after_ending(2), Ok(Revoked::sessions(1))];
        assert_eq!(revoke(script).await, Revoked::sessions(3));
        // The retry found the user gone: what the first attempt ended is still known.
        let script = vec![collided_after_ending(2), Ok(Revoked::unknown())];
        assert_eq!(revoke(script).await, Revoked::sessions(2));
        // Nothing ended before the collision: the retry's answer as it is.
        let script = vec![collided_after_ending(0), Ok(Revoked::unknown())];
        assert_eq!(revoke(script).await, Revoked::unknown());
        let script = vec![Ok(Revoked::sessions(0))];
        assert_eq!(revoke(script).await, Revoked::sessions(0));
    }
}
