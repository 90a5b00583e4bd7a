//! [`PgDriverFactory`]: turns a stored connection config into a pooled [`PgDriver`].

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use leasehold_database::{ConnectionConfig, Driver, DriverError, DriverFactory};
use secrecy::ExposeSecret;

use crate::driver::PgDriver;
use leasehold_pg_tls::{take_tls_params, TlsParams};

/// The `plugin_name` values served, as Vault names its PostgreSQL plugin.
pub const PLUGIN_NAMES: &[&str] = &["postgresql-database-plugin"];

/// Vault's fields for plugins addressed by host and port: refused, the address goes in the URL.
const ADDRESS_FIELDS: &[&str] = &["host", "port", "tls", "insecure_tls", "ca_cert"];
/// Vault's MySQL TLS fields: refused, TLS is set in the URL.
const MYSQL_TLS_FIELDS: &[&str] = &["tls_ca", "tls_certificate_key"];

/// Every connection identifies itself so operators can tell our sessions apart.
pub const APPLICATION_NAME: &str = "leasehold";

/// Used when the URL sets no `connect_timeout`: an unreachable target must fail, not hang.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a free pooled connection before giving up.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens [`PgDriver`]s. Register it with `DatabaseBackend::new`.
#[derive(Debug, Default, Clone)]
pub struct PgDriverFactory;

impl PgDriverFactory {
    /// The factory (it holds no state: each driver owns its pool).
    pub fn new() -> Self {
        Self
    }
}

impl DriverFactory for PgDriverFactory {
    fn plugin_names(&self) -> &'static [&'static str] {
        PLUGIN_NAMES
    }

    /// None of its own: Vault's fields of other plugins, refused rather than ignored.
    fn options(&self) -> &'static [&'static str] {
        &[
            "host",
            "port",
            "tls",
            "insecure_tls",
            "ca_cert",
            "tls_ca",
            "tls_certificate_key",
        ]
    }

    /// Parse the URL (`postgres://` or `key=value`, placeholders filled) and build the pool.
    /// Nothing connects yet.
    fn open(&self, config: &ConnectionConfig) -> Result<Arc<dyn Driver>, DriverError> {
        let plugin = &config.plugin_name;
        let options = &config.options;
        options.refuse(ADDRESS_FIELDS, plugin, "the address goes in connection_url")?;
        options.refuse(
            MYSQL_TLS_FIELDS,
            plugin,
            "TLS is set in connection_url (sslrootcert, sslcert, sslkey)",
        )?;
        let (pg, tls) = pg_config(config)?;
        let manager = Manager::from_config(
            pg,
            tls.connector().map_err(invalid_tls)?,
            ManagerConfig {
                // `is_closed` is enough: a connection the server dropped (restart, terminate)
                // is closed by the time it is handed out again.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let mut builder = Pool::builder(manager)
            .max_size(usize::try_from(config.max_open_connections.max(1)).unwrap_or(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .recycle_timeout(Some(Duration::from_secs(5)));
        let lifetime = config.max_connection_lifetime;
        if !lifetime.is_zero() {
            builder = builder.pre_recycle(deadpool_postgres::Hook::sync_fn(move |_, metrics| {
                if metrics.age() >= lifetime {
                    Err(HookError::message(
                        "connection reached max_connection_lifetime",
                    ))
                } else {
                    Ok(())
                }
            }));
        }
        let pool = builder.build().map_err(|e| {
            DriverError::InvalidConfig(format!("cannot build the connection pool: {e}"))
        })?;
        Ok(leasehold_database::accounts::driver(PgDriver::new(
            pool,
            config.name.clone(),
        )))
    }
}

/// The tokio-postgres config for `config`, with our application name and a connect timeout,
/// and what its TLS keys ask for.
pub(crate) fn pg_config(
    config: &ConnectionConfig,
) -> Result<(tokio_postgres::Config, TlsParams), DriverError> {
    if config.connection_url.trim().is_empty() {
        return Err(DriverError::InvalidConfig(
            "connection_url is required".into(),
        ));
    }
    let url = config.render_url()?;
    let (url, tls) = take_tls_params(url.expose_secret()).map_err(invalid_tls)?;
    let mut pg: tokio_postgres::Config = url.parse().map_err(|e| {
        DriverError::InvalidConfig(format!(
            "connection_url is not a PostgreSQL URL or key=value string: {e}"
        ))
    })?;
    if pg.get_hosts().is_empty() {
        return Err(DriverError::InvalidConfig(
            "connection_url names no host".into(),
        ));
    }
    if pg.get_user().is_none() {
        return Err(DriverError::InvalidConfig(
            "connection_url names no user: set username and put {{username}} in the URL".into(),
        ));
    }
    pg.application_name(APPLICATION_NAME);
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    pg.ssl_mode(tls.ssl_mode());
    Ok((pg, tls))
}

/// A TLS setting of the URL that cannot work: the operator's to fix.
fn invalid_tls(e: leasehold_pg_tls::ConfigError) -> DriverError {
    DriverError::InvalidConfig(e.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn config(url: &str) -> ConnectionConfig {
        ConnectionConfig {
            name: "pg".into(),
            plugin_name: PLUGIN_NAMES[0].into(),
            connection_url: url.into(),
            username: Some("admin".into()),
            password: Some(SecretString::from("p@ss word")),
            disable_escaping: false,
            max_open_connections: 2,
            max_idle_connections: 2,
            max_connection_lifetime: Duration::ZERO,
            ..Default::default()
        }
    }

    #[test]
    fn urls_and_key_value_strings_get_our_application_name() {
        let (pg, _) = pg_config(&config(
            "postgresql://{{username}}:{{password}}@127.0.0.1:5432/app?application_name=other",
        ))
        .unwrap();
        assert_eq!(pg.get_user(), Some("admin"));
        assert_eq!(pg.get_password(), Some("p@ss word".as_bytes()));
        assert_eq!(pg.get_dbname(), Some("app"));
        assert_eq!(pg.get_application_name(), Some(APPLICATION_NAME));
        assert_eq!(pg.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));

        let mut kv = config("host=127.0.0.1 port=5 user={{username}} dbname=app connect_timeout=3");
        kv.password = None;
        let (pg, _) = pg_config(&kv).unwrap();
        assert_eq!(pg.get_application_name(), Some(APPLICATION_NAME));
        assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in [
            "",
            "postgresql://127.0.0.1/app",
            "host=h user=u bogus_key=1",
            "postgresql://u@/app",
        ] {
            let err = pg_config(&config(url)).unwrap_err();
            assert!(
                matches!(err, DriverError::InvalidConfig(_)),
                "{url}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn address_fields_are_refused_not_ignored() {
        let mut with_tls = config("postgresql://{{username}}:{{password}}@127.0.0.1:5432/app");
        with_tls.options = leasehold_database::Options::from_map(
            [
                ("tls".to_owned(), true.into()),
                ("host".to_owned(), "db".into()),
            ]
            .into_iter()
            .collect(),
        );
        let err = PgDriverFactory::new()
            .open(&with_tls)
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("host, tls not used by postgresql-database-plugin"),
            "{err}"
        );
    }
}
