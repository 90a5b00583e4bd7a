//! `database/rotate-root/:name`: give a connection's own user a new password that only
//! leasehold knows.
//!
//! Write-ahead, as static roles (`rotation.rs`): the new password is stored sealed as the
//! connection's pending rotation (`pending-rotation/root/<name>`), set on the database with the
//! connection's `root_rotation_statements` (or the driver's default) through the cached driver,
//! then stored in the connection's config; the pending entry is deleted and the cached driver
//! closed so the next use logs in with the new password. The password is never returned.
//!
//! Resolving a leftover pending entry needs care that static roles do not: the password that
//! changes is the one we log in with. So it first opens a fresh connection with the stored
//! (old) password and sets the pending one; if the database ran the statement but refused it
//! (`DriverError::Rejected`), the old password logged in, so the pending one was never set and
//! is dropped. On any other failure (the old password no longer logs in, say) it opens one with
//! the pending password and sets it again: if that works, it is committed. Otherwise the entry
//! stays pending.
//!
//! Past 400 lines only because of its tests: one per crash point.

use leasehold_backend::storage::{get_json, put_json};
use leasehold_backend::{BackendError, MountStorage, Request, Response};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{self, ConnectionEntry};
use crate::connection_url;
use crate::connections::Connections;
use crate::driver::{Driver, DriverError, UpdatePassword};
use crate::error::DatabaseError;
use crate::rotation::{is_unknown, PendingRotation, Rotations};

/// Storage folder of pending root rotations.
pub(crate) const PENDING_ROOT: &str = "pending-rotation/root/";

fn pending_key(name: &str) -> String {
    format!("{PENDING_ROOT}{name}")
}

fn what(name: &str) -> String {
    format!("rotating the root credentials of connection {name:?}")
}

/// `POST database/rotate-root/:name`.
#[tracing::instrument(skip_all, fields(db.connection = %name))]
pub(crate) async fn rotate(
    rotations: &Rotations,
    connections: &Connections,
    req: &Request,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = rotations.lock(storage).await?;
    let conn = load(storage, name).await?;
    let username = rotatable_user(&conn)?;
    if resolve(connections, storage, name).await? {
        // A rotation that was left pending has just been finished: that is a new password
        // nobody has seen, which is what was asked for.
        return Ok(None);
    }
    let password = conn.password_policy()?.generate(&mut rand::thread_rng());
    let record = PendingRotation {
        password: password.clone(),
        started: now,
    };
    put_json(storage, &pending_key(name), &record).await?;
    let applied = match connections.driver(storage, name).await {
        Ok(driver) => set_password(driver.as_ref(), &username, &password, &conn).await,
        Err(e) => Err(e),
    };
    match applied {
        Ok(()) => commit(connections, storage, name, password)
            .await
            .map_err(|e| DatabaseError::RotationPending {
                what: what(name),
                cause: Box::new(e),
            })?,
        Err(e) if is_unknown(&e) => {
            return Err(DatabaseError::RotationPending {
                what: what(name),
                cause: Box::new(e),
            }
            .into())
        }
        Err(e) => {
            storage.delete(&pending_key(name)).await?;
            return Err(e.into());
        }
    }
    Ok(None)
}

async fn load(storage: &dyn MountStorage, name: &str) -> Result<ConnectionEntry, DatabaseError> {
    config::load(storage, name)
        .await?
        .ok_or_else(|| DatabaseError::ConnectionNotFound {
            name: name.to_owned(),
        })
}

/// The connection's user, if its password can be rotated (Vault's refusals, and one of ours:
/// a password written into the URL would go on being used after the rotation).
fn rotatable_user(conn: &ConnectionEntry) -> Result<String, DatabaseError> {
    let unavailable = |why: &str| DatabaseError::RootRotationUnavailable(why.to_owned());
    let username = conn
        .username
        .clone()
        .ok_or_else(|| unavailable("no username in configuration"))?;
    if conn.password.is_none() {
        return Err(unavailable("no password in configuration"));
    }
    if connection_url::has_literal_password(&conn.connection_url) {
        return Err(unavailable(
            "connection_url holds a literal password; use a templated url ({{username}} and {{password}})",
        ));
    }
    Ok(username)
}

async fn set_password(
    driver: &dyn Driver,
    username: &str,
    password: &SecretString,
    conn: &ConnectionEntry,
) -> Result<(), DatabaseError> {
    driver
        .update_password(UpdatePassword {
            username,
            password,
            statements: &conn.root_rotation_statements,
        })
        .await
        .map_err(DatabaseError::from)
}

/// The new password is set: store it in the connection (re-read, so that nothing else in it
/// is overwritten), drop the pending entry, and reopen the driver with it.
async fn commit(
    connections: &Connections,
    storage: &dyn MountStorage,
    name: &str,
    password: SecretString,
) -> Result<(), DatabaseError> {
    let mut conn = load(storage, name).await?;
    conn.password = Some(password);
    config::CONNECTIONS.store(storage, name, &conn).await?;
    storage.delete(&pending_key(name)).await?;
    connections.forget(name).await;
    tracing::info!(db.connection = %name, "rotated the root credentials of connection {name}");
    Ok(())
}

/// Finish connection `name`'s pending root rotation, if there is one (see the module docs).
/// `Ok(true)`: there was one and the pending password is now the connection's. The caller
/// holds the rotation lock.
#[tracing::instrument(skip_all, fields(db.connection = %name))]
pub(crate) async fn resolve(
    connections: &Connections,
    storage: &dyn MountStorage,
    name: &str,
) -> Result<bool, DatabaseError> {
    let Some(record) = get_json::<PendingRotation>(storage, &pending_key(name)).await? else {
        return Ok(false);
    };
    let Some(conn) = config::load(storage, name).await? else {
        // The connection was deleted: nothing left to rotate.
        storage.delete(&pending_key(name)).await?;
        return Ok(false);
    };
    if conn
        .password
        .as_ref()
        .is_some_and(|p| p.expose_secret() == record.password.expose_secret())
    {
        // The crash came between storing the config and deleting the pending entry.
        storage.delete(&pending_key(name)).await?;
        connections.forget(name).await;
        return Ok(true);
    }
    let Some(username) = conn.username.clone() else {
        storage.delete(&pending_key(name)).await?;
        return Ok(false);
    };
    tracing::info!(
        db.connection = %name,
        "applying connection {name}'s pending root password from a rotation begun at {}",
        record.started
    );
    let as_stored = conn.driver_config(name);
    match set_with(connections, &as_stored, &username, &record.password, &conn).await {
        Ok(()) => {}
        Err(e @ DatabaseError::Driver(DriverError::Rejected(_))) => {
            // The database ran our statement, so the stored password logged in: the pending
            // one was never set.
            storage.delete(&pending_key(name)).await?;
            return Err(e);
        }
        Err(_) => {
            let mut as_pending = as_stored;
            as_pending.password = Some(record.password.clone());
            set_with(connections, &as_pending, &username, &record.password, &conn)
                .await
                .map_err(|e| DatabaseError::RotationPending {
                    what: what(name),
                    cause: Box::new(e),
                })?;
        }
    }
    commit(connections, storage, name, record.password).await?;
    Ok(true)
}

/// Open a fresh, uncached driver for `config` (so the login itself is tested), set the
/// password through it, close it.
async fn set_with(
    connections: &Connections,
    config: &crate::driver::ConnectionConfig,
    username: &str,
    password: &SecretString,
    conn: &ConnectionEntry,
) -> Result<(), DatabaseError> {
    let driver = connections.open(config)?;
    let result = set_password(driver.as_ref(), username, password, conn).await;
    driver.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{data, Harness, PasswordFailure, PLUGIN, ROOT_PASSWORD};
    use leasehold_backend::{Backend, Operation, SecretContext, SecretEngine};
    use serde_json::{json, Value};

    async fn stored_root(h: &Harness) -> String {
        config::load(h.storage.as_ref(), "pg")
            .await
            .unwrap()
            .unwrap()
            .password
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    async fn pending_root(h: &Harness) -> Option<String> {
        get_json::<PendingRotation>(h.storage.as_ref(), &pending_key("pg"))
            .await
            .unwrap()
            .map(|p| p.password.expose_secret().to_owned())
    }

    /// Issue a dynamic credential through the engine: proves the connection still logs in.
    async fn engine_works(h: &Harness) {
        h.write(
            "roles/ro",
            json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\";"}),
        )
        .await
        .unwrap();
        let secret = h.read("creds/ro").await.unwrap().unwrap().secret.unwrap();
        h.backend
            .create(&SecretContext {
                storage: h.storage.clone(),
                kind: secret.kind.clone(),
                internal: secret.internal.clone(),
                expire_time: h.now() + chrono::Duration::hours(1),
            })
            .await
            .expect("the engine cannot use its connection");
    }

    #[tokio::test]
    async fn rotate_root_sets_a_password_only_leasehold_knows_and_reconnects_with_it() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write(
            "config/pg",
            json!({"root_rotation_statements": ["ALTER USER \"{{name}}\" PASSWORD '{{password}}'"]}),
        )
        .await
        .unwrap();
        engine_works(&h).await; // caches a driver logged in with the old password
        let closed = h.state.lock().unwrap().closed;

        let resp = h
            .call(Operation::Update, "rotate-root/pg", json!({}))
            .await
            .unwrap();
        assert!(resp.is_none(), "204, and never the password");
        let new = h.db_password("admin");
        assert_ne!(new, ROOT_PASSWORD);
        assert_eq!(stored_root(&h).await, new);
        assert_eq!(pending_root(&h).await, None);
        assert_eq!(
            h.state.lock().unwrap().calls.last().unwrap(),
            "update_password admin [\"ALTER USER \\\"{{name}}\\\" PASSWORD '{{password}}'\"]"
        );
        assert_eq!(
            h.state.lock().unwrap().closed,
            closed + 1,
            "cached driver closed"
        );
        engine_works(&h).await;
        let read = Value::Object(data(h.read("config/pg").await.unwrap())).to_string();
        assert!(!read.contains(&new));
    }

    #[tokio::test]
    async fn connections_that_cannot_be_rotated_are_refused() {
        let h = Harness::new();
        for (name, body, text) in [
            (
                "nouser",
                json!({"connection_url": "fake://db", "password": "Pw-123456"}),
                "unable to rotate root credentials: no username in configuration",
            ),
            (
                "nopass",
                json!({"connection_url": "fake://{{username}}@db", "username": "admin"}),
                "unable to rotate root credentials: no password in configuration",
            ),
            (
                "literal",
                json!({"connection_url": "fake://admin:Literal-pw-1@db", "username": "admin", "password": "Literal-pw-1"}),
                "connection_url holds a literal password",
            ),
        ] {
            let mut body = body;
            body["plugin_name"] = json!(PLUGIN);
            h.write(&format!("config/{name}"), body).await.unwrap();
            let err = h
                .call(Operation::Update, &format!("rotate-root/{name}"), json!({}))
                .await
                .unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidRequest(_)),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(text), "{name}: {err}");
        }
        let err = h
            .call(Operation::Update, "rotate-root/missing", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(h.password_changes(), 0);
    }

    #[tokio::test]
    async fn a_refused_root_rotation_changes_nothing() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::Rejected);
        let err = h
            .call(Operation::Update, "rotate-root/pg", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Target(_)), "{err:?}");
        assert!(err.to_string().contains("[REDACTED]"), "{err}");
        assert_eq!(pending_root(&h).await, None);
        assert_eq!(stored_root(&h).await, ROOT_PASSWORD);
        assert_eq!(h.db_password("admin"), ROOT_PASSWORD);
    }

    #[tokio::test]
    async fn crash_before_the_root_password_was_set() {
        let mut h = Harness::new();
        h.with_connection_and_app_user().await;
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostBefore);
        let err = h
            .call(Operation::Update, "rotate-root/pg", json!({}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("may or may not be set"), "{err}");
        let pending = pending_root(&h).await.unwrap();
        assert_eq!(h.db_password("admin"), ROOT_PASSWORD);

        h.state.lock().unwrap().fail_update_password = None;
        h.restart();
        engine_works(&h).await; // the first call finishes the rotation
        assert_eq!(h.db_password("admin"), pending);
        assert_eq!(stored_root(&h).await, pending);
        assert_eq!(pending_root(&h).await, None);
    }

    #[tokio::test]
    async fn crash_after_the_root_password_was_set() {
        let mut h = Harness::new();
        h.with_connection_and_app_user().await;
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostAfter);
        h.call(Operation::Update, "rotate-root/pg", json!({}))
            .await
            .unwrap_err();
        let set = h.db_password("admin");
        assert_ne!(set, ROOT_PASSWORD);
        assert_eq!(stored_root(&h).await, ROOT_PASSWORD, "not committed");
        assert_eq!(pending_root(&h).await.as_deref(), Some(set.as_str()));

        // The stored password no longer logs in; the pending one does and is committed.
        h.state.lock().unwrap().fail_update_password = None;
        h.restart();
        engine_works(&h).await;
        assert_eq!(stored_root(&h).await, set);
        assert_eq!(h.db_password("admin"), set);
        assert_eq!(pending_root(&h).await, None);
    }

    #[tokio::test]
    async fn tick_finishes_a_pending_root_rotation() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostAfter);
        h.call(Operation::Update, "rotate-root/pg", json!({}))
            .await
            .unwrap_err();
        let set = h.db_password("admin");
        // Still failing: the tick keeps it pending and asks to come back.
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::LostBefore);
        let wake = h.backend.tick(h.storage.clone(), h.now()).await.unwrap();
        assert_eq!(wake, Some(std::time::Duration::from_secs(30)));
        assert!(pending_root(&h).await.is_some());
        h.state.lock().unwrap().fail_update_password = None;
        assert_eq!(
            h.backend.tick(h.storage.clone(), h.now()).await.unwrap(),
            None
        );
        assert_eq!(stored_root(&h).await, set);
    }
}
