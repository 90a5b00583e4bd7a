//! `TestApp`: a server on port 0 with its own SQLite file and key, plus HTTP helpers that return
//! `(status, json)`; and `PgTarget`: a database of its own on the shared throwaway cluster, with
//! a `database/` mount configured to use it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use leasehold::config::{Settings, StorageSettings};
use leasehold::core::Core;
use leasehold::server::Server;
use leasehold_testkit::PgCluster;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: String,
    pub token: String,
    pub core: Arc<Core>,
    pub dir: Arc<TempDir>,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// A fresh server with a fresh storage file.
    pub async fn spawn() -> TestApp {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        std::fs::write(dir.path().join("key"), hex_key()).unwrap();
        Self::spawn_in(dir, None).await
    }

    /// A fresh server whose test settings `tweak` changes first.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        std::fs::write(dir.path().join("key"), hex_key()).unwrap();
        Self::spawn_in_with(dir, None, tweak).await
    }

    /// A server on existing storage (a restart); `token` is the root token from before.
    pub async fn spawn_in(dir: Arc<TempDir>, token: Option<String>) -> TestApp {
        Self::spawn_in_with(dir, token, |_| {}).await
    }

    /// [`TestApp::spawn_in`] with the settings changed by `tweak` first.
    pub async fn spawn_in_with(
        dir: Arc<TempDir>,
        token: Option<String>,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let mut settings = Settings::for_tests(Self::db_path(&dir), dir.path().join("key"));
        tweak(&mut settings);
        let server = Server::build(&settings, None).await.unwrap();
        let token = match (&server.new_root_token, token) {
            (Some(t), _) => t.expose_secret().to_owned(),
            (None, Some(t)) => t,
            (None, None) => panic!("no root token"),
        };
        let core = server.core.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(listener, async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestApp {
            addr,
            token,
            core,
            dir,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Two servers on one PostgreSQL storage ([`SharedStorage`]): a cluster of two, the
    /// second started with the first's root token.
    pub async fn pair_on_postgres() -> (TestApp, TestApp) {
        let storage = SharedStorage::new().await;
        let a = storage.spawn(None).await;
        let b = storage.spawn(Some(a.token.clone())).await;
        (a, b)
    }

    pub fn db_path(dir: &TempDir) -> PathBuf {
        dir.path().join("leasehold.db")
    }

    /// Stop serving and wait for the server (and its expiry worker) to finish.
    pub async fn stop(mut self) -> (Arc<TempDir>, String) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        (self.dir.clone(), self.token.clone())
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(method, path, body, Some(&self.token)).await
    }

    pub async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let url = format!("http://{}/v1/{}", self.addr, path);
        let mut req = self
            .http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        if text.is_empty() {
            return (status, Value::Null);
        }
        assert_eq!(
            ct.as_deref(),
            Some("application/json"),
            "body without exact JSON content type: {text}"
        );
        (status, serde_json::from_str(&text).unwrap())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("PUT", path, Some(body)).await
    }

    /// Write and insist on success.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.put(path, body).await;
        assert!(s.is_success(), "PUT {path}: {s} {v}");
        v
    }

    /// Turn on a file audit device writing to `audit.log` in the app's directory; its path.
    pub async fn audit_to_file(&self) -> std::path::PathBuf {
        let log = self.dir.path().join("audit.log");
        let (s, v) = self
            .put(
                "sys/audit/file",
                json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
            )
            .await;
        assert_eq!(s, 204, "{v}");
        log
    }

    /// The Prometheus scrape at `sys/metrics`, as root.
    pub async fn scrape(&self) -> String {
        self.http
            .get(format!(
                "http://{}/v1/sys/metrics?format=prometheus",
                self.addr
            ))
            .header("X-Vault-Token", &self.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Two tokens whose policies grant `caps` (e.g. `"read"`) on `path`, the second with `sudo`
    /// too: (without sudo, with sudo).
    pub async fn sudo_pair(&self, path: &str, caps: &str) -> (String, String) {
        let mut tokens = Vec::new();
        for (name, extra) in [("nosudo", ""), ("withsudo", ", \"sudo\"")] {
            let policy = format!("path \"{path}\" {{ capabilities = [{caps}{extra}] }}");
            self.ok(
                &format!("sys/policies/acl/{name}"),
                json!({ "policy": policy }),
            )
            .await;
            let v = self
                .ok("auth/token/create", json!({"policies": [name]}))
                .await;
            tokens.push(v["auth"]["client_token"].as_str().unwrap().to_owned());
        }
        let with = tokens.pop().unwrap();
        (tokens.pop().unwrap(), with)
    }

    /// Change one row of the server's storage file behind its back, as an attacker with the
    /// file (or a restore) would: `sql` must touch exactly one row.
    pub fn edit_storage(&self, sql: &str, params: impl rusqlite::Params) {
        let db = rusqlite::Connection::open(Self::db_path(&self.dir)).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(db.execute(sql, params).unwrap(), 1, "{sql}");
    }

    /// Delete lease `lease_id`'s row behind the server's back (a lost or restored table): the
    /// account it names becomes an orphan for reconciliation to find.
    pub fn forget_lease(&self, lease_id: &str) {
        self.edit_storage("DELETE FROM leases WHERE id = ?1", [lease_id]);
    }

    /// Lease lookup data.
    pub async fn lookup(&self, lease_id: &str) -> (StatusCode, Value) {
        self.put("sys/leases/lookup", json!({ "lease_id": lease_id }))
            .await
    }

    /// Wait until lookup refuses `lease_id` as no longer live. The account is destroyed first
    /// and the lease recorded revoked after, so a test that saw the account go waits here for
    /// the record rather than reading it in between.
    pub async fn wait_lease_ended(&self, lease_id: &str, within: Duration) {
        let start = tokio::time::Instant::now();
        loop {
            let (s, v) = self.lookup(lease_id).await;
            if s == 400 {
                return;
            }
            assert_eq!(s, 200, "{v}");
            assert!(
                start.elapsed() < within,
                "lease {lease_id} still live after {within:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A PostgreSQL database as servers' storage, and one directory with one seal key for all of
/// them: every server spawned on it is a node of one cluster.
pub struct SharedStorage {
    pub dir: Arc<TempDir>,
    url: String,
}

impl SharedStorage {
    pub async fn new() -> SharedStorage {
        let db = PgTarget::new().await;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        std::fs::write(dir.path().join("key"), hex_key()).unwrap();
        SharedStorage {
            url: db.cluster.admin_url(&db.db),
            dir,
        }
    }

    /// A server on it; `token`: the root token the first one printed.
    pub async fn spawn(&self, token: Option<String>) -> TestApp {
        let url = self.url.clone();
        TestApp::spawn_in_with(Arc::clone(&self.dir), token, move |s: &mut Settings| {
            s.storage = StorageSettings::Postgres {
                connection_url: SecretString::from(url),
                max_parallel: 8,
            }
        })
        .await
    }
}

pub fn hex_key() -> String {
    use rand::RngCore;
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    hex::encode(k)
}

/// A database of its own on the shared cluster, and the name of the `database/` connection.
pub struct PgTarget {
    pub cluster: &'static PgCluster,
    pub db: String,
}

impl PgTarget {
    pub async fn new() -> PgTarget {
        let cluster = PgCluster::shared().await;
        let db = format!("t_{}", rand_suffix());
        cluster.create_database(&db).await.unwrap();
        PgTarget { cluster, db }
    }

    /// A cluster of this test's own, for tests that stop it (an outage). Leaked on purpose: the
    /// testkit's watcher stops and removes it when the test process exits.
    pub async fn own() -> PgTarget {
        let cluster: &'static PgCluster = Box::leak(Box::new(PgCluster::start().await.unwrap()));
        let db = format!("t_{}", rand_suffix());
        cluster.create_database(&db).await.unwrap();
        PgTarget { cluster, db }
    }

    pub fn url_on_port(&self, port: u16) -> String {
        format!(
            "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/{}",
            self.db
        )
    }

    /// Mount `database/` and configure connection `pg` plus a role `name` with `ttl`/`max`.
    pub async fn configure(&self, app: &TestApp, port: u16) {
        let (s, _) = app
            .put("sys/mounts/database", json!({"type": "database"}))
            .await;
        assert!(s.is_success() || s == 400, "mount: {s}");
        app.ok(
            "database/config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": self.url_on_port(port),
                "username": "postgres",
                "password": self.cluster.superuser_password(),
                "allowed_roles": "*",
                "verify_connection": port == self.cluster.port(),
            }),
        )
        .await;
    }

    pub async fn role(&self, app: &TestApp, name: &str, ttl: &str, max: &str) {
        app.ok(
            &format!("database/roles/{name}"),
            json!({
                "db_name": "pg",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                    "GRANT ALL ON SCHEMA public TO \"{{name}}\";"
                ],
                "default_ttl": ttl,
                "max_ttl": max,
            }),
        )
        .await;
    }

    /// Can `user` log in with `password` right now?
    pub async fn can_login(&self, user: &str, password: &str) -> bool {
        self.cluster.connect(user, password, &self.db).await.is_ok()
    }

    /// Is `user` in pg_roles?
    pub async fn role_exists(&self, user: &str) -> bool {
        let admin = self
            .cluster
            .connect("postgres", self.cluster.superuser_password(), &self.db)
            .await
            .unwrap();
        let row = admin
            .query_one("SELECT count(*) FROM pg_roles WHERE rolname = $1", &[&user])
            .await
            .unwrap();
        row.get::<_, i64>(0) == 1
    }

    /// Roles in pg_roles issued for our role `role` (names `v-<display>-<role>-...`). Roles are
    /// cluster-wide, so other tests' roles must not be counted.
    pub async fn roles_for(&self, role: &str) -> Vec<String> {
        let admin = self
            .cluster
            .connect("postgres", self.cluster.superuser_password(), &self.db)
            .await
            .unwrap();
        let pattern = format!("v-%-{role}-%");
        admin
            .query(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE $1",
                &[&pattern],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Poll until `user` is gone from pg_roles; panics after `within`.
    pub async fn wait_gone(&self, user: &str, within: Duration) -> Duration {
        let start = tokio::time::Instant::now();
        while self.role_exists(user).await {
            assert!(
                start.elapsed() < within,
                "role {user} still exists after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        start.elapsed()
    }
}

/// A role name unique across the shared PostgreSQL cluster (roles are cluster-wide), short
/// enough to appear whole in generated user names (the default template keeps 8 characters of
/// it), which is how [`PgTarget::roles_for`] finds its users.
pub fn role_name(prefix: char) -> String {
    format!("{prefix}{}", &rand_suffix()[..7])
}

pub fn rand_suffix() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric
        .sample_string(&mut rand::thread_rng(), 10)
        .to_lowercase()
}

/// Issue creds for `role`: (lease_id, username, password, whole body).
pub async fn issue(app: &TestApp, role: &str) -> (String, String, String, Value) {
    let (s, v) = app.get(&format!("database/creds/{role}")).await;
    assert_eq!(s, 200, "creds: {v}");
    (
        v["lease_id"].as_str().unwrap().to_owned(),
        v["data"]["username"].as_str().unwrap().to_owned(),
        v["data"]["password"].as_str().unwrap().to_owned(),
        v,
    )
}

/// Log in with a fresh secret id of the AppRole role `role` (mounted at `auth/approle`); the
/// login's token.
pub async fn approle_login(app: &TestApp, role: &str) -> String {
    let role_id = app
        .get(&format!("auth/approle/role/{role}/role-id"))
        .await
        .1["data"]["role_id"]
        .clone();
    let secret = app
        .put(&format!("auth/approle/role/{role}/secret-id"), json!({}))
        .await
        .1["data"]["secret_id"]
        .clone();
    let (s, v) = app
        .call_as(
            "POST",
            "auth/approle/login",
            Some(json!({"role_id": role_id, "secret_id": secret})),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["auth"]["client_token"].as_str().unwrap().to_owned()
}
