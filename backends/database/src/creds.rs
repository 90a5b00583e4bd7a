//! `database/creds/:name`: plan a dynamic credential.
//!
//! This path creates nothing. It checks the role and its connection, chooses the user name and
//! answers with a [`PlannedSecret`]; the core writes the lease row first and only then calls
//! [`crate::DatabaseBackend`]'s `create` (see `secret.rs`). The lease's internal data,
//! [`CredsInternal`], holds everything needed to create, renew and destroy the user even after
//! the role is deleted, and never a password.

use chrono::{DateTime, Utc};
use leasehold_backend::{BackendError, PlannedSecret, Request, Response};
use serde::{Deserialize, Serialize};

use crate::config;
use crate::connections::Connections;
use crate::error::DatabaseError;
use crate::roles::{self, RoleEntry};
use crate::username::{is_safe_username, UsernameInputs};

/// The secret kind of dynamic credentials.
pub(crate) const KIND: &str = "creds";

/// A lease's internal data: the user and the statements of its role at issue time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CredsInternal {
    pub username: String,
    pub role: String,
    pub db_name: String,
    pub creation_statements: Vec<String>,
    pub rollback_statements: Vec<String>,
    pub renew_statements: Vec<String>,
    pub revocation_statements: Vec<String>,
    pub reassign_owned_to: Option<String>,
}

impl CredsInternal {
    fn new(username: String, role_name: &str, role: RoleEntry) -> Self {
        Self {
            username,
            role: role_name.to_owned(),
            db_name: role.db_name,
            creation_statements: role.creation_statements,
            rollback_statements: role.rollback_statements,
            renew_statements: role.renew_statements,
            revocation_statements: role.revocation_statements,
            reassign_owned_to: role.reassign_owned_to,
        }
    }
}

/// `GET database/creds/:name`.
#[tracing::instrument(level = "debug", skip_all, fields(role.name = %role_name))]
pub(crate) async fn read(
    connections: &Connections,
    req: &Request,
    role_name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let role =
        roles::load(storage, role_name)
            .await?
            .ok_or_else(|| DatabaseError::UnknownRole {
                role: role_name.to_owned(),
            })?;
    let conn = config::load(storage, &role.db_name).await?.ok_or_else(|| {
        DatabaseError::ConnectionNotFound {
            name: role.db_name.clone(),
        }
    })?;
    if !conn.allows_role(role_name) {
        return Err(DatabaseError::RoleNotAllowed {
            role: role_name.to_owned(),
        }
        .into());
    }
    // The driver (opened lazily, no network) knows the longest name its database accepts and
    // whether it has default creation rules.
    let driver = connections.driver(storage, &role.db_name).await?;
    if role.creation_statements.is_empty() && !driver.creates_without_statements() {
        return Err(DatabaseError::EmptyCreationStatements.into());
    }
    let max_len = driver.max_username_len();
    let marker = crate::marker::mount_marker(storage).await?;
    let inputs = UsernameInputs {
        marker: &marker,
        display_name: &req.display_name,
        role_name,
        now,
    };
    let username = conn
        .username_template_for(max_len)?
        .render(&inputs, &mut rand::thread_rng(), max_len)
        .map_err(DatabaseError::InvalidField)?;
    if !is_safe_username(&username) {
        return Err(DatabaseError::InvalidField(format!(
            "username_template produced an unusable user name {username:?}"
        ))
        .into());
    }

    let (ttl, max_ttl, require_purpose, approval_tier) = (
        role.default_ttl(),
        role.max_ttl(),
        role.require_purpose,
        role.approval_tier.clone(),
    );
    let internal = CredsInternal::new(username.clone(), role_name, role);
    let internal = serde_json::to_value(&internal)
        .map_err(|e| BackendError::Internal(format!("cannot encode lease data: {e}")))?;
    tracing::debug!(db.user = %username, "planned database user {username}");
    Ok(Some(Response::issue(PlannedSecret {
        kind: KIND.to_owned(),
        role: role_name.to_owned(),
        account: username,
        internal,
        ttl,
        max_ttl,
        renewable: true,
        require_purpose,
        approval_tier,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Harness, PLUGIN};
    use leasehold_backend::Operation;
    use serde_json::json;

    #[tokio::test]
    async fn plans_a_user_without_creating_anything() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        let resp = h.read("creds/ro").await.unwrap().unwrap();
        let secret = resp.secret.unwrap();
        assert_eq!(secret.kind, "creds");
        assert_eq!(secret.role, "ro");
        assert!(secret.renewable);
        assert_eq!(secret.ttl.as_secs(), 3600);
        assert_eq!(secret.max_ttl.as_secs(), 86_400);
        // `v-<the mount's marker>-token-ro-...`, the same marker for every lease of the mount.
        let marker = secret.account.split('-').nth(1).unwrap().to_owned();
        assert_eq!(
            marker.len(),
            crate::username::MARKER_LEN,
            "{}",
            secret.account
        );
        assert!(
            secret.account.starts_with(&format!("v-{marker}-token-ro-")),
            "{}",
            secret.account
        );
        let again = h.read("creds/ro").await.unwrap().unwrap().secret.unwrap();
        assert!(
            again.account.starts_with(&format!("v-{marker}-")),
            "{}",
            again.account
        );
        assert!(is_safe_username(&secret.account));
        let internal: CredsInternal = serde_json::from_value(secret.internal.clone()).unwrap();
        assert_eq!(internal.username, secret.account);
        assert_eq!(internal.db_name, "pg");
        assert_eq!(
            internal.creation_statements,
            vec!["CREATE ROLE \"{{name}}\";".to_owned()]
        );
        assert!(!secret.internal.to_string().contains("root-Secret-1"));
        let state = h.state.lock().unwrap();
        assert!(
            state.calls.is_empty(),
            "creds must not touch the database: {:?}",
            state.calls
        );
    }

    #[tokio::test]
    async fn refusals_are_400s_with_vaults_texts() {
        let h = Harness::new();
        let err = h.read("creds/nope").await.unwrap_err();
        assert_eq!(
            (
                matches!(err, BackendError::InvalidRequest(_)),
                err.to_string()
            ),
            (true, "unknown role: nope".into())
        );

        h.write(
            "roles/orphan",
            json!({"db_name": "missing", "creation_statements": "x"}),
        )
        .await
        .unwrap();
        let err = h.read("creds/orphan").await.unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert!(err.to_string().contains("\"missing\""), "{err}");

        h.write(
            "config/pg",
            json!({"plugin_name": PLUGIN, "connection_url": "fake://db", "allowed_roles": "report*"}),
        )
        .await
        .unwrap();
        h.write(
            "roles/ro",
            json!({"db_name": "pg", "creation_statements": "x"}),
        )
        .await
        .unwrap();
        let err = h.read("creds/ro").await.unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(err.to_string(), "\"ro\" is not an allowed role");

        h.write("roles/reporting", json!({"db_name": "pg"}))
            .await
            .unwrap();
        let err = h.read("creds/reporting").await.unwrap_err();
        assert_eq!(err.to_string(), "empty creation statements");

        h.write("config/pg", json!({"allowed_roles": ""}))
            .await
            .unwrap();
        h.write("roles/reporting", json!({"creation_statements": "x"}))
            .await
            .unwrap();
        let err = h.read("creds/reporting").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"reporting\" is not an allowed role",
            "empty allowed_roles admits none"
        );
    }

    #[tokio::test]
    async fn creds_are_read_only() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        let err = h
            .call(Operation::Update, "creds/ro", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::UnsupportedOperation));
    }

    #[tokio::test]
    async fn custom_template_shapes_the_name() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        h.write(
            "config/pg",
            json!({"username_template": "app_{{.RoleName}}_{{random 10}}"}),
        )
        .await
        .unwrap();
        let secret = h.read("creds/ro").await.unwrap().unwrap().secret.unwrap();
        assert!(secret.account.starts_with("app_ro_"), "{}", secret.account);
        assert_eq!(secret.account.len(), "app_ro_".len() + 10);
    }
}
