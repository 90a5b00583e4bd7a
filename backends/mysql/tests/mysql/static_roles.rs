//! Static roles and rotate-root on MySQL/MariaDB: every password the engine hands out is checked
//! by logging in, and every password it replaced is checked to fail. The engine's clock moves
//! only when the test says, so `ttl` is checked without sleeping.

use async_trait::async_trait;
use leasehold_database::harness::Server;
use mysql_async::prelude::Queryable;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::engine::engine;
use crate::support::*;

/// Vault's MySQL connection form, as `user` (root has no password on the test server).
fn connection(user: &str, password: Option<&SecretString>) -> Value {
    let mut body = json!({
        "plugin_name": "mysql-database-plugin",
        "connection_url": format!("{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{})/", port()),
        "username": user,
        "allowed_roles": "*",
        "username_template": "v-{{.RoleName | truncate 8}}-{{random 20}}",
    });
    if let Some(password) = password {
        body["password"] = json!(password.expose_secret());
    }
    body
}

/// An existing account made behind the engine's back, as an application's would be, on two
/// hosts: a rotation must leave neither accepting the old password. `grant` names the account
/// `{account}`.
async fn existing_user(t: &Target, grant: &str) -> (String, SecretString) {
    let (user, password) = (format!("app_{}", random_lower(10)), new_password());
    let mut admin = t.admin().await;
    for host in ["%", "localhost"] {
        admin
            .query_drop(format!(
                "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{}'",
                password.expose_secret()
            ))
            .await
            .unwrap();
        admin
            .query_drop(grant.replace("{account}", &format!("'{user}'@'{host}'")))
            .await
            .unwrap();
    }
    t.login(&user, &password)
        .await
        .expect("setup: user cannot log in");
    (user, password)
}

async fn drop_user(t: &Target, user: &str) {
    let mut admin = t.admin().await;
    for host in ["%", "localhost"] {
        admin
            .query_drop(format!("DROP USER IF EXISTS '{user}'@'{host}'"))
            .await
            .unwrap();
    }
}

#[async_trait]
impl Server for Target {
    async fn logs_in(&self, user: &str, password: &SecretString) -> bool {
        self.login(user, password).await.is_ok()
    }
    async fn has_user(&self, user: &str) -> bool {
        !self.accounts(user).await.is_empty()
    }
}

#[tokio::test]
async fn a_static_role_takes_over_an_existing_users_password_and_rotates_it() {
    let t = Target::new();
    let e = engine();
    e.write("config/my", connection("root", None)).await;
    let (user, initial) = existing_user(&t, "GRANT SELECT ON test.* TO {account}").await;
    let mut session = t.login(&user, &initial).await.unwrap();

    e.static_role_life("my", &user, &initial, &t).await;
    assert_eq!(
        t.accounts(&user).await,
        ["%", "localhost"],
        "a rotation must not touch hosts"
    );
    // Rotation changes the password, not the sessions already open (as Vault).
    assert!(alive(&mut session).await);
    drop_user(&t, &user).await;

    e.static_role_refused_for_missing_user("my", "no_such_user")
        .await;
    e.shutdown().await;
}

#[tokio::test]
async fn custom_rotation_statements_run_in_order() {
    let t = Target::new();
    let e = engine();
    e.write("config/my", connection("root", None)).await;
    let (user, initial) = existing_user(&t, "GRANT USAGE ON *.* TO {account}").await;
    e.write(
        "static-roles/app",
        json!({"db_name": "my", "username": user, "rotation_period": 60,
               "rotation_statements": [
                   "ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
                   "ALTER USER '{{name}}'@'localhost' IDENTIFIED BY '{{password}}';"]}),
    )
    .await;
    let (password, _) = e.static_creds("app").await;
    assert!(t.logs_in(&user, &password).await);
    assert!(!t.logs_in(&user, &initial).await);
    drop_user(&t, &user).await;
    e.shutdown().await;
}

#[tokio::test]
async fn a_password_set_before_a_crash_is_committed_at_restart() {
    let t = Target::new();
    let e = engine();
    e.write("config/my", connection("root", None)).await;
    let (user, _) = existing_user(&t, "GRANT USAGE ON *.* TO {account}").await;
    e.rotation_crash_recovered("my", &user, &t).await;
    drop_user(&t, &user).await;
    e.shutdown().await;
}

#[tokio::test]
async fn rotate_root_changes_the_connection_users_password_and_the_engine_keeps_working() {
    let t = Target::new();
    // An administrator of the test's own, so the server's root keeps its (empty) password.
    let admin_grant = "GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION";
    let (root, root_password) = existing_user(&t, admin_grant).await;
    let e = engine();
    e.write("config/my", connection(&root, Some(&root_password)))
        .await;
    e.write(
        "roles/migrate",
        json!({"db_name": "my", "creation_statements": CREATE, "default_ttl": "1h"}),
    )
    .await;
    let (user, _) = existing_user(&t, "GRANT USAGE ON *.* TO {account}").await;

    e.rotate_root_life("my", "migrate", &root, &root_password, &user, &t)
        .await;
    e.shutdown().await;
    drop_user(&t, &user).await;
    drop_user(&t, &root).await;
}
