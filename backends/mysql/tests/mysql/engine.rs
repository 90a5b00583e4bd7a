//! The whole engine (`DatabaseBackend` + `MySqlDriverFactory`) through the `Backend` trait, the
//! way the core drives it: config, role, creds (planned only), create, renew, revoke.

use std::sync::Arc;

use leasehold_backend::{Backend, BackendError, Operation, Renew, SecretEngine};
pub use leasehold_database::harness::Engine;
use leasehold_mysql::MySqlDriverFactory;
use serde_json::{json, Value};

use crate::support::*;

/// The engine on the mysql driver, on in-memory storage.
pub fn engine() -> Engine {
    Engine::new(Arc::new(MySqlDriverFactory::new()))
}

/// Vault's connection form, with a username template of its own so the test knows the names'
/// prefix (the default fits too: see integration/hvac/test_mysql_redis.py).
fn connection(port: u16) -> Value {
    json!({
        "plugin_name": "mysql-database-plugin",
        "connection_url": format!("{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{port})/"),
        "username": "root",
        "allowed_roles": "reader",
        "username_template": "v-{{.RoleName | truncate 8}}-{{random 20}}",
    })
}

#[tokio::test]
async fn issue_renew_revoke_through_the_engine() {
    let e = engine();
    e.call(Operation::Create, "config/my", connection(port()))
        .await
        .unwrap();
    e.call(
        Operation::Create,
        "roles/reader",
        json!({"db_name": "my", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "2h"}),
    )
    .await
    .unwrap();

    let secret = e
        .call(Operation::Read, "creds/reader", json!({}))
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    let user = secret.account.clone();
    assert!(user.starts_with("v-reader-"), "{user}");
    assert!(user.len() <= 32, "{user}");
    let t = Target::new();
    assert!(
        t.accounts(&user).await.is_empty(),
        "creds must only plan the user"
    );

    let expire = in_an_hour();
    let creds = e.backend.create(&e.ctx(&secret, expire)).await.unwrap();
    assert_eq!(creds.data["username"], json!(user));
    let password = creds.secrets[0].1.clone();
    let mut session = t
        .login(&user, &password)
        .await
        .expect("issued credential cannot log in");

    // Renewal has nothing to move in MySQL, and succeeds.
    let later = expire + chrono::Duration::minutes(30);
    e.backend.renew(&e.ctx(&secret, later)).await.unwrap();

    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    assert!(!alive(&mut session).await, "session survived revocation");
    assert!(t.login(&user, &password).await.is_err());
    assert!(t.accounts(&user).await.is_empty());
    // Revoking again (a retry, a crash replay) is success.
    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    e.backend.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_server_fails_verification_with_a_400() {
    let e = engine();
    let free_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let err = e
        .call(Operation::Create, "config/my", connection(free_port))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("error creating database object: error verifying connection: "),
        "{err}"
    );
    assert!(e
        .call(Operation::Read, "config/my", json!({}))
        .await
        .unwrap()
        .is_none());
}
