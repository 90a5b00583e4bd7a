//! Work with no request behind it: scheduled static-role rotations and finishing rotations a
//! crash left pending. The core calls [`crate::DatabaseBackend`]'s `Backend::tick` periodically;
//! [`recover`] also runs once at the first call into the engine after a start, in case a request
//! comes before the first tick.
//!
//! Each role is handled under the rotation lock on its own, so reads of other roles wait for
//! at most one rotation. A role whose last attempt failed is left alone until its `retry_at`
//! (5 s, doubling to 5 minutes).

use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_backend::{BackendError, MountStorage};

use crate::connections::Connections;
use crate::error::DatabaseError;
use crate::rotate_root::{self, PENDING_ROOT};
use crate::rotation::{self, Rotations, PENDING_STATIC};
use crate::static_roles::{self, StaticRoleEntry};

/// How soon a pending root rotation that could not be finished is tried again.
const ROOT_RETRY: chrono::Duration = chrono::Duration::seconds(30);

/// `Backend::tick`: finish pending root rotations, then for each static role finish its pending
/// rotation or rotate it if due. Returns the time until the earliest next piece of work; `None`
/// when there are no static roles and nothing pending. Failures of single roles are logged and
/// retried later, not returned.
pub(crate) async fn tick(
    rotations: &Rotations,
    connections: &Connections,
    storage: &dyn MountStorage,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, BackendError> {
    // A tick is a full recovery pass; a later first request need not repeat it.
    let _ = rotations.recovered().set(());
    let mut wake = None;
    for name in names(storage, PENDING_ROOT).await? {
        let _guard = rotations.lock(storage).await?;
        if let Err(e) = rotate_root::resolve(connections, storage, &name).await {
            tracing::warn!(db.connection = %name, "cannot finish connection {name}'s pending root rotation: {e}");
            earliest(&mut wake, now + ROOT_RETRY);
        }
    }
    for name in names(storage, static_roles::PREFIX).await? {
        let _guard = rotations.lock(storage).await?;
        let Some(role) = static_roles::load(storage, &name).await? else {
            continue;
        };
        match service(connections, storage, &name, role, now).await {
            Ok(at) => earliest(&mut wake, at),
            Err(e) => {
                tracing::warn!(role.name = %name, "cannot record static role {name}'s rotation: {e}");
                earliest(&mut wake, now + rotation::retry_delay(1));
            }
        }
    }
    Ok(wake.map(|at: DateTime<Utc>| (at - now).to_std().unwrap_or(Duration::ZERO)))
}

/// One role's scheduled work; returns when it next wants some. Only storage errors are
/// returned: a failed rotation is recorded on the role.
async fn service(
    connections: &Connections,
    storage: &dyn MountStorage,
    name: &str,
    role: StaticRoleEntry,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DatabaseError> {
    if let Some(retry) = role.retry_at.filter(|r| now < *r) {
        return Ok(retry);
    }
    let role = match rotation::resolve(connections, storage, name, role.clone(), now).await {
        Ok((role, _)) => role,
        Err(e) => {
            let role = rotation::record_failure(storage, name, role, now, &e).await;
            return Ok(role.wake_at());
        }
    };
    if !role.is_due(now) {
        return Ok(role.wake_at());
    }
    match rotation::rotate(connections, storage, name, role.clone(), now).await {
        Ok(rotated) => Ok(rotated.wake_at()),
        Err(failure) => {
            let e = failure.into_error();
            let role = rotation::record_failure(storage, name, role, now, &e).await;
            Ok(role.wake_at())
        }
    }
}

/// Finish every pending rotation (root, then static roles), once per start: the first call
/// into the engine waits for it. Failures are logged; `tick` and the roles' own reads retry.
pub(crate) async fn recover(
    rotations: &Rotations,
    connections: &Connections,
    storage: &dyn MountStorage,
    now: DateTime<Utc>,
) {
    rotations
        .recovered()
        .get_or_init(|| async {
            if let Err(e) = recover_all(rotations, connections, storage, now).await {
                tracing::warn!("cannot look for pending rotations: {e}");
            }
        })
        .await;
}

async fn recover_all(
    rotations: &Rotations,
    connections: &Connections,
    storage: &dyn MountStorage,
    now: DateTime<Utc>,
) -> Result<(), DatabaseError> {
    for name in names(storage, PENDING_ROOT).await? {
        let _guard = rotations.lock(storage).await?;
        match rotate_root::resolve(connections, storage, &name).await {
            Ok(true) => {
                tracing::info!(db.connection = %name, "finished connection {name}'s interrupted root rotation")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(db.connection = %name, "cannot finish connection {name}'s interrupted root rotation: {e}")
            }
        }
    }
    for name in names(storage, PENDING_STATIC).await? {
        let _guard = rotations.lock(storage).await?;
        let Some(role) = static_roles::load(storage, &name).await? else {
            // The role is gone (or its creation was interrupted before it was stored).
            rotation::drop_pending(storage, &name).await?;
            continue;
        };
        match rotation::resolve(connections, storage, &name, role, now).await {
            Ok(_) => {
                tracing::info!(role.name = %name, "finished static role {name}'s interrupted rotation")
            }
            Err(e) => {
                tracing::warn!(role.name = %name, "cannot finish static role {name}'s interrupted rotation: {e}")
            }
        }
    }
    Ok(())
}

/// The entries (not sub-folders) directly under `prefix`.
async fn names(storage: &dyn MountStorage, prefix: &str) -> Result<Vec<String>, DatabaseError> {
    Ok(storage
        .list(prefix)
        .await?
        .into_iter()
        .filter(|k| !k.ends_with('/'))
        .collect())
}

fn earliest(wake: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) {
    if wake.is_none_or(|w| at < w) {
        *wake = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{Harness, PasswordFailure};
    use leasehold_backend::Backend;
    use serde_json::json;
    use std::time::Duration;

    async fn tick(h: &Harness) -> Option<Duration> {
        h.backend.tick(h.storage.clone(), h.now()).await.unwrap()
    }

    #[tokio::test]
    async fn tick_rotates_due_roles_and_says_when_it_is_next_wanted() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        assert_eq!(tick(&h).await, None, "nothing scheduled");
        h.write(
            "static-roles/app",
            json!({"db_name": "pg", "username": "app", "rotation_period": 60}),
        )
        .await
        .unwrap();
        h.state
            .lock()
            .unwrap()
            .users
            .insert("other".into(), "x-Password-1".into());
        h.write(
            "static-roles/other",
            json!({"db_name": "pg", "username": "other", "rotation_schedule": "*/5 * * * *"}),
        )
        .await
        .unwrap();
        // 10:00:00 now; app is next due at 10:01:00, other at 10:05:00.
        let first = h.db_password("app");
        h.advance(20);
        assert_eq!(tick(&h).await, Some(Duration::from_secs(40)));
        assert_eq!(h.db_password("app"), first, "not due yet");
        h.advance(40);
        assert_eq!(tick(&h).await, Some(Duration::from_secs(60)));
        let second = h.db_password("app");
        assert_ne!(second, first);
        // 10:04:00: app (due 10:02) rotates late and is next due at 10:05, with other.
        let other = h.db_password("other");
        h.advance(180);
        assert_eq!(tick(&h).await, Some(Duration::from_secs(60)));
        assert_ne!(h.db_password("app"), second);
        assert_eq!(h.db_password("other"), other, "10:04 is before 10:05");
        h.advance(60);
        assert_eq!(tick(&h).await, Some(Duration::from_secs(60)));
        assert_ne!(h.db_password("other"), other, "rotated at 10:05");
    }

    #[tokio::test]
    async fn a_failing_rotation_backs_off_and_stays_pending_until_it_succeeds() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write(
            "static-roles/app",
            json!({"db_name": "pg", "username": "app", "rotation_period": 60}),
        )
        .await
        .unwrap();
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostBefore);
        h.advance(60);
        assert_eq!(tick(&h).await, Some(Duration::from_secs(5)));
        let calls = h.password_changes();
        assert_eq!(tick(&h).await, Some(Duration::from_secs(5)));
        assert_eq!(h.password_changes(), calls, "backing off");
        h.advance(5);
        assert_eq!(tick(&h).await, Some(Duration::from_secs(10)), "doubled");
        h.state.lock().unwrap().fail_update_password = None;
        h.advance(10);
        assert_eq!(tick(&h).await, Some(Duration::from_secs(60)));
        let d = crate::testing::data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(h.db_password("app")));
        assert_eq!(d["ttl"], 60);
    }
}
