//! [`RedisDriverFactory`]: turns a stored connection config into a [`RedisDriver`].
//!
//! The connection URL is `redis://host:port[/db]` (or `redis+unix:///path.sock`); the user and
//! password come from the URL when it has them (`redis://{{username}}:{{password}}@host:6379`,
//! percent-escaped by the engine) and otherwise from the config's `username` and `password`.
//! TLS (`rediss://`) is refused: not supported yet.

use std::sync::Arc;

use leasehold_database::{ConnectionConfig, Driver, DriverError, DriverFactory};
use redis::{ConnectionAddr, IntoConnectionInfo};
use secrecy::ExposeSecret;

use crate::driver::RedisDriver;

/// The `plugin_name` values served, as Vault names its Redis plugin.
pub const PLUGIN_NAMES: &[&str] = &["redis-database-plugin"];

/// Opens [`RedisDriver`]s. Register it with `DatabaseBackend::new`.
#[derive(Debug, Default, Clone)]
pub struct RedisDriverFactory;

impl RedisDriverFactory {
    /// The factory (it holds no state: each driver owns its connection).
    pub fn new() -> Self {
        Self
    }
}

impl DriverFactory for RedisDriverFactory {
    fn plugin_names(&self) -> &'static [&'static str] {
        PLUGIN_NAMES
    }

    /// Parse the URL and credentials. Nothing connects until the driver is first used.
    fn open(&self, config: &ConnectionConfig) -> Result<Arc<dyn Driver>, DriverError> {
        let client = redis::Client::open(connection_info(config)?)
            .map_err(|e| DriverError::InvalidConfig(format!("invalid connection settings: {e}")))?;
        Ok(Arc::new(RedisDriver::new(client, config.name.clone())))
    }
}

/// Where and as whom to connect; see the module docs.
pub(crate) fn connection_info(
    config: &ConnectionConfig,
) -> Result<redis::ConnectionInfo, DriverError> {
    let template = config.connection_url.trim();
    if template.is_empty() {
        return Err(DriverError::InvalidConfig(
            "connection_url is required (redis://host:port)".into(),
        ));
    }
    if !template.starts_with("redis://") && !template.starts_with("redis+unix://") {
        return Err(DriverError::InvalidConfig(
            "connection_url must be a redis://host:port URL (rediss:// TLS is not supported yet)"
                .into(),
        ));
    }
    let url = config.render_url()?;
    let info = url.expose_secret().into_connection_info().map_err(|e| {
        DriverError::InvalidConfig(format!("connection_url is not a valid Redis URL: {e}"))
    })?;
    if matches!(info.addr(), ConnectionAddr::Tcp(host, _) if host.is_empty()) {
        return Err(DriverError::InvalidConfig(
            "connection_url names no host".into(),
        ));
    }
    let mut settings = info.redis_settings().clone();
    if settings.username().is_none() {
        if let Some(user) = config.username.as_deref().filter(|u| !u.is_empty()) {
            settings = settings.set_username(user);
        }
    }
    if settings.password().is_none() {
        if let Some(password) = &config.password {
            settings = settings.set_password(password.expose_secret());
        }
    }
    Ok(info.set_redis_settings(settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::time::Duration;

    fn config(url: &str, username: Option<&str>, password: Option<&str>) -> ConnectionConfig {
        ConnectionConfig {
            name: "rd".into(),
            plugin_name: PLUGIN_NAMES[0].into(),
            connection_url: url.into(),
            username: username.map(str::to_owned),
            password: password.map(SecretString::from),
            disable_escaping: false,
            max_open_connections: 2,
            max_idle_connections: 2,
            max_connection_lifetime: Duration::ZERO,
        }
    }

    #[test]
    fn credentials_come_from_the_url_or_the_config() {
        let info = connection_info(&config(
            "redis://127.0.0.1:6380",
            Some("admin"),
            Some("p@ss word"),
        ))
        .unwrap();
        assert!(matches!(info.addr(), ConnectionAddr::Tcp(h, 6380) if h == "127.0.0.1"));
        assert_eq!(info.redis_settings().username(), Some("admin"));
        assert_eq!(info.redis_settings().password(), Some("p@ss word"));

        let info = connection_info(&config(
            "redis://{{username}}:{{password}}@db.example:6379/2",
            Some("admin"),
            Some("p@ss:w/rd"),
        ))
        .unwrap();
        assert_eq!(info.redis_settings().username(), Some("admin"));
        assert_eq!(info.redis_settings().password(), Some("p@ss:w/rd"));
        assert_eq!(info.redis_settings().db(), 2);

        let info = connection_info(&config("redis://127.0.0.1:6379", None, None)).unwrap();
        assert_eq!(info.redis_settings().username(), None);
        assert_eq!(info.redis_settings().password(), None);
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in [
            "",
            "127.0.0.1:6379",
            "rediss://h:6379",
            "postgresql://h/db",
            "redis://h:port",
        ] {
            let err = connection_info(&config(url, None, None))
                .map(|_| ())
                .unwrap_err();
            assert!(
                matches!(err, DriverError::InvalidConfig(_)),
                "{url}: {err:?}"
            );
        }
    }
}
