//! Static roles and rotate-root against the real thing: every claim is checked by logging in.
//! The engine runs on a clock the test moves, so `ttl` is checked without sleeping.

use async_trait::async_trait;
use leasehold_database::harness::Server;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::engine::engine;
use crate::support::*;

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

#[async_trait]
impl Server for Target {
    async fn logs_in(&self, user: &str, password: &SecretString) -> bool {
        self.login(user, password).await.is_ok()
    }
    async fn has_user(&self, user: &str) -> bool {
        self.role(user).await.is_some()
    }
}

#[tokio::test]
async fn a_static_role_takes_over_an_existing_users_password() {
    let t = Target::new().await;
    let e = engine();
    e.write(
        "config/pg",
        connection(&t, "postgres", t.cluster.superuser_password()),
    )
    .await;
    let (user, initial) = existing_user(&t).await;

    let session = t.login(&user, &initial).await.unwrap();
    e.static_role_life("pg", &user, &initial, &t).await;
    // Rotation changes the password, not the sessions already open (as Vault).
    session.simple_query("SELECT 1").await.unwrap();
    e.shutdown().await;
}

#[tokio::test]
async fn custom_rotation_statements_and_a_user_that_does_not_exist() {
    let t = Target::new().await;
    let e = engine();
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
    e.static_role_refused_for_missing_user("pg", "no_such_user")
        .await;
}

#[tokio::test]
async fn a_password_set_before_a_crash_is_committed_at_restart() {
    let t = Target::new().await;
    let e = engine();
    e.write(
        "config/pg",
        connection(&t, "postgres", t.cluster.superuser_password()),
    )
    .await;
    let (user, _) = existing_user(&t).await;
    e.rotation_crash_recovered("pg", &user, &t).await;
    e.shutdown().await;
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
    let e = engine();
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

    e.rotate_root_life("pg", "migrate", &root, &root_password, &user, &t)
        .await;
    e.shutdown().await;
}
