//! The driver conformance suite: what every driver promises the engine, checked against its
//! real server. Each case is a generic async function over a [`Fixture`] (the driver and what
//! the test can ask its server directly); a driver crate runs them all with one line in its
//! tests, `leasehold_database::conformance_suite!(fixture().await);`, which makes one test per
//! case. Built with the `harness` feature.
//!
//! The cases: an issued user logs in (and a wrong password does not) until it is revoked, and
//! not after; revoking ends the sessions it had open; deleting is idempotent (a user that never
//! existed, or is already gone, is success); revoking says how many sessions it ended (one
//! open session: one; none open: zero; no such user: unknown); setting a password, as a static-role rotation
//! does, makes the new one work and the old one fail. The engine-level scenarios (static roles,
//! rotate-root, crash recovery) are in [`crate::harness`].
// tests read the wall clock to compare against the server's
#![allow(clippy::disallowed_methods)]
// Test helpers: failing loudly, with what failed, is their job.
#![allow(clippy::panic)]

use async_trait::async_trait;
use chrono::{Duration, Utc};
use rand::distributions::{Alphanumeric, DistString};
use secrecy::SecretString;

use crate::driver::{DeleteUser, Driver, NewUser, UpdatePassword};
use crate::Revoked;

/// A driver under test and its server, as the suite needs them.
#[async_trait]
pub trait Fixture: Sync {
    /// A session logged in as an issued user.
    type Session: Send;

    /// The driver under test, opened on the server.
    fn driver(&self) -> &dyn Driver;

    /// Creation statements that make a user who can log in (and, for sessions, run a query).
    fn creation_statements(&self) -> Vec<String>;

    /// A fresh session as `user`, or why none could be opened.
    async fn login(&self, user: &str, password: &SecretString) -> Result<Self::Session, String>;

    /// Whether `session` can still run a query.
    async fn alive(&self, session: &mut Self::Session) -> bool;

    /// Whether the server has an account named `user`.
    async fn has_user(&self, user: &str) -> bool;
}

/// One `#[tokio::test]` per case of [`crate::suite`], each on its own fixture from `$fixture`
/// (an expression, awaited inside the test if it needs to be: `Target::new().await`).
#[macro_export]
macro_rules! conformance_suite {
    ($fixture:expr) => {
        $crate::__conformance_test!(
            $fixture,
            login_until_revoked,
            revoke_ends_open_sessions,
            delete_is_idempotent,
            password_change_replaces_the_old_one,
        );
    };
}

/// Used by [`conformance_suite!`]: the tests themselves.
#[macro_export]
#[doc(hidden)]
macro_rules! __conformance_test {
    ($fixture:expr, $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let fixture = $fixture;
                $crate::suite::$case(&fixture).await;
            }
        )+
    };
}

/// A name every driver accepts (16 characters: the shortest limit, MySQL's legacy one).
fn new_username() -> String {
    let tail = Alphanumeric.sample_string(&mut rand::thread_rng(), 10);
    format!("v-cs-{}", tail.to_lowercase())
}

fn new_password() -> SecretString {
    let tail = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
    SecretString::from(format!("Aa1-{tail}"))
}

async fn create<F: Fixture>(f: &F, user: &str, password: &SecretString) {
    let statements = f.creation_statements();
    f.driver()
        .new_user(NewUser {
            username: user,
            password,
            expiration: Utc::now() + Duration::hours(1),
            creation_statements: &statements,
            rollback_statements: &[],
        })
        .await
        .unwrap_or_else(|e| panic!("creating {user}: {e}"));
}

async fn delete<F: Fixture>(f: &F, user: &str) -> Revoked {
    f.driver()
        .delete_user(DeleteUser {
            username: user,
            revocation_statements: &[],
            reassign_owned_to: None,
        })
        .await
        .unwrap_or_else(|e| panic!("deleting {user}: {e}"))
}

/// A new user, and a session of it that runs.
async fn issue<F: Fixture>(f: &F) -> (String, SecretString, F::Session) {
    let (user, password) = (new_username(), new_password());
    create(f, &user, &password).await;
    let mut session = f
        .login(&user, &password)
        .await
        .unwrap_or_else(|e| panic!("the issued credential cannot log in: {e}"));
    assert!(f.alive(&mut session).await, "the issued session cannot run");
    (user, password, session)
}

/// An issued user logs in, a wrong password does not; after revocation neither the login nor
/// the account is left.
pub async fn login_until_revoked<F: Fixture>(f: &F) {
    let (user, password, session) = issue(f).await;
    assert!(
        f.login(&user, &new_password()).await.is_err(),
        "a wrong password logs in: the server does not check"
    );
    drop(session);

    delete(f, &user).await;
    assert!(
        f.login(&user, &password).await.is_err(),
        "the revoked user still logs in"
    );
    assert!(!f.has_user(&user).await, "{user} outlived its revocation");
}

/// A session opened before the revocation does not survive it, and the revocation counts it.
pub async fn revoke_ends_open_sessions<F: Fixture>(f: &F) {
    let (user, _, mut session) = issue(f).await;

    let revoked = delete(f, &user).await;
    assert_eq!(
        revoked.sessions_terminated,
        Some(1),
        "one session was open at revocation"
    );
    // The destruction receipt: the database's own user list was read back and had no such user.
    let check = revoked.verified.as_deref().unwrap_or_default();
    assert!(
        check.ends_with(&format!("has no user {user:?}")),
        "no receipt naming {user}: {check:?}"
    );
    assert!(
        !f.alive(&mut session).await,
        "a session survived its user's revocation"
    );
    assert!(!f.has_user(&user).await);
}

/// Deleting a user that never existed, or twice, is success. A user that existed with no
/// session open reports zero sessions ended; one that was not there cannot say (`None`).
pub async fn delete_is_idempotent<F: Fixture>(f: &F) {
    let never = delete(f, &new_username()).await;
    assert_eq!(never.sessions_terminated, None, "no such user: unknown");
    let user = new_username();
    create(f, &user, &new_password()).await;
    let first = delete(f, &user).await;
    assert_eq!(first.sessions_terminated, Some(0), "no session was open");
    let again = delete(f, &user).await;
    assert_eq!(again.sessions_terminated, None, "already gone: unknown");
    assert!(!f.has_user(&user).await);
}

/// Setting a password (the driver's default statements, as a static-role rotation without
/// rotation statements uses): the new one logs in, the old one no longer does.
pub async fn password_change_replaces_the_old_one<F: Fixture>(f: &F) {
    let (user, old) = (new_username(), new_password());
    create(f, &user, &old).await;
    let new = new_password();
    f.driver()
        .update_password(UpdatePassword {
            username: &user,
            password: &new,
            statements: &[],
        })
        .await
        .unwrap_or_else(|e| panic!("setting {user}'s password: {e}"));
    assert!(
        f.login(&user, &old).await.is_err(),
        "the old password still logs in"
    );
    let mut session = f
        .login(&user, &new)
        .await
        .unwrap_or_else(|e| panic!("the new password does not log in: {e}"));
    assert!(f.alive(&mut session).await);
    drop(session);
    delete(f, &user).await;
}
