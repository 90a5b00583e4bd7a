//! A driver pointed at the server, logins as issued users, and look-ups in `mysql.user`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_database::{
    ConnectionConfig, DeleteUser, Driver, DriverError, DriverFactory, NewUser,
};
use leasehold_mysql::MySqlDriverFactory;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use rand::distributions::{Alphanumeric, DistString};
use secrecy::{ExposeSecret, SecretString};

/// Vault's example role, on the `test` database.
pub const CREATE: &str = "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';\n\
                          GRANT SELECT ON test.* TO '{{name}}'@'%';";

pub fn port() -> u16 {
    std::env::var("LEASEHOLD_TEST_MYSQL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3306)
}

pub fn random_lower(n: usize) -> String {
    Alphanumeric
        .sample_string(&mut rand::thread_rng(), n)
        .to_lowercase()
}

/// 16 characters: fits even the legacy plugins.
pub fn new_username() -> String {
    format!("v-t-{}", random_lower(12))
}

pub fn new_password() -> SecretString {
    SecretString::from(format!(
        "Aa1-{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
    ))
}

pub fn in_an_hour() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(1)
}

/// The connection config in Vault's form, as root with an empty password.
pub fn config(plugin: &str, port: u16) -> ConnectionConfig {
    ConnectionConfig {
        name: "my".into(),
        plugin_name: plugin.into(),
        connection_url: format!("{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{port})/test"),
        username: Some("root".into()),
        password: None,
        disable_escaping: false,
        max_open_connections: 2,
        max_idle_connections: 2,
        max_connection_lifetime: Duration::ZERO,
        ..Default::default()
    }
}

pub struct Target {
    pub driver: Arc<dyn Driver>,
}

impl Target {
    pub fn new() -> Target {
        Self::with_plugin("mysql-database-plugin")
    }

    pub fn with_plugin(plugin: &str) -> Target {
        let driver = MySqlDriverFactory::new()
            .open(&config(plugin, port()))
            .unwrap();
        Target { driver }
    }

    pub async fn admin(&self) -> Conn {
        connect("root", None).await.unwrap()
    }

    /// A fresh connection authenticating as `user`.
    pub async fn login(&self, user: &str, password: &SecretString) -> anyhow::Result<Conn> {
        connect(user, Some(password.expose_secret())).await
    }

    /// The hosts of `user`'s accounts.
    pub async fn accounts(&self, user: &str) -> Vec<String> {
        self.admin()
            .await
            .exec(
                "SELECT Host FROM mysql.user WHERE User = ? ORDER BY Host",
                (user,),
            )
            .await
            .unwrap()
    }

    /// Create `user` with the standard statements.
    pub async fn create(&self, user: &str, password: &SecretString) {
        self.driver
            .new_user(NewUser {
                username: user,
                password,
                expiration: in_an_hour(),
                creation_statements: &[CREATE.to_owned()],
                rollback_statements: &[],
            })
            .await
            .unwrap();
    }

    pub async fn delete(&self, user: &str) -> Result<leasehold_database::Revoked, DriverError> {
        self.driver
            .delete_user(DeleteUser {
                username: user,
                revocation_statements: &[],
                reassign_owned_to: None,
            })
            .await
    }
}

pub async fn connect(user: &str, password: Option<&str>) -> anyhow::Result<Conn> {
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port())
        .prefer_socket(false)
        .user(Some(user))
        .pass(password);
    let conn = tokio::time::timeout(Duration::from_secs(10), Conn::new(opts)).await??;
    Ok(conn)
}

/// Whether `conn` can still run a query.
pub async fn alive(conn: &mut Conn) -> bool {
    conn.query_drop("SELECT 1").await.is_ok()
}
