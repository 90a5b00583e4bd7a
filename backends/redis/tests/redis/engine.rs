//! The whole engine (`DatabaseBackend` + `RedisDriverFactory`) through the `Backend` trait, the
//! way the core drives it: config, role, creds (planned only), create, renew, revoke.

use std::sync::Arc;

use leasehold_backend::{Backend, BackendError, Operation, Renew, SecretEngine};
pub use leasehold_database::harness::Engine;
use leasehold_redis::RedisDriverFactory;
use serde_json::{json, Value};

use crate::support::*;

/// The engine on the redis driver, on in-memory storage.
pub fn engine() -> Engine {
    Engine::new(Arc::new(RedisDriverFactory::new()))
}

fn connection(port: u16) -> Value {
    json!({
        "plugin_name": "redis-database-plugin",
        "connection_url": url(port),
        "allowed_roles": "cache",
    })
}

#[tokio::test]
async fn issue_renew_revoke_through_the_engine() {
    let e = engine();
    e.call(Operation::Create, "config/rd", connection(port()))
        .await
        .unwrap();
    // As Vault's docs write it: creation_statements is one JSON list of ACL rules.
    e.call(
        Operation::Create,
        "roles/cache",
        json!({"db_name": "rd", "creation_statements": RULES, "default_ttl": "1h", "max_ttl": "2h"}),
    )
    .await
    .unwrap();

    let secret = e.plan("cache").await;
    let user = secret.account.clone();
    // `v-<the mount's 9-character marker>-...`: the marker lets reconciliation prove it is ours.
    let (marker, tail) = user
        .strip_prefix("v-")
        .and_then(|u| u.split_once('-'))
        .unwrap();
    assert_eq!(marker.len(), 9, "{user}");
    assert!(tail.starts_with("token-cache-"), "{user}");
    let t = Target::new();
    assert!(!t.exists(&user).await, "creds must only plan the user");

    let expire = in_an_hour();
    let creds = e.backend.create(&e.ctx(&secret, expire)).await.unwrap();
    assert_eq!(creds.data["username"], json!(user));
    let password = creds.secrets[0].1.clone();
    let mut session = t
        .login(&user, &password)
        .await
        .expect("issued credential cannot log in");
    assert!(alive(&mut session).await);

    // Renewal has nothing to move in Redis, and succeeds.
    let later = expire + chrono::Duration::minutes(30);
    e.backend.renew(&e.ctx(&secret, later)).await.unwrap();

    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    assert!(!alive(&mut session).await, "connection survived revocation");
    assert!(t.login(&user, &password).await.is_err());
    assert!(!t.exists(&user).await);
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
        .call(Operation::Create, "config/rd", connection(free_port))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    assert!(e
        .call(Operation::Read, "config/rd", json!({}))
        .await
        .unwrap()
        .is_none());
}

/// Vault's documented shape for Redis: `host` and `port` (no URL), and a role without creation
/// statements, which gets Vault's default rules `["~*", "+@read"]`: read anything, write nothing.
#[tokio::test]
async fn vaults_host_and_port_config_and_its_default_rules() {
    let e = engine();
    e.call(
        Operation::Create,
        "config/rd",
        json!({"plugin_name": "redis-database-plugin", "host": "127.0.0.1", "port": port(),
               "allowed_roles": "reader"}),
    )
    .await
    .unwrap();
    let read = e
        .call(Operation::Read, "config/rd", json!({}))
        .await
        .unwrap()
        .unwrap();
    let data = read.data.expect("config read has data");
    let details = &data["connection_details"];
    assert_eq!(details["host"], json!("127.0.0.1"));
    assert_eq!(details["port"], json!(port()));
    assert_eq!(details["tls"], json!(false));

    e.call(
        Operation::Create,
        "roles/reader",
        json!({"db_name": "rd", "default_ttl": "1h"}),
    )
    .await
    .unwrap();
    let secret = e.plan("reader").await;
    let creds = e
        .backend
        .create(&e.ctx(&secret, in_an_hour()))
        .await
        .unwrap();
    let user = secret.account.clone();
    let password = creds.secrets[0].1.clone();
    let t = Target::new();
    let mut session = t.login(&user, &password).await.expect("cannot log in");
    let key = format!("lh-test:{}", random_lower(8));
    let got: redis::RedisResult<Option<String>> =
        redis::cmd("GET").arg(&key).query_async(&mut session).await;
    assert!(got.is_ok(), "the default rules allow reading: {got:?}");
    let set: redis::RedisResult<()> = redis::cmd("SET")
        .arg(&key)
        .arg("x")
        .query_async(&mut session)
        .await;
    let refused = set.expect_err("the default rules must not allow writing");
    assert!(
        refused
            .to_string()
            .to_lowercase()
            .contains("no permissions"),
        "{refused}"
    );

    e.backend
        .revoke(&e.ctx(&secret, in_an_hour()))
        .await
        .unwrap();
    assert!(t.login(&user, &password).await.is_err());
    e.backend.shutdown().await;
}

#[tokio::test]
async fn address_settings_that_cannot_work_are_400s_naming_the_problem() {
    let e = engine();
    for (body, expect) in [
        (
            json!({"plugin_name": "redis-database-plugin", "host": "127.0.0.1"}),
            "port is required",
        ),
        (
            json!({"plugin_name": "redis-database-plugin", "host": "127.0.0.1", "port": 70000}),
            "port must be between 1 and 65535",
        ),
        (
            json!({"plugin_name": "redis-database-plugin", "host": "127.0.0.1", "port": port(),
                   "connection_url": url(port())}),
            "not both",
        ),
        (
            json!({"plugin_name": "redis-database-plugin", "connection_url": url(port()),
                   "tls": true}),
            "tls = true needs a rediss:// connection_url",
        ),
        (
            json!({"plugin_name": "redis-database-plugin", "host": "redis://h", "port": 6379}),
            "is not a host name or address",
        ),
        (
            json!({"plugin_name": "redis-database-plugin"}),
            "host and port are required",
        ),
    ] {
        let err = e
            .call(Operation::Create, "config/rd", body.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(err, BackendError::InvalidRequest(_)),
            "{body}: {err:?}"
        );
        assert!(err.to_string().contains(expect), "{body}: {err}");
    }
}

/// A connection entry exactly as stored before the driver's settings became options (every
/// address field at the top level, unset ones `null`) still loads, reads, issues and revokes.
#[tokio::test]
async fn a_connection_stored_with_the_old_address_fields_still_works() {
    let e = engine();
    e.storage.put_json(
        "config/rd",
        &json!({
            "plugin_name": "redis-database-plugin", "connection_url": "", "username": null,
            "password": null, "disable_escaping": false, "max_open_connections": 4,
            "max_idle_connections": 4, "max_connection_lifetime_secs": 0,
            "allowed_roles": ["reader"], "verify_connection": true, "username_template": null,
            "password_length": 20, "password_charset": null, "root_rotation_statements": [],
            "host": "127.0.0.1", "port": port(), "tls": false, "insecure_tls": false,
            "ca_cert": null, "tls_ca": null, "tls_certificate_key": null
        }),
    );
    let details = e.read("config/rd").await["connection_details"].clone();
    assert_eq!(details["host"], json!("127.0.0.1"));
    assert_eq!(details["port"], json!(port()));
    assert_eq!(details["tls"], json!(false));

    e.write(
        "roles/reader",
        json!({"db_name": "rd", "creation_statements": [RULES]}),
    )
    .await;
    let secret = e.plan("reader").await;
    let ctx = e.ctx(&secret, in_an_hour());
    let creds = e.backend.create(&ctx).await.unwrap();
    let t = Target::new();
    let mut session = t
        .login(&secret.account, &creds.secrets[0].1)
        .await
        .expect("cannot log in");
    assert!(alive(&mut session).await);
    e.backend.revoke(&ctx).await.unwrap();
    assert!(!t.exists(&secret.account).await);
    e.shutdown().await;
}
