//! [`MySqlDriverFactory`]: turns a stored connection config into a pooled [`MySqlDriver`].

use std::sync::Arc;

use leasehold_database::{ConnectionConfig, Driver, DriverError, DriverFactory, Options};
use serde_json::{Map, Value};

use crate::connection_url::client_opts;
use crate::dialect::{LEGACY_MAX_USERNAME_LEN, MAX_USERNAME_LEN};
use crate::driver::MySqlDriver;

/// The `plugin_name` values served, as Vault names its MySQL plugins. They differ only in the
/// longest user name: 32 characters for `mysql-database-plugin`, 16 for the other three (Vault
/// gives Aurora and RDS the legacy limit too, for their older engines).
pub const PLUGIN_NAMES: &[&str] = &[
    "mysql-database-plugin",
    "mysql-aurora-database-plugin",
    "mysql-rds-database-plugin",
    "mysql-legacy-database-plugin",
];

/// Vault's fields for plugins addressed by host and port: refused, the address goes in the URL.
const ADDRESS_FIELDS: &[&str] = &["host", "port", "tls", "insecure_tls", "ca_cert"];

/// The driver's own settings: Vault's MySQL TLS fields, and the address fields it refuses.
const OPTIONS: &[&str] = &[
    "tls_ca",
    "tls_certificate_key",
    "host",
    "port",
    "tls",
    "insecure_tls",
    "ca_cert",
];

/// The longest user name for `plugin_name`.
pub fn max_username_len(plugin_name: &str) -> usize {
    if plugin_name == "mysql-database-plugin" {
        MAX_USERNAME_LEN
    } else {
        LEGACY_MAX_USERNAME_LEN
    }
}

/// Opens [`MySqlDriver`]s for MySQL and MariaDB. Register it with `DatabaseBackend::new`.
#[derive(Debug, Default, Clone)]
pub struct MySqlDriverFactory;

impl MySqlDriverFactory {
    /// The factory (it holds no state: each driver owns its pool).
    pub fn new() -> Self {
        Self
    }
}

impl DriverFactory for MySqlDriverFactory {
    fn plugin_names(&self) -> &'static [&'static str] {
        PLUGIN_NAMES
    }

    fn options(&self) -> &'static [&'static str] {
        OPTIONS
    }

    /// The CA is public; the client key, like the password, is never read back.
    fn show_options(&self, options: &Options) -> Map<String, Value> {
        let mut shown = Map::new();
        if let Ok(Some(ca)) = options.text("tls_ca") {
            shown.insert("tls_ca".into(), Value::String(ca));
        }
        shown
    }

    /// Parse the URL (Vault's `user:pass@tcp(host:port)/db` or `mysql://`, placeholders
    /// filled). Nothing connects, and no pool exists, until the driver is first used.
    fn open(&self, config: &ConnectionConfig) -> Result<Arc<dyn Driver>, DriverError> {
        config.options.refuse(
            ADDRESS_FIELDS,
            &config.plugin_name,
            "the address goes in connection_url",
        )?;
        let (opts, connect_timeout) = client_opts(config)?;
        if opts.ssl_opts().is_some() {
            // The client builds its TLS settings from rustls's process-wide provider; install
            // ring unless the process already chose one (then this changes nothing).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        Ok(leasehold_database::accounts::driver(MySqlDriver::new(
            opts,
            connect_timeout,
            max_username_len(&config.plugin_name),
            config.name.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::time::Duration;

    #[test]
    fn each_plugin_name_gets_its_limit_without_a_runtime() {
        for (plugin, max) in [
            ("mysql-database-plugin", 32),
            ("mysql-aurora-database-plugin", 16),
            ("mysql-rds-database-plugin", 16),
            ("mysql-legacy-database-plugin", 16),
        ] {
            let driver = MySqlDriverFactory::new()
                .open(&ConnectionConfig {
                    name: "my".into(),
                    plugin_name: plugin.into(),
                    connection_url: "{{username}}:{{password}}@tcp(127.0.0.1:3306)/".into(),
                    username: Some("root".into()),
                    password: Some(SecretString::from("x")),
                    disable_escaping: false,
                    max_open_connections: 2,
                    max_idle_connections: 2,
                    max_connection_lifetime: Duration::ZERO,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(driver.max_username_len(), max, "{plugin}");
        }
    }
}
