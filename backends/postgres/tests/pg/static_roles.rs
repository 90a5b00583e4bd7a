//! Static roles and rotate-root against the real thing: every claim is checked by logging in.
//! The engine runs on a clock the test moves, so `ttl` is checked without sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use leasehold_backend::{Backend, BackendError, Operation, Response};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::engine::{Engine, MemoryStorage};
use crate::support::*;

/// An engine whose clock moves only when told.
struct Clocked {
    engine: Engine,
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl Clocked {
    fn new() -> Self {
        Self::on(Arc::new(MemoryStorage::default()))
    }

    /// A new engine (a restarted server) over `storage`.
    fn on(storage: Arc<MemoryStorage>) -> Self {
        let now = Arc::new(Mutex::new(Utc::now()));
        let clock = now.clone();
        Self {
            engine: Engine::with(Arc::new(move || *clock.lock().unwrap()), storage),
            now,
        }
    }

    fn advance(&self, secs: i64) {
        *self.now.lock().unwrap() += chrono::Duration::seconds(secs);
    }

    async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, BackendError> {
        self.engine.call(op, path, body).await
    }

    async fn write(&self, path: &str, body: Value) {
        self.call(Operation::Update, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// `static-creds/<name>`: (password, ttl).
    async fn static_creds(&self, name: &str) -> (SecretString, i64) {
        let data = self
            .call(Operation::Read, &format!("static-creds/{name}"), json!({}))
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap();
        (
            SecretString::from(data["password"].as_str().unwrap().to_owned()),
            data["ttl"].as_i64().unwrap(),
        )
    }
}

fn connection(t: &Target, user: &str, password: &str) -> Value {
    json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/{}", t.cluster.port(), t.db),
        "username": user,
        "password": password,
        "allowed_roles": "*",
    })
}

/// An existing login user, as an application's would be, with a known password.
async fn existing_user(t: &Target) -> (String, SecretString) {
    let (user, password) = (format!("app_{}", random_lower(10)), new_password());
    use secrecy::ExposeSecret;
    t.admin()
        .await
        .batch_execute(&format!(
            "CREATE ROLE \"{user}\" WITH LOGIN PASSWORD '{}'",
            password.expose_secret()
        ))
        .await
        .unwrap();
    t.login(&user, &password)
        .await
        .expect("setup: user cannot log in");
    (user, password)
}

#[tokio::test]
async fn a_static_role_takes_over_an_existing_users_password() {
    let t = Target::new().await;
    let e = Clocked::new();
    e.write(
        "config/pg",
        connection(&t, "postgres", t.cluster.superuser_password()),
    )
    .await;
    let (user, initial) = existing_user(&t).await;

    e.write(
        "static-roles/app",
        json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
    )
    .await;
    let (first, ttl) = e.static_creds("app").await;
    assert_eq!(ttl, 3600);
    t.login(&user, &first)
        .await
        .expect("the password static-creds gives does not log in");
    assert!(
        t.login(&user, &initial).await.is_err(),
        "the imported password still works"
    );

    e.advance(100);
    assert_eq!(
        e.static_creds("app").await.1,
        3500,
        "ttl counts down to the next rotation"
    );

    let session = t.login(&user, &first).await.unwrap();
    e.call(Operation::Update, "rotate-role/app", json!({}))
        .await
        .unwrap();
    let (second, ttl) = e.static_creds("app").await;
    assert_eq!(ttl, 3600);
    t.login(&user, &second)
        .await
        .expect("rotated password does not log in");
    assert!(
        t.login(&user, &first).await.is_err(),
        "the old password still works"
    );
    // Rotation changes the password, not the sessions already open (as Vault).
    session.simple_query("SELECT 1").await.unwrap();

    // Overdue: the read rotates first, and hands out what the database now has.
    e.advance(3600);
    let (third, _) = e.static_creds("app").await;
    t.login(&user, &third).await.unwrap();
    assert!(t.login(&user, &second).await.is_err());
    e.engine.backend.shutdown().await;
}

#[tokio::test]
async fn custom_rotation_statements_and_a_user_that_does_not_exist() {
    let t = Target::new().await;
    let e = Clocked::new();
    e.write(
        "config/pg",
        connection(&t, "postgres", t.cluster.superuser_password()),
    )
    .await;
    let (user, initial) = existing_user(&t).await;
    e.write(
        "static-roles/app",
        json!({"db_name": "pg", "username": user, "rotation_period": 60,
               "rotation_statements": ["ALTER USER \"{{name}}\" WITH PASSWORD '{{password}}' VALID UNTIL 'infinity'"]}),
    )
    .await;
    let (password, _) = e.static_creds("app").await;
    t.login(&user, &password).await.unwrap();
    assert!(t.login(&user, &initial).await.is_err());

    // PostgreSQL refuses: nothing is created and nothing is left pending.
    let err = e
        .call(
            Operation::Update,
            "static-roles/ghost",
            json!({"db_name": "pg", "username": "no_such_user", "rotation_period": 60}),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Target(_)), "{err:?}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(e
        .call(Operation::Read, "static-roles/ghost", json!({}))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_password_set_before_a_crash_is_committed_at_restart() {
    use secrecy::ExposeSecret;
    let t = Target::new().await;
    let e = Clocked::new();
    e.write(
        "config/pg",
        connection(&t, "postgres", t.cluster.superuser_password()),
    )
    .await;
    let (user, _) = existing_user(&t).await;
    e.write(
        "static-roles/app",
        json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
    )
    .await;
    let (before, _) = e.static_creds("app").await;

    // What a crash between "password set" and "committed" leaves: the pending record (written
    // first) and the database holding its password, while the role still has the old one.
    let pending = new_password();
    let record = json!({"password": pending.expose_secret(), "started": Utc::now()});
    e.engine.storage.0.lock().unwrap().insert(
        "pending-rotation/static-role/app".into(),
        serde_json::to_vec(&record).unwrap(),
    );
    t.admin()
        .await
        .batch_execute(&format!(
            "ALTER ROLE \"{user}\" WITH PASSWORD '{}'",
            pending.expose_secret()
        ))
        .await
        .unwrap();
    assert!(t.login(&user, &before).await.is_err());

    let restarted = Clocked::on(e.engine.storage.clone());
    let (after, _) = restarted.static_creds("app").await;
    assert_eq!(
        after.expose_secret(),
        pending.expose_secret(),
        "handed out the stale password"
    );
    t.login(&user, &after).await.unwrap();
    assert!(!restarted
        .engine
        .storage
        .0
        .lock()
        .unwrap()
        .contains_key("pending-rotation/static-role/app"));
}

#[tokio::test]
async fn rotate_root_changes_the_connection_users_password_and_the_engine_keeps_working() {
    use secrecy::ExposeSecret;
    let t = Target::new().await;
    // A superuser of the test's own, so the cluster's `postgres` keeps its password.
    let (root, root_password) = (format!("lh_root_{}", random_lower(10)), new_password());
    t.admin()
        .await
        .batch_execute(&format!(
            "CREATE ROLE \"{root}\" WITH LOGIN SUPERUSER PASSWORD '{}'",
            root_password.expose_secret()
        ))
        .await
        .unwrap();
    let e = Clocked::new();
    e.write(
        "config/pg",
        connection(&t, &root, root_password.expose_secret()),
    )
    .await;
    e.write(
        "roles/migrate",
        json!({"db_name": "pg", "creation_statements": CREATE, "default_ttl": "1h"}),
    )
    .await;
    let (user, _) = existing_user(&t).await;
    e.write(
        "static-roles/app",
        json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
    )
    .await;
    // The cached driver is open and logged in with the old password.
    issue_and_revoke(&t, &e).await;

    let resp = e
        .call(Operation::Update, "rotate-root/pg", json!({}))
        .await
        .unwrap();
    assert!(
        resp.is_none(),
        "rotate-root answers 204, without the password"
    );
    assert!(
        t.login(&root, &root_password).await.is_err(),
        "the connection user's old password still logs in"
    );
    let stored: Value =
        serde_json::from_slice(&e.engine.storage.0.lock().unwrap()["config/pg"]).unwrap();
    let new_root = SecretString::from(stored["password"].as_str().unwrap().to_owned());
    assert_ne!(new_root.expose_secret(), root_password.expose_secret());
    t.login(&root, &new_root)
        .await
        .expect("the stored root password does not log in");
    let read = e
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap()
        .unwrap();
    assert!(!Value::Object(read.data.unwrap())
        .to_string()
        .contains(new_root.expose_secret()));

    // The engine reconnected with the new password: dynamic credentials and rotations work.
    issue_and_revoke(&t, &e).await;
    e.call(Operation::Update, "rotate-role/app", json!({}))
        .await
        .unwrap();
    let (password, _) = e.static_creds("app").await;
    t.login(&user, &password).await.unwrap();
    // And again: the second rotation logs in with the first one's password.
    e.call(Operation::Update, "rotate-root/pg", json!({}))
        .await
        .unwrap();
    issue_and_revoke(&t, &e).await;
    e.engine.backend.shutdown().await;
}

/// A dynamic credential through the engine, checked by logging in, then destroyed.
async fn issue_and_revoke(t: &Target, e: &Clocked) {
    let secret = e
        .call(Operation::Read, "creds/migrate", json!({}))
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    let ctx = e.engine.ctx(&secret, in_an_hour());
    let creds = e
        .engine
        .backend
        .create(&ctx)
        .await
        .expect("create through the engine");
    t.login(&secret.account, &creds.secrets[0].1).await.unwrap();
    e.engine
        .backend
        .revoke(&ctx)
        .await
        .expect("revoke through the engine");
    assert_eq!(t.role(&secret.account).await, None);
}
