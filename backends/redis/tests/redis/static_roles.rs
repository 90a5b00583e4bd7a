//! Static roles and rotate-root on Redis: every password the engine hands out is checked by
//! logging in, and every password it replaced is checked to fail. The engine's clock moves only
//! when the test says, so `ttl` is checked without sleeping.

use async_trait::async_trait;
use leasehold_database::harness::Server;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::engine::engine;
use crate::support::*;

/// Vault's Redis connection form (host and port), as `user`, or as the default user.
fn connection(user: Option<(&str, &SecretString)>) -> Value {
    let mut body = json!({
        "plugin_name": "redis-database-plugin",
        "host": "127.0.0.1",
        "port": port(),
        "allowed_roles": "*",
    });
    if let Some((user, password)) = user {
        body["username"] = json!(user);
        body["password"] = json!(password.expose_secret());
    }
    body
}

/// An existing ACL user made behind the engine's back, as an application's would be.
async fn existing_user(rules: &[&str]) -> (String, SecretString) {
    let (user, password) = (format!("app-{}", random_lower(10)), new_password());
    let mut admin = connect(None).await.unwrap();
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(format!(">{}", password.expose_secret()))
        .arg(rules);
    let _: () = cmd.query_async(&mut admin).await.unwrap();
    Target::new()
        .login(&user, &password)
        .await
        .expect("setup: user cannot log in");
    (user, password)
}

async fn drop_user(user: &str) {
    let mut admin = connect(None).await.unwrap();
    let _: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(user)
        .query_async(&mut admin)
        .await
        .unwrap();
}

#[async_trait]
impl Server for Target {
    async fn logs_in(&self, user: &str, password: &SecretString) -> bool {
        self.login(user, password).await.is_ok()
    }
    async fn has_user(&self, user: &str) -> bool {
        self.exists(user).await
    }
}

#[tokio::test]
async fn a_static_role_takes_over_an_existing_users_password_and_rotates_it() {
    let t = Target::new();
    let e = engine();
    e.write("config/rd", connection(None)).await;
    let (user, initial) = existing_user(&["~lh-test:*", "+@read", "+ping"]).await;
    let mut session = t.login(&user, &initial).await.unwrap();

    e.static_role_life("rd", &user, &initial, &t).await;
    // Rotation changes the password, not the connections already open (as Vault).
    assert!(alive(&mut session).await);
    drop_user(&user).await;

    // SETUSER would create a missing user: the engine must refuse instead.
    let ghost = format!("ghost-{}", random_lower(8));
    e.static_role_refused_for_missing_user("rd", &ghost).await;
    assert!(!t.exists(&ghost).await);
    e.shutdown().await;
}

#[tokio::test]
async fn a_password_set_before_a_crash_is_committed_at_restart() {
    let t = Target::new();
    let e = engine();
    e.write("config/rd", connection(None)).await;
    let (user, _) = existing_user(&["~lh-test:*", "+ping"]).await;
    e.rotation_crash_recovered("rd", &user, &t).await;
    drop_user(&user).await;
    e.shutdown().await;
}

#[tokio::test]
async fn rotate_root_changes_the_connection_users_password_and_the_engine_keeps_working() {
    let t = Target::new();
    // An administrator of the test's own, so the default user keeps working for the others.
    let (root, root_password) = existing_user(&["~*", "&*", "+@all"]).await;
    let e = engine();
    e.write("config/rd", connection(Some((&root, &root_password))))
        .await;
    e.write(
        "roles/cache",
        json!({"db_name": "rd", "creation_statements": RULES, "default_ttl": "1h"}),
    )
    .await;
    let (user, _) = existing_user(&["~lh-test:*", "+@read", "+ping"]).await;

    e.rotate_root_life("rd", "cache", &root, &root_password, &user, &t)
        .await;
    e.shutdown().await;
    drop_user(&user).await;
    drop_user(&root).await;
}
