//! `database/static-creds/:name` (read a static role's current password) and
//! `database/rotate-role/:name` (rotate it now).
//!
//! A read answers only with a password that is set on the database: a rotation left pending is
//! finished first (or the read fails), and a role whose rotation is overdue is rotated first,
//! so a read never depends on how often the core calls `tick`. Static credentials have no
//! lease: `ttl` is the time until the next rotation.

use chrono::{DateTime, Utc};
use leasehold_backend::{BackendError, Request, Response};
use secrecy::ExposeSecret;
use serde_json::{json, Map};

use crate::config;
use crate::connections::Connections;
use crate::error::DatabaseError;
use crate::rotation::{self, Failure, Rotations};
use crate::static_roles::{self, rfc3339};

/// `GET database/static-creds/:name`.
#[tracing::instrument(skip_all, fields(role.name = %name))]
pub(crate) async fn read(
    rotations: &Rotations,
    connections: &Connections,
    req: &Request,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = rotations.lock(storage).await?;
    let role =
        static_roles::load(storage, name)
            .await?
            .ok_or_else(|| DatabaseError::UnknownRole {
                role: name.to_owned(),
            })?;
    let conn = config::load(storage, &role.db_name).await?.ok_or_else(|| {
        DatabaseError::ConnectionNotFound {
            name: role.db_name.clone(),
        }
    })?;
    if !conn.allows_role(name) {
        return Err(DatabaseError::RoleNotAllowed {
            role: name.to_owned(),
        }
        .into());
    }
    let (mut role, _) = rotation::resolve(connections, storage, name, role, now).await?;

    let mut warnings = Vec::new();
    if role.is_due(now) {
        match rotation::rotate(connections, storage, name, role.clone(), now).await {
            Ok(rotated) => role = rotated,
            Err(Failure::NotApplied(e)) if role.password.is_some() => {
                // The password in storage is still the one set: answer with it, and say why
                // it is overdue.
                role = rotation::record_failure(storage, name, role, now, &e).await;
                warnings.push(format!(
                    "the scheduled rotation failed and will be retried: {e}; this password stays valid until a rotation succeeds"
                ));
            }
            Err(failure) => {
                let e = failure.into_error();
                rotation::record_failure(storage, name, role, now, &e).await;
                return Err(e.into());
            }
        }
    }
    let Some(password) = &role.password else {
        return Err(DatabaseError::NoPasswordYet {
            role: name.to_owned(),
            next: rfc3339(role.next_vault_rotation),
        }
        .into());
    };

    let mut data = Map::new();
    data.insert("username".into(), json!(role.username));
    data.insert("password".into(), json!(password.expose_secret()));
    data.insert(
        "last_vault_rotation".into(),
        json!(role.last_vault_rotation.map(rfc3339)),
    );
    data.insert("ttl".into(), json!(role.ttl(now)));
    role.insert_rotation_fields(&mut data);
    Ok(Some(Response {
        data: Some(data),
        warnings,
        ..Response::default()
    }))
}

/// `POST database/rotate-role/:name`: a new password now. When a pending rotation was left,
/// finishing it is the rotation (its password was never handed out).
#[tracing::instrument(skip_all, fields(role.name = %name))]
pub(crate) async fn rotate(
    rotations: &Rotations,
    connections: &Connections,
    req: &Request,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = rotations.lock(storage).await?;
    let role = static_roles::load_existing(storage, name).await?;
    let (role, resolved) = rotation::resolve(connections, storage, name, role, now).await?;
    if resolved {
        return Ok(None);
    }
    match rotation::rotate(connections, storage, name, role.clone(), now).await {
        Ok(_) => Ok(None),
        Err(failure) => {
            let e = failure.into_error();
            rotation::record_failure(storage, name, role, now, &e).await;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{data, Harness, PasswordFailure, APP_PASSWORD};
    use leasehold_backend::{BackendError, Operation};
    use serde_json::json;

    async fn harness_with_app(period: u64) -> Harness {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write(
            "static-roles/app",
            json!({"db_name": "pg", "username": "app", "rotation_period": period}),
        )
        .await
        .unwrap();
        h
    }

    #[tokio::test]
    async fn static_creds_answer_the_password_set_and_ttl_counts_down() {
        let h = harness_with_app(3600).await;
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["username"], "app");
        assert_eq!(d["password"], json!(h.db_password("app")));
        assert_ne!(d["password"], APP_PASSWORD);
        assert_eq!(d["last_vault_rotation"], "2024-05-01T10:00:00Z");
        assert_eq!(d["rotation_period"], 3600);
        assert_eq!(d["ttl"], 3600);
        h.advance(600);
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["ttl"], 3000);
        assert_eq!(
            h.password_changes(),
            1,
            "reads before the period must not rotate"
        );
    }

    #[tokio::test]
    async fn rotate_role_sets_a_new_password_at_once() {
        let h = harness_with_app(3600).await;
        let first = h.db_password("app");
        h.advance(100);
        assert!(h
            .call(Operation::Update, "rotate-role/app", json!({}))
            .await
            .unwrap()
            .is_none());
        let second = h.db_password("app");
        assert_ne!(first, second);
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(second));
        assert_eq!(d["ttl"], 3600);
        assert_eq!(d["last_vault_rotation"], "2024-05-01T10:01:40Z");

        let err = h
            .call(Operation::Update, "rotate-role/nope", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(
            err.to_string(),
            "no static role found for role name: \"nope\""
        );
        let err = h.read("static-creds/nope").await.unwrap_err();
        assert_eq!(err.to_string(), "unknown role: nope");
        let err = h
            .call(Operation::Update, "static-creds/app", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::UnsupportedOperation));
    }

    #[tokio::test]
    async fn an_overdue_read_rotates_first() {
        let h = harness_with_app(60).await;
        let first = h.db_password("app");
        h.advance(61);
        let d = data(h.read("static-creds/app").await.unwrap());
        let second = h.db_password("app");
        assert_ne!(first, second);
        assert_eq!(d["password"], json!(second));
        assert_eq!(d["ttl"], 60);
    }

    #[tokio::test]
    async fn an_overdue_read_whose_rotation_is_refused_answers_the_password_still_set() {
        let h = harness_with_app(60).await;
        let current = h.db_password("app");
        h.state.lock().unwrap().fail_update_password = Some(PasswordFailure::Rejected);
        h.advance(61);
        let resp = h.read("static-creds/app").await.unwrap().unwrap();
        assert_eq!(resp.data.as_ref().unwrap()["password"], json!(current));
        assert_eq!(resp.data.as_ref().unwrap()["ttl"], 0);
        assert_eq!(resp.warnings.len(), 1, "{:?}", resp.warnings);
        assert!(
            resp.warnings[0].contains("[REDACTED]"),
            "{:?}",
            resp.warnings
        );
        assert_eq!(h.db_password("app"), current);
        // Backed off: the next read does not try again at once.
        let calls = h.password_changes();
        h.read("static-creds/app").await.unwrap();
        assert_eq!(h.password_changes(), calls);
    }

    #[tokio::test]
    async fn a_role_not_admitted_by_its_connection_any_more_gets_no_password() {
        let h = harness_with_app(3600).await;
        h.write("config/pg", json!({"allowed_roles": "other"}))
            .await
            .unwrap();
        let err = h.read("static-creds/app").await.unwrap_err();
        assert_eq!(err.to_string(), "\"app\" is not an allowed role");
    }
}
