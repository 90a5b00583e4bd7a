//! Write-ahead password rotation for static roles, shared by create, `rotate-role`,
//! `static-creds` (when overdue) and the scheduled `tick`.
//!
//! A rotation never lets storage and the database disagree about the password without a
//! record that says so:
//!
//! 1. generate the new password and store it, sealed, as the role's **pending** rotation
//!    (`pending-rotation/static-role/<name>`);
//! 2. set it on the database (`Driver::update_password`);
//! 3. **commit**: store it as the role's password, then delete the pending entry.
//!
//! A crash (or a lost answer from the database) after 1 leaves the pending entry, and until it
//! is resolved nobody is handed a password: the database may hold either one. Resolving it
//! sets the pending password again (setting a password is idempotent) and commits it. It
//! happens before any `static-creds` read or rotation of that role, on every `tick`, and once
//! at the first call into the engine after a start.
//!
//! A failed step 2 is sorted by [`is_unknown`]: the driver contract says that an error other
//! than `Unreachable` (or `NotRemoved`) left the old password in place, so the pending entry is
//! dropped and the old password stays good; an `Unreachable` error may have come after the
//! database committed, so the pending entry stays.
//!
//! Every rotation, resolution and read of a role's password runs under one lock per mount
//! ([`Rotations::lock`]): a rotation must never interleave with another or with a read. The
//! lock is a mutex in this process and, through [`MountStorage::lock`], a lock in the storage,
//! so a manual rotation on one server and a scheduled one on another are serialised too.
//!
//! Past 400 lines only because of its tests: one per crash point.

use chrono::{DateTime, Utc};
use leasehold_backend::storage::MountLock;
use leasehold_backend::storage::{get_json, put_json};
use leasehold_backend::MountStorage;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::config;
use crate::connections::Connections;
use crate::driver::{DriverError, UpdatePassword};
use crate::error::DatabaseError;
use crate::static_roles::{self, StaticRoleEntry};

/// Storage folder of pending static-role rotations.
pub(crate) const PENDING_STATIC: &str = "pending-rotation/static-role/";

/// The mount's rotation lock and its once-per-start recovery.
#[derive(Default)]
pub(crate) struct Rotations {
    lock: Mutex<()>,
    recovered: OnceCell<()>,
}

/// Both halves of the rotation lock, released together when dropped.
pub(crate) struct RotationGuard<'a> {
    _local: MutexGuard<'a, ()>,
    _shared: MountLock,
}

/// The storage lock's name within the mount.
const SHARED_LOCK: &str = "rotations";

impl Rotations {
    /// Hold this while rotating, resolving, or reading a static password. The process mutex
    /// first, so this server's callers queue here rather than poll the storage lock.
    pub(crate) async fn lock(
        &self,
        storage: &dyn MountStorage,
    ) -> Result<RotationGuard<'_>, DatabaseError> {
        let local = self.lock.lock().await;
        let shared = storage.lock(SHARED_LOCK).await?;
        Ok(RotationGuard {
            _local: local,
            _shared: shared,
        })
    }

    /// The once-per-start recovery cell (see `tick::recover`).
    pub(crate) fn recovered(&self) -> &OnceCell<()> {
        &self.recovered
    }
}

/// A new password stored before it is set: the write-ahead record of one rotation.
#[derive(Serialize, Deserialize)]
pub(crate) struct PendingRotation {
    #[serde(with = "leasehold_backend::stored_secret")]
    pub password: SecretString,
    /// When the rotation began, for logs.
    pub started: DateTime<Utc>,
}

/// Whether a failed password change may nevertheless have taken effect (see the module docs).
/// Errors raised before the driver was called (no connection, storage) took no effect.
pub(crate) fn is_unknown(err: &DatabaseError) -> bool {
    matches!(
        err,
        DatabaseError::Driver(DriverError::Unreachable(_) | DriverError::NotRemoved(_))
            | DatabaseError::RotationPending { .. }
    )
}

/// How a rotation attempt failed.
pub(crate) enum Failure {
    /// The old password is still the one set; nothing is pending.
    NotApplied(DatabaseError),
    /// The new password may be set; it is pending and the error says so.
    Pending(DatabaseError),
}

impl Failure {
    pub(crate) fn into_error(self) -> DatabaseError {
        match self {
            Failure::NotApplied(e) | Failure::Pending(e) => e,
        }
    }
}

fn pending_key(name: &str) -> String {
    format!("{PENDING_STATIC}{name}")
}

fn what(name: &str) -> String {
    format!("rotating static role {name:?}")
}

/// The pending rotation of role `name`, if one was left.
pub(crate) async fn pending(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<Option<PendingRotation>, DatabaseError> {
    Ok(get_json(storage, &pending_key(name)).await?)
}

/// Forget role `name`'s pending rotation (the role is being deleted).
pub(crate) async fn drop_pending(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<(), DatabaseError> {
    Ok(storage.delete(&pending_key(name)).await?)
}

/// Set `password` as role's password on its database.
async fn apply(
    connections: &Connections,
    storage: &dyn MountStorage,
    role: &StaticRoleEntry,
    password: &SecretString,
) -> Result<(), DatabaseError> {
    let driver = connections.driver(storage, &role.db_name).await?;
    driver
        .update_password(UpdatePassword {
            username: &role.username,
            password,
            statements: &role.rotation_statements,
        })
        .await
        .map_err(DatabaseError::from)
}

/// Step 3: the password is set; store it as the role's and drop the pending entry.
async fn commit(
    storage: &dyn MountStorage,
    name: &str,
    mut role: StaticRoleEntry,
    password: SecretString,
    now: DateTime<Utc>,
) -> Result<StaticRoleEntry, DatabaseError> {
    role.password = Some(password);
    role.last_vault_rotation = Some(now);
    role.failed_attempts = 0;
    role.retry_at = None;
    role.reschedule(now)?;
    static_roles::store(storage, name, &role).await?;
    storage.delete(&pending_key(name)).await?;
    tracing::info!(
        role.name = %name,
        db.user = %role.username,
        db.connection = %role.db_name,
        "rotated the password of static role {name} ({} on {})",
        role.username,
        role.db_name
    );
    Ok(role)
}

/// Rotate role `name` now: pending, set, commit. The caller holds the lock and has resolved
/// any earlier pending rotation. Returns the committed role.
#[tracing::instrument(skip_all, fields(role.name = %name))]
pub(crate) async fn rotate(
    connections: &Connections,
    storage: &dyn MountStorage,
    name: &str,
    role: StaticRoleEntry,
    now: DateTime<Utc>,
) -> Result<StaticRoleEntry, Failure> {
    let conn = config::load(storage, &role.db_name)
        .await
        .and_then(|c| {
            c.ok_or_else(|| DatabaseError::ConnectionNotFound {
                name: role.db_name.clone(),
            })
        })
        .map_err(Failure::NotApplied)?;
    let password = conn
        .password_policy()
        .map_err(Failure::NotApplied)?
        .generate(&mut rand::thread_rng());
    let record = PendingRotation {
        password: password.clone(),
        started: now,
    };
    put_json(storage, &pending_key(name), &record)
        .await
        .map_err(|e| Failure::NotApplied(e.into()))?;
    match apply(connections, storage, &role, &password).await {
        Ok(()) => commit(storage, name, role, password, now)
            .await
            .map_err(|e| Failure::Pending(pending_error(name, e))),
        Err(e) if is_unknown(&e) => Err(Failure::Pending(pending_error(name, e))),
        Err(e) => {
            // The old password is still set (the driver's contract), so the pending one goes.
            // Should this delete fail, resolving later sets the pending password: still right.
            if let Err(del) = storage.delete(&pending_key(name)).await {
                tracing::warn!(role.name = %name, "cannot drop a failed rotation's pending entry: {del}");
            }
            Err(Failure::NotApplied(e))
        }
    }
}

fn pending_error(name: &str, cause: DatabaseError) -> DatabaseError {
    match cause {
        already @ DatabaseError::RotationPending { .. } => already,
        cause => DatabaseError::RotationPending {
            what: what(name),
            cause: Box::new(cause),
        },
    }
}

/// Finish a rotation a crash or a lost answer left pending: set the pending password again and
/// commit it. Returns the role as it now is, and whether there was anything to resolve. The
/// caller holds the lock. On error the entry stays pending.
#[tracing::instrument(skip_all, fields(role.name = %name))]
pub(crate) async fn resolve(
    connections: &Connections,
    storage: &dyn MountStorage,
    name: &str,
    role: StaticRoleEntry,
    now: DateTime<Utc>,
) -> Result<(StaticRoleEntry, bool), DatabaseError> {
    let Some(record) = pending(storage, name).await? else {
        return Ok((role, false));
    };
    let already_committed = role
        .password
        .as_ref()
        .is_some_and(|p| p.expose_secret() == record.password.expose_secret());
    if already_committed {
        // The crash came between storing the role and deleting the pending entry.
        storage.delete(&pending_key(name)).await?;
        return Ok((role, true));
    }
    tracing::info!(
        role.name = %name,
        "applying static role {name}'s pending password from a rotation begun at {}",
        record.started
    );
    // Unlike a fresh rotation, no failure here tells whether the database already holds the
    // pending password (an earlier attempt may have set it), so every failure keeps it pending.
    match apply(connections, storage, &role, &record.password).await {
        Ok(()) => Ok((
            commit(storage, name, role, record.password, now).await?,
            true,
        )),
        Err(e) => Err(pending_error(name, e)),
    }
}

/// After a failed attempt: count it and set when to try again. Recording is best effort (a
/// storage failure is logged): the caller reports the attempt's own error.
pub(crate) async fn record_failure(
    storage: &dyn MountStorage,
    name: &str,
    mut role: StaticRoleEntry,
    now: DateTime<Utc>,
    err: &DatabaseError,
) -> StaticRoleEntry {
    role.failed_attempts = role.failed_attempts.saturating_add(1);
    let delay = retry_delay(role.failed_attempts);
    role.retry_at = Some(now + delay);
    tracing::warn!(
        role.name = %name,
        attempts = role.failed_attempts,
        "rotating static role {name} failed (attempt {}), next attempt in {}s: {err}",
        role.failed_attempts,
        delay.num_seconds()
    );
    if let Err(e) = static_roles::store(storage, name, &role).await {
        tracing::warn!(role.name = %name, "cannot record the failed rotation of static role {name}: {e}");
    }
    role
}

/// 5 s after the first failure, doubling, at most 5 minutes.
pub(crate) fn retry_delay(failures: u32) -> chrono::Duration {
    let exponent = failures.saturating_sub(1).min(6);
    chrono::Duration::seconds((5i64 << exponent).min(300))
}

#[cfg(test)]
mod tests {
    //! Crash recovery. A crash cannot be staged inside a test process, so each test leaves
    //! storage and the fake database exactly as a crash at that point would (a lost answer from
    //! the database, or a storage write that never happened), then starts a new engine on them.

    use super::*;
    use crate::testing::{data, Harness, PasswordFailure, APP_PASSWORD};
    use leasehold_backend::{BackendError, Operation};
    use serde_json::json;

    async fn harness_with_app() -> Harness {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write(
            "static-roles/app",
            json!({"db_name": "pg", "username": "app", "rotation_period": 3600}),
        )
        .await
        .unwrap();
        h
    }

    async fn pending_password(h: &Harness) -> Option<String> {
        pending(h.storage.as_ref(), "app")
            .await
            .unwrap()
            .map(|p| p.password.expose_secret().to_owned())
    }

    async fn stored_password(h: &Harness) -> Option<String> {
        static_roles::load(h.storage.as_ref(), "app")
            .await
            .unwrap()
            .unwrap()
            .password
            .map(|p| p.expose_secret().to_owned())
    }

    #[tokio::test]
    async fn crash_between_pending_stored_and_password_set() {
        let mut h = harness_with_app().await;
        let before = h.db_password("app");
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostBefore);
        let err = h
            .call(Operation::Update, "rotate-role/app", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Target(_)), "{err:?}");
        assert!(err.to_string().contains("may or may not be set"), "{err}");
        let pending = pending_password(&h)
            .await
            .expect("the new password is pending");
        assert_eq!(h.db_password("app"), before, "the database never got it");
        assert_eq!(stored_password(&h).await.unwrap(), before);

        // Restart with the database reachable: the first request of any kind finishes it.
        h.state.lock().unwrap().fail_update_password = None;
        h.restart();
        h.call(Operation::List, "config", json!({})).await.unwrap();
        assert_eq!(h.db_password("app"), pending);
        assert_eq!(stored_password(&h).await.unwrap(), pending);
        assert_eq!(pending_password(&h).await, None);
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(pending));
    }

    #[tokio::test]
    async fn crash_between_password_set_and_commit() {
        let mut h = harness_with_app().await;
        let before = h.db_password("app");
        // The role's entry cannot be written: the commit never happens.
        h.storage
            .fail_puts
            .lock()
            .unwrap()
            .push(static_roles::PREFIX.to_owned());
        let err = h
            .call(Operation::Update, "rotate-role/app", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Internal(_)), "{err:?}");
        let set = h.db_password("app");
        assert_ne!(set, before, "the database has the new password");
        assert_eq!(pending_password(&h).await.as_deref(), Some(set.as_str()));
        assert_eq!(stored_password(&h).await.unwrap(), before, "not committed");

        h.storage.fail_puts.lock().unwrap().clear();
        h.restart();
        let changes = h.password_changes();
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(set), "never the stale password");
        assert_eq!(h.db_password("app"), set);
        assert_eq!(h.password_changes(), changes + 1, "set again, idempotently");
        assert_eq!(pending_password(&h).await, None);
    }

    #[tokio::test]
    async fn a_read_never_hands_out_a_password_the_database_may_not_have() {
        let h = harness_with_app().await;
        // The database took the new password, but its answer was lost.
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostAfter);
        h.call(Operation::Update, "rotate-role/app", json!({}))
            .await
            .unwrap_err();
        let set = h.db_password("app");
        // Still unreachable: the read fails rather than answer with the stored (stale) one.
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostBefore);
        let err = h.read("static-creds/app").await.unwrap_err();
        assert!(matches!(err, BackendError::Target(_)), "{err:?}");
        assert!(!err.to_string().contains(&set));
        // Back: the same process finishes it on the next read.
        h.state.lock().unwrap().fail_update_password = None;
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(set));
        assert_eq!(h.db_password("app"), set);
    }

    #[tokio::test]
    async fn a_refused_rotation_leaves_nothing_pending_and_the_old_password_good() {
        let h = harness_with_app().await;
        let before = h.db_password("app");
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::Rejected);
        let err = h
            .call(Operation::Update, "rotate-role/app", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Target(_)), "{err:?}");
        assert_eq!(pending_password(&h).await, None);
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(before));
        assert_eq!(h.db_password("app"), before);
    }

    #[tokio::test]
    async fn a_crash_after_the_commit_but_before_the_cleanup_changes_nothing_more() {
        let mut h = harness_with_app().await;
        let current = stored_password(&h).await.unwrap();
        // The pending entry of the committed rotation survived.
        let record = PendingRotation {
            password: SecretString::from(current.clone()),
            started: h.now(),
        };
        put_json(h.storage.as_ref(), &pending_key("app"), &record)
            .await
            .unwrap();
        h.restart();
        let changes = h.password_changes();
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(current));
        assert_eq!(h.password_changes(), changes, "nothing to set again");
        assert_eq!(pending_password(&h).await, None);
    }

    #[tokio::test]
    async fn a_crash_during_create_is_finished_at_the_next_start() {
        let mut h = Harness::new();
        h.with_connection_and_app_user().await;
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostAfter);
        let err = h
            .write(
                "static-roles/app",
                json!({"db_name": "pg", "username": "app", "rotation_period": 3600}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("may or may not be set"), "{err}");
        let set = h.db_password("app");
        assert_ne!(set, APP_PASSWORD);
        assert_eq!(stored_password(&h).await, None);

        h.state.lock().unwrap().fail_update_password = None;
        h.restart();
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(set));
    }

    #[tokio::test]
    async fn a_pending_rotation_of_a_deleted_role_is_dropped() {
        let mut h = harness_with_app().await;
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostBefore);
        h.call(Operation::Update, "rotate-role/app", json!({}))
            .await
            .unwrap_err();
        h.storage
            .delete(&format!("{}app", static_roles::PREFIX))
            .await
            .unwrap();
        h.restart();
        h.call(Operation::List, "static-roles", json!({}))
            .await
            .unwrap();
        assert_eq!(pending_password(&h).await, None);
    }

    #[test]
    fn retry_delays_double_up_to_five_minutes() {
        let secs: Vec<i64> = (1..=9).map(|n| retry_delay(n).num_seconds()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
