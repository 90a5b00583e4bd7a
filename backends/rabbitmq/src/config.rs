//! The `config/` paths: how to reach the broker's management API (`config/connection`) and how
//! long credentials last (`config/lease`).
//!
//! `config/connection` is written whole, as in Vault: every write names the URI, the
//! administrator and its password. Vault has no read of it; ours answers everything but the
//! password, which never leaves storage except to authenticate to the broker.

use leasehold_backend::storage::{get_json, put_json};
use leasehold_backend::{MountStorage, Request, Response};
use reqwest::Url;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use crate::error::{from_field, RabbitMqError};
use crate::management::Management;
use crate::names::UsernameTemplate;

/// Storage key of the connection.
const CONNECTION_KEY: &str = "config/connection";
/// Storage key of the lease configuration.
const LEASE_KEY: &str = "config/lease";

/// Fields `config/connection` accepts.
pub(crate) const CONNECTION_FIELDS: &[&str] = &[
    "connection_uri",
    "username",
    "password",
    "verify_connection",
    "password_policy",
    "username_template",
];
/// Fields `config/lease` accepts.
pub(crate) const LEASE_FIELDS: &[&str] = &["ttl", "max_ttl"];

/// The stored `config/connection`. Sealed at rest by the core.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ConnectionConfig {
    /// `http(s)://host:port[/path]` of the management API, without a trailing `/`.
    pub connection_uri: String,
    /// The administrator the engine acts as.
    pub username: String,
    /// Its password; never answered by a read.
    #[serde(with = "leasehold_backend::stored_secret")]
    pub password: SecretString,
    /// Custom user-name template; empty for the built-in names (`names.rs`).
    #[serde(default)]
    pub username_template: String,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("connection_uri", &self.connection_uri)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("username_template", &self.username_template)
            .finish()
    }
}

impl ConnectionConfig {
    /// The user-name template in force.
    pub(crate) fn template(&self) -> Result<UsernameTemplate, RabbitMqError> {
        UsernameTemplate::parse(&self.username_template)
    }

    #[cfg(test)]
    pub(crate) fn for_tests(uri: &str) -> Self {
        Self {
            connection_uri: uri.to_owned(),
            username: "guest".into(),
            password: SecretString::from("hunter2hunter2"),
            username_template: String::new(),
        }
    }
}

/// The stored `config/lease`, in seconds; zero means the mount's default and max.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct LeaseConfig {
    pub ttl: u64,
    pub max_ttl: u64,
}

/// The stored connection, if any.
pub(crate) async fn load_connection(
    storage: &dyn MountStorage,
) -> Result<Option<ConnectionConfig>, RabbitMqError> {
    Ok(get_json(storage, CONNECTION_KEY).await?)
}

/// The stored lease configuration, or zeros (the mount's defaults).
pub(crate) async fn load_lease(storage: &dyn MountStorage) -> Result<LeaseConfig, RabbitMqError> {
    Ok(get_json(storage, LEASE_KEY).await?.unwrap_or_default())
}

/// `GET config/connection`: everything but the password.
pub(crate) async fn read_connection(req: &Request) -> Result<Option<Response>, RabbitMqError> {
    Ok(load_connection(req.storage.as_ref()).await?.map(|c| {
        let mut data = Map::new();
        data.insert("connection_uri".into(), json!(c.connection_uri));
        data.insert("username".into(), json!(c.username));
        data.insert("username_template".into(), json!(c.username_template));
        data.insert("password_policy".into(), json!(""));
        Response::data(data)
    }))
}

/// `POST config/connection`: check everything, verify against the broker unless told not to,
/// then store.
pub(crate) async fn write_connection(
    req: &Request,
    http: &reqwest::Client,
) -> Result<(), RabbitMqError> {
    let f = &req.fields;
    let required = |name: &'static str| -> Result<String, RabbitMqError> {
        match f.str(name).map_err(from_field)? {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(RabbitMqError::field(name, "is required")),
        }
    };
    if f.str("password_policy")
        .map_err(from_field)?
        .is_some_and(|p| !p.is_empty())
    {
        return Err(RabbitMqError::field(
            "password_policy",
            "not supported: passwords are 32 random characters of [A-Za-z0-9]",
        ));
    }
    let config = ConnectionConfig {
        connection_uri: checked_uri(&required("connection_uri")?)?,
        username: required("username")?,
        password: SecretString::from(required("password")?),
        username_template: f
            .str("username_template")
            .map_err(from_field)?
            .unwrap_or_default(),
    };
    config.template()?;
    if f.bool("verify_connection")
        .map_err(from_field)?
        .unwrap_or(true)
    {
        Management::new(http, &config)
            .verify()
            .await
            .map_err(|e| RabbitMqError::field("verify_connection", e.to_string()))?;
    }
    put_json(req.storage.as_ref(), CONNECTION_KEY, &config).await?;
    Ok(())
}

/// `GET config/lease`: seconds, as Vault answers.
pub(crate) async fn read_lease(req: &Request) -> Result<Option<Response>, RabbitMqError> {
    let stored: Option<LeaseConfig> = get_json(req.storage.as_ref(), LEASE_KEY).await?;
    Ok(stored.map(|c| {
        let mut data = Map::new();
        data.insert("ttl".into(), json!(c.ttl));
        data.insert("max_ttl".into(), json!(c.max_ttl));
        Response::data(data)
    }))
}

/// `POST config/lease`: each field a duration; an absent one is 0 (the mount's), as in Vault.
pub(crate) async fn write_lease(req: &Request) -> Result<(), RabbitMqError> {
    let secs = |name: &str| -> Result<u64, RabbitMqError> {
        Ok(req
            .fields
            .duration(name)
            .map_err(from_field)?
            .map_or(0, |d| d.as_secs()))
    };
    let config = LeaseConfig {
        ttl: secs("ttl")?,
        max_ttl: secs("max_ttl")?,
    };
    if config.max_ttl > 0 && config.ttl > config.max_ttl {
        return Err(RabbitMqError::field("ttl", "must not exceed max_ttl"));
    }
    put_json(req.storage.as_ref(), LEASE_KEY, &config).await?;
    Ok(())
}

/// The management URI: `http` or `https`, a host, no credentials (they go in `username` and
/// `password`, which are never read back), no query or fragment. Stored without a trailing `/`.
fn checked_uri(given: &str) -> Result<String, RabbitMqError> {
    let bad = |reason: &str| RabbitMqError::field("connection_uri", reason);
    let url = Url::parse(given.trim()).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not hold credentials: give them as username and password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_checked() {
        assert_eq!(
            checked_uri("http://127.0.0.1:15672/").unwrap(),
            "http://127.0.0.1:15672"
        );
        assert_eq!(
            checked_uri("https://mq.example:443/admin/").unwrap(),
            "https://mq.example/admin"
        );
        for bad in [
            "127.0.0.1:15672",
            "amqp://127.0.0.1:5672",
            "http://guest:guest@127.0.0.1:15672",
            "http://127.0.0.1:15672/?x=1",
            "http://",
        ] {
            let e = checked_uri(bad).unwrap_err().to_string();
            assert!(e.starts_with("connection_uri: "), "{bad}: {e}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let c = ConnectionConfig::for_tests("http://127.0.0.1:15672");
        let shown = format!("{c:?}");
        assert!(
            shown.contains("REDACTED") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
