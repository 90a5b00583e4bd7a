//! The whole engine (`DatabaseBackend` + `PgDriverFactory`) through the `Backend` trait, the way
//! the core drives it: config, role, creds (planned only), create, renew, revoke.

use std::sync::Arc;

use leasehold_backend::{Backend, BackendError, Operation, Renew, SecretEngine};
pub use leasehold_database::harness::Engine;
use leasehold_postgres::PgDriverFactory;
use serde_json::{json, Value};

use crate::support::*;

/// The engine on the postgres driver, on in-memory storage.
pub fn engine() -> Engine {
    Engine::new(Arc::new(PgDriverFactory::new()))
}

fn connection(t: &Target, password: &str) -> Value {
    json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/{}", t.cluster.port(), t.db),
        "username": "postgres",
        "password": password,
        "allowed_roles": "migrate",
    })
}

#[tokio::test]
async fn issue_renew_revoke_through_the_engine() {
    let t = Target::new().await;
    let e = engine();
    e.call(
        Operation::Create,
        "config/pg",
        connection(&t, t.cluster.superuser_password()),
    )
    .await
    .unwrap();
    e.call(
        Operation::Create,
        "roles/migrate",
        json!({"db_name": "pg", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "2h"}),
    )
    .await
    .unwrap();

    let secret = e
        .call(Operation::Read, "creds/migrate", json!({}))
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    let user = secret.account.clone();
    // `v-<the mount's 9-character marker>-...`: the marker lets reconciliation prove it is ours.
    let (marker, tail) = user
        .strip_prefix("v-")
        .and_then(|u| u.split_once('-'))
        .unwrap();
    assert_eq!(marker.len(), 9, "{user}");
    assert!(tail.starts_with("token-migrate-"), "{user}");
    assert_eq!(t.role(&user).await, None, "creds must only plan the user");

    let expire = in_an_hour();
    let creds = e.backend.create(&e.ctx(&secret, expire)).await.unwrap();
    assert_eq!(creds.data["username"], json!(user));
    let password = creds.secrets[0].1.clone();
    t.login(&user, &password)
        .await
        .expect("issued credential cannot log in");
    assert_eq!(t.role(&user).await, Some((true, Some(expire.timestamp()))));

    let later = expire + chrono::Duration::minutes(30);
    e.backend.renew(&e.ctx(&secret, later)).await.unwrap();
    assert_eq!(t.role(&user).await, Some((true, Some(later.timestamp()))));

    let session = t.login(&user, &password).await.unwrap();
    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    assert!(session.simple_query("SELECT 1").await.is_err());
    assert!(t.login(&user, &password).await.is_err());
    assert_eq!(t.role(&user).await, None);
    // Revoking again (a retry, a crash replay) is success.
    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    e.backend.shutdown().await;
}

/// A `password_charset` with `$` would make some generated passwords unusable in statements (and
/// every issue that drew one fail): refused when the connection is written, naming the field.
#[tokio::test]
async fn a_password_charset_statements_cannot_hold_is_a_400() {
    let t = Target::new().await;
    let e = engine();
    let mut body = connection(&t, t.cluster.superuser_password());
    body["password_charset"] = json!("abcdefghijklmnopqrstuvwxyz0123456789$");
    let err = e
        .call(Operation::Create, "config/pg", body.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    assert!(
        err.to_string().contains("password_charset holds \"$\""),
        "{err}"
    );
    assert!(e
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap()
        .is_none());
    // Without it the same connection is accepted.
    body["password_charset"] = json!("abcdefghijklmnopqrstuvwxyz0123456789-");
    e.call(Operation::Create, "config/pg", body).await.unwrap();
}

#[tokio::test]
async fn a_wrong_root_password_fails_verification_with_a_400() {
    let t = Target::new().await;
    let e = engine();
    let wrong = "Wrong-Root-Pass-1";
    let err = e
        .call(Operation::Create, "config/pg", connection(&t, wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("error creating database object: error verifying connection: "),
        "{text}"
    );
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(e
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap()
        .is_none());
}
