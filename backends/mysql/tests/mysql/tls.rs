//! TLS (Vault's `tls_ca`, `tls_certificate_key`, and the Go DSN's `tls`) against a throwaway
//! MariaDB the test starts with `require_secure_transport`: the server refuses any TCP session
//! without TLS, so whatever reaches it went over TLS. Its certificate names `localhost` and comes
//! from a CA the test makes. `LEASEHOLD_TEST_MARIADBD` and `LEASEHOLD_TEST_MARIADB_INSTALL_DB`
//! name the programs (default: `/usr/sbin/mariadbd`, `mariadb-install-db`).

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use leasehold_backend::{BackendError, Operation, SecretEngine};
use leasehold_testkit::{KillOnDrop, ScratchDir, TestCa};
use mysql_async::prelude::Queryable;
use mysql_async::{ClientIdentity, Conn, OptsBuilder, SslOpts};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::engine::{engine, Engine};
use crate::support::*;

/// A TLS-only MariaDB. Fields drop in order: the server is killed, then its directory goes.
struct TlsMariaDb {
    _server: KillOnDrop,
    port: u16,
    ca: TestCa,
    _dir: ScratchDir,
}

fn program(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

async fn tls_mariadb() -> TlsMariaDb {
    let guard = ScratchDir::new("leasehold-mariadb-tls").unwrap();
    let dir = guard.path().to_owned();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    // A temporary directory of its own: a starting server removes the `#sql` files it finds
    // in its tmpdir, which in a shared /tmp are another test's server's live temporary tables.
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let ca = TestCa::new("leasehold test CA").unwrap();
    let (cert, key) = ca.server_cert(&["localhost"]).unwrap();
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.crt", cert),
        ("server.key", key),
    ] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    // As root, the server runs as `mysql` and must own its files.
    let as_root = std::fs::metadata(&dir).unwrap().uid() == 0;
    let user: &[&str] = if as_root { &["--user=mysql"] } else { &[] };
    if as_root {
        let chown = Command::new("chown")
            .arg("-R")
            .arg("mysql:")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(chown.success());
    }
    let installed = Command::new(program(
        "LEASEHOLD_TEST_MARIADB_INSTALL_DB",
        "mariadb-install-db",
    ))
    .arg("--no-defaults")
    .arg(format!("--datadir={}", dir.join("data").display()))
    .arg(format!("--tmpdir={}", dir.join("tmp").display()))
    .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
    .args(user)
    .output()
    .expect("mariadb-install-db runs");
    assert!(
        installed.status.success(),
        "mariadb-install-db failed: {}{}",
        String::from_utf8_lossy(&installed.stdout),
        String::from_utf8_lossy(&installed.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = |name: &str| dir.join(name).display().to_string();
    let child = Command::new(program("LEASEHOLD_TEST_MARIADBD", "/usr/sbin/mariadbd"))
        .arg("--no-defaults")
        .arg(format!("--datadir={}", path("data")))
        .arg(format!("--tmpdir={}", path("tmp")))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", path("sock")))
        .arg(format!("--pid-file={}", path("pid")))
        .arg(format!("--ssl-ca={}", path("ca.pem")))
        .arg(format!("--ssl-cert={}", path("server.crt")))
        .arg(format!("--ssl-key={}", path("server.key")))
        .args(["--require-secure-transport=ON", "--skip-log-bin"])
        .args(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd (LEASEHOLD_TEST_MARIADBD) starts");
    let server = TlsMariaDb {
        _server: KillOnDrop(child),
        port,
        ca,
        _dir: guard,
    };
    for _ in 0..200 {
        if server.login("root", None, None).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the TLS MariaDB did not accept logins on {port}");
}

impl TlsMariaDb {
    /// A TLS session as `user`, trusting the test CA, with a client certificate if given.
    async fn login(
        &self,
        user: &str,
        password: Option<&SecretString>,
        identity: Option<&str>,
    ) -> anyhow::Result<Conn> {
        let mut ssl = SslOpts::default()
            .with_root_certs(vec![self.ca.pem().into_bytes().into()])
            .with_disable_built_in_roots(true);
        if let Some(pem) = identity {
            let pem = pem.as_bytes().to_vec();
            ssl =
                ssl.with_client_identity(Some(ClientIdentity::new(pem.clone().into(), pem.into())));
        }
        let opts = OptsBuilder::default()
            .ip_or_hostname("localhost")
            .tcp_port(self.port)
            .prefer_socket(false)
            .user(Some(user))
            .pass(password.map(|p| p.expose_secret().to_owned()))
            .ssl_opts(ssl);
        let conn = tokio::time::timeout(Duration::from_secs(10), Conn::new(opts)).await??;
        Ok(conn)
    }

    fn connection(&self, host: &str, tls: &str, extra: Value) -> Value {
        let mut body = json!({
            "plugin_name": "mysql-database-plugin",
            "connection_url": format!("{{{{username}}}}:{{{{password}}}}@tcp({host}:{})/?tls={tls}", self.port),
            "username": "root",
            "allowed_roles": "*",
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }
}

/// A credential of a new role `app` on `config/my`: (its context, user, password).
async fn issue(e: &Engine) -> (leasehold_backend::SecretContext, String, SecretString) {
    e.write(
        "roles/app",
        json!({"db_name": "my", "creation_statements": CREATE, "default_ttl": "1h"}),
    )
    .await;
    let secret = e.plan("app").await;
    let ctx = e.ctx(&secret, in_an_hour());
    let creds = e.backend.create(&ctx).await.unwrap();
    (ctx, secret.account, creds.secrets[0].1.clone())
}

#[tokio::test]
async fn tls_ca_verifies_the_server_and_credentials_work_over_tls() {
    let db = tls_mariadb().await;
    let e = engine();
    e.write(
        "config/my",
        db.connection("localhost", "false", json!({"tls_ca": db.ca.pem()})),
    )
    .await;
    let read = e.read("config/my").await;
    assert_eq!(read["connection_details"]["tls_ca"], json!(db.ca.pem()));
    let (ctx, user, password) = issue(&e).await;
    let mut session = db
        .login(&user, Some(&password), None)
        .await
        .expect("the issued credential logs in over TLS");
    e.backend.revoke(&ctx).await.unwrap();
    assert!(!alive(&mut session).await, "session survived revocation");
    assert!(db.login(&user, Some(&password), None).await.is_err());
    e.shutdown().await;
}

#[tokio::test]
async fn certificates_that_do_not_verify_are_refused_and_plain_tcp_is_refused_by_the_server() {
    let db = tls_mariadb().await;
    let e = engine();
    let other = TestCa::new("somebody else").unwrap().pem();
    let cases = [
        (
            "localhost",
            "false",
            json!({"tls_ca": other}),
            "UnknownIssuer",
        ),
        (
            "127.0.0.1",
            "false",
            json!({"tls_ca": db.ca.pem()}),
            "not valid for name",
        ),
        // The system's roots do not know the test CA.
        ("localhost", "true", json!({}), "UnknownIssuer"),
        // No TLS: the server requires it.
        ("localhost", "false", json!({}), "Access denied"),
    ];
    for (host, tls, extra, why) in cases {
        let body = db.connection(host, tls, extra);
        let err = e
            .call(Operation::Update, "config/my", body)
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
        assert!(err.to_string().contains(why), "{why}: {err}");
        let stored = e.call(Operation::Read, "config/my", json!({})).await;
        assert!(stored.unwrap().is_none(), "{why}: stored");
    }
    // skip-verify: encrypted, unverified (the Go driver's meaning), and it works.
    e.write(
        "config/my",
        db.connection("127.0.0.1", "skip-verify", json!({})),
    )
    .await;
    e.shutdown().await;
}

#[tokio::test]
async fn tls_certificate_key_logs_in_with_a_client_certificate() {
    let db = tls_mariadb().await;
    let (cert, key) = db.ca.server_cert(&["leasehold-client"]).unwrap();
    let identity = format!("{cert}{key}");
    let mut admin = db.login("root", None, None).await.unwrap();
    for statement in [
        "CREATE USER 'lh_cert'@'%' REQUIRE X509",
        "GRANT ALL PRIVILEGES ON *.* TO 'lh_cert'@'%' WITH GRANT OPTION",
    ] {
        admin.query_drop(statement).await.unwrap();
    }
    assert!(
        db.login("lh_cert", None, None).await.is_err(),
        "the server must insist on the certificate"
    );

    let e = engine();
    let mut body = db.connection(
        "localhost",
        "false",
        json!({"tls_ca": db.ca.pem(), "tls_certificate_key": identity}),
    );
    body["username"] = json!("lh_cert");
    e.write("config/my", body).await;
    let read = e.read("config/my").await;
    assert!(
        !Value::Object(read).to_string().contains("PRIVATE KEY"),
        "the client key is read back"
    );
    let (ctx, user, password) = issue(&e).await;
    assert!(db.login(&user, Some(&password), None).await.is_ok());
    e.backend.revoke(&ctx).await.unwrap();
    e.shutdown().await;
}
