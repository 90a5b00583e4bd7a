//! TLS (Vault's `tls`, `insecure_tls`, `ca_cert`) against a throwaway `redis-server` that
//! listens on a TLS port only, with a certificate for `localhost` from a CA made by the test:
//! anything that reaches it went over TLS. `LEASEHOLD_TEST_REDIS_SERVER` names the binary
//! (default: `redis-server` on the PATH).

use std::process::{Command, Stdio};
use std::time::Duration;

use leasehold_backend::{BackendError, Operation, SecretEngine};
use leasehold_testkit::{KillOnDrop, ScratchDir, TestCa};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::engine::{engine, Engine};
use crate::support::*;

/// A TLS-only redis-server, killed when dropped.
/// Fields drop in order: the server is killed, then its directory goes.
struct TlsRedis {
    _server: KillOnDrop,
    port: u16,
    ca_pem: String,
    _dir: ScratchDir,
}

async fn tls_redis() -> TlsRedis {
    let ca = TestCa::new("leasehold test CA").unwrap();
    let (cert, key) = ca.server_cert(&["localhost"]).unwrap();
    let guard = ScratchDir::new("leasehold-redis-tls").unwrap();
    let dir = guard.path().to_owned();
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary =
        std::env::var("LEASEHOLD_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let child = Command::new(binary)
        .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port"])
        .arg(port.to_string())
        .arg("--tls-cert-file")
        .arg(&cert_path)
        .arg("--tls-key-file")
        .arg(&key_path)
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (LEASEHOLD_TEST_REDIS_SERVER) starts");
    let server = TlsRedis {
        _server: KillOnDrop(child),
        port,
        ca_pem: ca.pem(),
        _dir: guard,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the TLS redis-server did not listen on {port}");
}

/// A TLS connection to `server` as `user` (or the default user), trusting `server`'s CA.
async fn tls_login(
    server: &TlsRedis,
    user: Option<(&str, &SecretString)>,
) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    use redis::IntoConnectionInfo;
    let info = format!("rediss://localhost:{}", server.port).into_connection_info()?;
    let mut settings = info.redis_settings().clone();
    if let Some((name, password)) = user {
        settings = settings
            .set_username(name)
            .set_password(password.expose_secret());
    }
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(server.ca_pem.as_bytes().to_vec()),
    };
    let client = redis::Client::build_with_tls(info.set_redis_settings(settings), certificates)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

fn connection(server: &TlsRedis, host: &str, extra: Value) -> Value {
    let mut body = json!({
        "plugin_name": "redis-database-plugin", "host": host, "port": server.port,
        "tls": true, "allowed_roles": "*",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// A credential of a new role `cache` on `config/rd`: (its context, user, password).
async fn issue(e: &Engine) -> (leasehold_backend::SecretContext, String, SecretString) {
    e.write(
        "roles/cache",
        json!({"db_name": "rd", "creation_statements": RULES, "default_ttl": "1h"}),
    )
    .await;
    let secret = e.plan("cache").await;
    let ctx = e.ctx(&secret, in_an_hour());
    let creds = e.backend.create(&ctx).await.unwrap();
    (ctx, secret.account, creds.secrets[0].1.clone())
}

#[tokio::test]
async fn tls_with_ca_cert_issues_and_revokes_over_tls() {
    let server = tls_redis().await;
    let e = engine();
    e.write(
        "config/rd",
        connection(&server, "localhost", json!({"ca_cert": server.ca_pem})),
    )
    .await;
    let details = e.read("config/rd").await["connection_details"].clone();
    assert_eq!(details["tls"], json!(true));
    let (ctx, user, password) = issue(&e).await;
    let mut session = tls_login(&server, Some((&user, &password)))
        .await
        .expect("the issued credential logs in over TLS");
    assert!(alive(&mut session).await);

    e.backend.revoke(&ctx).await.unwrap();
    assert!(!alive(&mut session).await, "connection survived revocation");
    assert!(tls_login(&server, Some((&user, &password))).await.is_err());
    e.shutdown().await;
}

#[tokio::test]
async fn certificates_that_do_not_verify_are_refused_unless_insecure_tls() {
    let server = tls_redis().await;
    let other = TestCa::new("somebody else").unwrap().pem();
    let e = engine();
    let cases = [
        ("localhost", json!({"ca_cert": other}), "UnknownIssuer"),
        (
            "127.0.0.1",
            json!({"ca_cert": server.ca_pem}),
            "not valid for name",
        ),
        // The system's roots do not know the test CA.
        ("localhost", json!({}), "UnknownIssuer"),
    ];
    for (host, extra, why) in cases {
        let body = connection(&server, host, extra);
        let err = e
            .call(Operation::Update, "config/rd", body)
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
        assert!(err.to_string().contains(why), "{why}: {err}");
        let stored = e.call(Operation::Read, "config/rd", json!({})).await;
        assert!(stored.unwrap().is_none(), "{why}: stored");
    }
    // insecure_tls: encrypted, unverified (Vault's meaning); the server is still reached.
    e.write(
        "config/rd",
        connection(&server, "127.0.0.1", json!({"insecure_tls": true})),
    )
    .await;
    let (ctx, user, password) = issue(&e).await;
    assert!(tls_login(&server, Some((&user, &password))).await.is_ok());
    e.backend.revoke(&ctx).await.unwrap();
    e.shutdown().await;
}
