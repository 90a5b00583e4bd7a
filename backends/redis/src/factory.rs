//! [`RedisDriverFactory`]: turns a stored connection config into a [`RedisDriver`].
//!
//! Two ways to say where Redis is. Vault's own: `host` and `port`, with `username` and
//! `password` (Vault requires them; here they may be left out for a server without ACL users).
//! Or a URL, `connection_url = redis://host:port[/db]` (or `redis+unix:///path.sock`), whose user
//! and password come from the URL when it has them (`redis://{{username}}:{{password}}@host:6379`,
//! percent-escaped by the engine) and otherwise from `username` and `password`.
//!
//! TLS, as Vault's fields say: `tls = true` (or a `rediss://` URL) connects with TLS, verifying
//! the server's certificate against `ca_cert` (PEM) or, without it, the system's roots, and the
//! name in it against the host; `insecure_tls = true` skips that verification (the connection is
//! still encrypted, but anyone on the path can pose as the server).

use std::sync::Arc;

use leasehold_database::{ConnectionConfig, Driver, DriverError, DriverFactory, Options};
use redis::{ConnectionAddr, IntoConnectionInfo};
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use crate::driver::RedisDriver;

/// The `plugin_name` values served, as Vault names its Redis plugin.
pub const PLUGIN_NAMES: &[&str] = &["redis-database-plugin"];

/// The driver's own settings: Vault's Redis address and TLS fields, and its MySQL TLS fields,
/// refused.
const OPTIONS: &[&str] = &[
    "host",
    "port",
    "tls",
    "insecure_tls",
    "ca_cert",
    "tls_ca",
    "tls_certificate_key",
];

/// Where Redis is, from the options: Vault's own way to say it.
struct Address {
    host: Option<String>,
    port: Option<u16>,
    tls: bool,
    insecure_tls: bool,
    ca_cert: Option<String>,
}

impl Address {
    fn parse(options: &Options) -> Result<Self, DriverError> {
        let port = match options.int("port")? {
            None | Some(0) => None,
            Some(v) => Some(u16::try_from(v).map_err(|_| {
                DriverError::InvalidConfig(format!("port must be between 1 and 65535, got {v}"))
            })?),
        };
        Ok(Self {
            host: options.text("host")?.map(|h| h.trim().to_owned()),
            port,
            tls: options.flag("tls")?,
            insecure_tls: options.flag("insecure_tls")?,
            ca_cert: options.text("ca_cert")?,
        })
    }
}

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

    fn options(&self) -> &'static [&'static str] {
        OPTIONS
    }

    /// The address, when given by host and port (`ca_cert` is public).
    fn show_options(&self, options: &Options) -> Map<String, Value> {
        let mut shown = Map::new();
        if let Ok(address @ Address { host: Some(_), .. }) = Address::parse(options) {
            shown.insert("host".into(), json!(address.host));
            shown.insert("port".into(), json!(address.port));
            shown.insert("tls".into(), json!(address.tls));
            shown.insert("insecure_tls".into(), json!(address.insecure_tls));
            shown.insert("ca_cert".into(), json!(address.ca_cert.unwrap_or_default()));
        }
        shown
    }

    /// Parse the URL and credentials. Nothing connects until the driver is first used.
    fn open(&self, config: &ConnectionConfig) -> Result<Arc<dyn Driver>, DriverError> {
        config.options.refuse(
            &["tls_ca", "tls_certificate_key"],
            &config.plugin_name,
            "use tls and ca_cert",
        )?;
        let address = Address::parse(&config.options)?;
        let info = connection_info(config)?;
        let client = if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
            // The client builds its TLS settings from the process-wide provider; install ring
            // unless the process already chose one (then this changes nothing).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: address.ca_cert.as_ref().map(|pem| pem.as_bytes().to_vec()),
            };
            redis::Client::build_with_tls(info, certificates).map_err(|e| {
                DriverError::InvalidConfig(format!("invalid TLS settings (ca_cert): {e}"))
            })?
        } else {
            redis::Client::open(info).map_err(|e| {
                DriverError::InvalidConfig(format!("invalid connection settings: {e}"))
            })?
        };
        Ok(leasehold_database::accounts::driver(RedisDriver::new(
            client,
            config.name.clone(),
        )))
    }
}

/// `host` and `port` as a connection target, with TLS when `address.tls`.
fn address_info(
    address: &Address,
    host: &str,
    port: Option<u16>,
) -> Result<redis::ConnectionInfo, DriverError> {
    let port = port.ok_or_else(|| DriverError::InvalidConfig("port is required".into()))?;
    // A name or an address; brackets only around an IPv6 literal. Anything else (a scheme, a
    // path, a user) is a mistake the URL parser below would half-accept.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ipv6 = bare.parse::<std::net::Ipv6Addr>().is_ok();
    let plain = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
    if !ipv6 && !plain {
        return Err(DriverError::InvalidConfig(format!(
            "host {host:?} is not a host name or address"
        )));
    }
    let authority = if ipv6 {
        format!("[{bare}]")
    } else {
        bare.to_owned()
    };
    let (scheme, fragment) = match (address.tls, address.insecure_tls) {
        (false, _) => ("redis", ""),
        (true, false) => ("rediss", ""),
        (true, true) => ("rediss", "/#insecure"),
    };
    format!("{scheme}://{authority}:{port}{fragment}")
        .as_str()
        .into_connection_info()
        .map_err(|e| DriverError::InvalidConfig(format!("host {host:?}: {e}")))
}

/// `connection_url` (its placeholders filled) as a connection target.
fn url_info(
    config: &ConnectionConfig,
    address: &Address,
    template: &str,
) -> Result<redis::ConnectionInfo, DriverError> {
    let tls_url = template.starts_with("rediss://");
    if !tls_url && !template.starts_with("redis://") && !template.starts_with("redis+unix://") {
        return Err(DriverError::InvalidConfig(
            "connection_url must be a redis://host:port or rediss://host:port URL".into(),
        ));
    }
    if address.tls && !tls_url {
        return Err(DriverError::InvalidConfig(
            "tls = true needs a rediss:// connection_url (or host and port)".into(),
        ));
    }
    if address.insecure_tls && !template.contains('#') {
        // The client's own spelling of "do not verify" is the URL fragment.
        return Err(DriverError::InvalidConfig(
            "with a connection_url, skip verification with rediss://host:port/#insecure".into(),
        ));
    }
    let url = config.render_url()?;
    let info = url.expose_secret().into_connection_info().map_err(|e| {
        DriverError::InvalidConfig(format!("connection_url is not a valid Redis URL: {e}"))
    })?;
    if matches!(info.addr(), ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } if host.is_empty())
    {
        return Err(DriverError::InvalidConfig(
            "connection_url names no host".into(),
        ));
    }
    Ok(info)
}

/// Where and as whom to connect; see the module docs.
pub(crate) fn connection_info(
    config: &ConnectionConfig,
) -> Result<redis::ConnectionInfo, DriverError> {
    let address = &Address::parse(&config.options)?;
    let template = config.connection_url.trim();
    let info = match (template.is_empty(), &address.host) {
        (false, Some(_)) => {
            return Err(DriverError::InvalidConfig(
                "give either host and port or connection_url, not both".into(),
            ))
        }
        (true, None) => {
            return Err(DriverError::InvalidConfig(
                "host and port are required (or a connection_url, redis://host:port)".into(),
            ))
        }
        (true, Some(host)) => address_info(address, host, address.port)?,
        (false, None) => url_info(config, address, template)?,
    };
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
            ..Default::default()
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
        for url in ["", "127.0.0.1:6379", "postgresql://h/db", "redis://h:port"] {
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
