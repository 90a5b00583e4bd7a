//! The life of a `creds` secret after its lease row exists: create the user, move its expiry,
//! destroy it. The core calls these with the lease's [`SecretContext`].
//!
//! Everything comes from the lease's [`CredsInternal`] and the stored connection, not from the
//! role: a role may be deleted while its leases live on, and they must still be revocable.

use std::sync::Arc;

use async_trait::async_trait;
use leasehold_backend::{BackendError, Commit, Credentials, Pending, Revoked, SecretContext};
use secrecy::SecretString;
use serde::Deserialize as _;
use serde_json::{json, Map};

use crate::config;
use crate::connections::Connections;
use crate::creds::{CredsInternal, KIND};
use crate::driver::{DeleteUser, Driver, NewUser, PendingUser, UpdateExpiry};
use crate::error::DatabaseError;
use crate::roles;

fn internal(ctx: &SecretContext) -> Result<CredsInternal, DatabaseError> {
    if ctx.kind != KIND {
        return Err(DatabaseError::CorruptInternal(format!(
            "unknown secret kind {:?}",
            ctx.kind
        )));
    }
    // From a borrow: cloning the map only to consume the clone cost each revocation a copy.
    CredsInternal::deserialize(&ctx.internal)
        .map_err(|e| DatabaseError::CorruptInternal(e.to_string()))
}

/// Create the planned user with a fresh password, valid until the lease's expiry.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn create(
    connections: &Connections,
    ctx: &SecretContext,
) -> Result<Credentials, BackendError> {
    let (data, driver) = planned(connections, ctx).await?;
    let password = new_password(ctx, &data).await?;
    driver
        .new_user(new_user(&data, &password, ctx))
        .await
        .map_err(DatabaseError::from)?;
    created(&data);
    Ok(credentials(&data, password))
}

/// [`create`] in two steps, where the connection's driver can (PostgreSQL): the user made in a
/// transaction the core commits once the lease row is on disk. `None`: it cannot.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn prepare(
    connections: &Connections,
    ctx: &SecretContext,
) -> Result<Option<Pending>, BackendError> {
    let (data, driver) = planned(connections, ctx).await?;
    if !driver.prepares_users() {
        return Ok(None);
    }
    let password = new_password(ctx, &data).await?;
    let pending = driver
        .prepare_user(new_user(&data, &password, ctx))
        .await
        .map_err(DatabaseError::from)?;
    Ok(pending.map(|pending| Pending {
        commit: Box::new(CommitUser {
            pending,
            data: data.clone(),
        }),
        credentials: credentials(&data, password),
    }))
}

/// The commit of a [`prepare`]d user.
struct CommitUser {
    pending: Box<dyn PendingUser>,
    data: CredsInternal,
}

#[async_trait]
impl Commit for CommitUser {
    async fn commit(self: Box<Self>) -> Result<(), BackendError> {
        self.pending.commit().await.map_err(DatabaseError::from)?;
        created(&self.data);
        Ok(())
    }
}

/// The driver's request for the planned user.
fn new_user<'a>(
    data: &'a CredsInternal,
    password: &'a SecretString,
    ctx: &SecretContext,
) -> NewUser<'a> {
    NewUser {
        username: &data.username,
        password,
        expiration: ctx.expire_time,
        creation_statements: &data.creation_statements,
        rollback_statements: &data.rollback_statements,
    }
}

/// The planned user and its connection's driver: what creating it needs, but the password
/// (made after [`prepare`] knows the driver can prepare).
async fn planned(
    connections: &Connections,
    ctx: &SecretContext,
) -> Result<(CredsInternal, Arc<dyn Driver>), BackendError> {
    let data = internal(ctx)?;
    let driver = connections
        .driver(ctx.storage.as_ref(), &data.db_name)
        .await?;
    Ok((data, driver))
}

/// A password for the planned user, by its connection's password policy.
async fn new_password(
    ctx: &SecretContext,
    data: &CredsInternal,
) -> Result<SecretString, BackendError> {
    let conn = config::load(ctx.storage.as_ref(), &data.db_name)
        .await?
        .ok_or_else(|| DatabaseError::ConnectionNotFound {
            name: data.db_name.clone(),
        })?;
    Ok(conn.password_policy()?.generate(&mut rand::thread_rng()))
}

/// Per-user lines are debug: the lease engine logs each issue, renewal and destruction once, at
/// info, with the lease and the account (a second line per lease cost a burst of expiries a
/// tenth of its drain, in formatting and writes to the log).
fn created(data: &CredsInternal) {
    tracing::debug!(
        db.user = %data.username,
        db.connection = %data.db_name,
        role.name = %data.role,
        "created database user {} on {}",
        data.username,
        data.db_name
    );
}

/// The caller's credentials: the user name, and the password as a secret.
fn credentials(data: &CredsInternal, password: SecretString) -> Credentials {
    let mut fields = Map::new();
    fields.insert("username".into(), json!(data.username));
    Credentials {
        data: fields,
        secrets: vec![("password".to_owned(), password)],
        // Nothing learned at creation that revoke needs beyond the planned internal data.
        ..Credentials::default()
    }
}

/// Move the user's own expiry to the lease's new expiry. A deleted role's leases are not
/// renewable (as in Vault); they remain revocable.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn renew(
    connections: &Connections,
    ctx: &SecretContext,
) -> Result<(), BackendError> {
    let data = internal(ctx)?;
    let storage = ctx.storage.as_ref();
    if roles::load(storage, &data.role).await?.is_none() {
        return Err(DatabaseError::RenewWithoutRole { role: data.role }.into());
    }
    let driver = connections.driver(storage, &data.db_name).await?;
    driver
        .update_expiry(UpdateExpiry {
            username: &data.username,
            expiration: ctx.expire_time,
            renew_statements: &data.renew_statements,
        })
        .await
        .map_err(DatabaseError::from)?;
    tracing::debug!(db.user = %data.username, "renewed database user {} until {}", data.username, ctx.expire_time);
    Ok(())
}

/// Destroy the user. A user that is already gone is success (the driver's contract); a missing
/// connection is not, since the user may still exist.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn revoke(
    connections: &Connections,
    ctx: &SecretContext,
) -> Result<Revoked, BackendError> {
    let data = internal(ctx)?;
    let driver = match connections
        .driver(ctx.storage.as_ref(), &data.db_name)
        .await
    {
        Ok(driver) => driver,
        Err(DatabaseError::ConnectionNotFound { .. }) => {
            return Err(DatabaseError::RevokeWithoutConnection {
                username: data.username,
                db_name: data.db_name,
            }
            .into())
        }
        Err(other) => return Err(other.into()),
    };
    let revoked = driver
        .delete_user(DeleteUser {
            username: &data.username,
            revocation_statements: &data.revocation_statements,
            reassign_owned_to: data.reassign_owned_to.as_deref(),
        })
        .await
        .map_err(DatabaseError::from)?;
    tracing::debug!(
        db.user = %data.username,
        db.connection = %data.db_name,
        db.sessions_terminated = ?revoked.sessions_terminated,
        "destroyed database user {} on {}",
        data.username,
        data.db_name
    );
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use chrono::{DateTime, Utc};
    use leasehold_backend::{Operation, PlannedSecret, Renew, SecretEngine};
    use secrecy::ExposeSecret;
    use serde_json::json;

    async fn plan(h: &Harness) -> PlannedSecret {
        h.read("creds/ro").await.unwrap().unwrap().secret.unwrap()
    }

    fn ctx(h: &Harness, secret: &PlannedSecret, expire: i64) -> SecretContext {
        SecretContext {
            storage: h.storage.clone(),
            kind: secret.kind.clone(),
            internal: secret.internal.clone(),
            expire_time: DateTime::<Utc>::from_timestamp(expire, 0).unwrap(),
        }
    }

    #[tokio::test]
    async fn create_renew_revoke() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        let secret = plan(&h).await;
        let user = secret.account.clone();

        let creds = h
            .backend
            .create(&ctx(&h, &secret, 2_000_000_000))
            .await
            .unwrap();
        assert_eq!(creds.data["username"], json!(user));
        let (name, password) = &creds.secrets[0];
        assert_eq!(name, "password");
        assert_eq!(password.expose_secret().len(), 20);
        assert_eq!(
            h.state.lock().unwrap().users[&user],
            password.expose_secret()
        );

        h.backend
            .renew(&ctx(&h, &secret, 2_000_000_600))
            .await
            .unwrap();
        h.backend
            .revoke(&ctx(&h, &secret, 2_000_000_600))
            .await
            .unwrap();
        let state = h.state.lock().unwrap();
        assert_eq!(
            state.calls,
            vec![
                format!("new_user {user} 2000000000"),
                format!("update_expiry {user} 2000000600"),
                format!("delete_user {user} [] None"),
            ]
        );
        assert!(state.users.is_empty());
        // The generated password was never stored anywhere.
        assert!(!h.storage.dump().contains(password.expose_secret()));
    }

    #[tokio::test]
    async fn a_failed_create_reports_a_scrubbed_error() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        h.state.lock().unwrap().fail_new_user = true;
        let secret = plan(&h).await;
        let err = h
            .backend
            .create(&ctx(&h, &secret, 2_000_000_000))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Target(_)));
        assert_eq!(err.to_string(), "syntax error at or near \"[REDACTED]\"");
    }

    #[tokio::test]
    async fn a_deleted_role_cannot_renew_but_can_revoke() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        h.write("roles/ro", json!({"revocation_statements": "DROP ROLE \"{{name}}\";", "reassign_owned_to": "owner"}))
            .await
            .unwrap();
        let secret = plan(&h).await;
        h.backend
            .create(&ctx(&h, &secret, 2_000_000_000))
            .await
            .unwrap();
        h.call(Operation::Delete, "roles/ro", json!({}))
            .await
            .unwrap();
        let err = h
            .backend
            .renew(&ctx(&h, &secret, 2_000_000_600))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
        h.backend.revoke(&ctx(&h, &secret, 0)).await.unwrap();
        let calls = h.state.lock().unwrap().calls.clone();
        assert_eq!(
            calls.last().unwrap(),
            &format!(
                "delete_user {} [\"DROP ROLE \\\"{{{{name}}}}\\\";\"] Some(\"owner\")",
                secret.account
            )
        );
    }

    #[tokio::test]
    async fn revoking_without_the_connection_is_an_error_that_says_so() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        let secret = plan(&h).await;
        h.backend
            .create(&ctx(&h, &secret, 2_000_000_000))
            .await
            .unwrap();
        h.call(Operation::Delete, "config/pg", json!({}))
            .await
            .unwrap();
        let err = h.backend.revoke(&ctx(&h, &secret, 0)).await.unwrap_err();
        assert!(matches!(err, BackendError::Target(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("connection \"pg\" is no longer configured"),
            "{err}"
        );
        assert!(err.to_string().contains(&secret.account), "{err}");
    }

    #[tokio::test]
    async fn foreign_internal_data_is_an_internal_error() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        let mut secret = plan(&h).await;
        secret.internal = json!({"access_key": "AKIA"});
        let err = h.backend.revoke(&ctx(&h, &secret, 0)).await.unwrap_err();
        assert!(matches!(err, BackendError::Internal(_)));
    }
}
