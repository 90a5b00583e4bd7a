//! A driver pointed at the server, logins as issued users, and ACL look-ups.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_database::{
    ConnectionConfig, DeleteUser, Driver, DriverError, DriverFactory, NewUser,
};
use leasehold_redis::RedisDriverFactory;
use rand::distributions::{Alphanumeric, DistString};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo, Value};
use secrecy::{ExposeSecret, SecretString};

/// Vault's form: one JSON list of ACL rules. Keys under `lh-test:` only.
pub const RULES: &str = r#"["~lh-test:*", "+@read", "+@write", "+ping"]"#;

pub fn port() -> u16 {
    std::env::var("LEASEHOLD_TEST_REDIS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(6379)
}

pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

pub fn random_lower(n: usize) -> String {
    Alphanumeric
        .sample_string(&mut rand::thread_rng(), n)
        .to_lowercase()
}

pub fn new_username() -> String {
    format!("v-t-{}", random_lower(16))
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

pub fn config(port: u16) -> ConnectionConfig {
    ConnectionConfig {
        name: "rd".into(),
        plugin_name: "redis-database-plugin".into(),
        connection_url: url(port),
        username: None,
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
        Target {
            driver: RedisDriverFactory::new().open(&config(port())).unwrap(),
        }
    }

    /// Whether the server knows `user`.
    pub async fn exists(&self, user: &str) -> bool {
        let mut admin = connect(None).await.unwrap();
        let value: Value = redis::cmd("ACL")
            .arg("GETUSER")
            .arg(user)
            .query_async(&mut admin)
            .await
            .unwrap();
        !matches!(value, Value::Nil)
    }

    /// A fresh connection authenticating as `user`.
    pub async fn login(
        &self,
        user: &str,
        password: &SecretString,
    ) -> anyhow::Result<MultiplexedConnection> {
        connect(Some((user, password.expose_secret()))).await
    }

    pub async fn create(&self, user: &str, password: &SecretString) {
        self.driver
            .new_user(NewUser {
                username: user,
                password,
                expiration: in_an_hour(),
                creation_statements: &[RULES.to_owned()],
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

/// A connection as the default user (`None`) or as `(user, password)`.
pub async fn connect(as_user: Option<(&str, &str)>) -> anyhow::Result<MultiplexedConnection> {
    let info = url(port()).into_connection_info()?;
    let mut settings = info.redis_settings().clone();
    if let Some((user, password)) = as_user {
        settings = settings.set_username(user).set_password(password);
    }
    let client = redis::Client::open(info.set_redis_settings(settings))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// Whether `conn` can still run a command.
pub async fn alive(conn: &mut MultiplexedConnection) -> bool {
    redis::cmd("PING").query_async::<String>(conn).await.is_ok()
}
