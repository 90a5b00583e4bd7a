//! The `config/` paths: the root credentials the engine acts with (`config/root`), the lease
//! durations of IAM users (`config/lease`) and root key rotation (`config/rotate-root`).
//!
//! `config/root` has Vault's existence check: a write that creates it resets every field it does
//! not name to its default, a write that updates it changes only the fields given — except
//! `username_template`, which every write sets (omitting it restores the default template).

use std::time::Duration;

use leasehold_backend::storage::{get_json, put_json};
use leasehold_backend::{MountStorage, Operation, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::client::AwsClients;
use crate::error::{AwsError, CallFailure};
use crate::names::UsernameTemplate;

/// Storage key of the root configuration.
const ROOT_KEY: &str = "config/root";
/// Storage key of the lease configuration.
const LEASE_KEY: &str = "config/lease";

/// Fields `config/root` accepts.
pub(crate) const ROOT_FIELDS: &[&str] = &[
    "access_key",
    "secret_key",
    "region",
    "iam_endpoint",
    "sts_endpoint",
    "max_retries",
    "username_template",
];
/// Fields `config/lease` accepts.
pub(crate) const LEASE_FIELDS: &[&str] = &["lease", "lease_max"];

/// The stored `config/root`. Sealed at rest by the core; `secret_key` never leaves it but to sign.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RootConfig {
    /// Static access key id; empty means the SDK's default credential chain.
    #[serde(default)]
    pub access_key: String,
    /// Static secret key, paired with `access_key`.
    #[serde(default, with = "leasehold_backend::stored_secret::option")]
    pub secret_key: Option<SecretString>,
    /// Signing region; empty means the environment's, then `us-east-1`.
    #[serde(default)]
    pub region: String,
    /// IAM endpoint override (`http://127.0.0.1:5000` for moto).
    #[serde(default)]
    pub iam_endpoint: String,
    /// STS endpoint override.
    #[serde(default)]
    pub sts_endpoint: String,
    /// Retries after the first attempt; -1 is the SDK default.
    #[serde(default = "default_max_retries")]
    pub max_retries: i64,
    /// Custom user-name template; empty means the built-in one (see `names`).
    #[serde(default)]
    pub username_template: String,
}

fn default_max_retries() -> i64 {
    -1
}

impl Default for RootConfig {
    fn default() -> Self {
        Self {
            access_key: String::new(),
            secret_key: None,
            region: String::new(),
            iam_endpoint: String::new(),
            sts_endpoint: String::new(),
            max_retries: default_max_retries(),
            username_template: String::new(),
        }
    }
}

impl std::fmt::Debug for RootConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootConfig")
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field("region", &self.region)
            .field("iam_endpoint", &self.iam_endpoint)
            .field("sts_endpoint", &self.sts_endpoint)
            .field("max_retries", &self.max_retries)
            .field("username_template", &self.username_template)
            .finish()
    }
}

impl RootConfig {
    /// The static secret key, when both halves of a static key pair are configured.
    pub(crate) fn static_secret(&self) -> Option<&SecretString> {
        self.secret_key
            .as_ref()
            .filter(|s| !self.access_key.is_empty() && !s.expose_secret().is_empty())
    }

    /// The user-name template in force.
    pub(crate) fn template(&self) -> Result<UsernameTemplate, AwsError> {
        UsernameTemplate::parse(&self.username_template)
    }

    /// The `data` of a read: everything but the secret key.
    fn to_data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert("access_key".into(), json!(self.access_key));
        data.insert("region".into(), json!(self.region));
        data.insert("iam_endpoint".into(), json!(self.iam_endpoint));
        data.insert("sts_endpoint".into(), json!(self.sts_endpoint));
        data.insert("max_retries".into(), json!(self.max_retries));
        data.insert("username_template".into(), json!(self.username_template));
        data
    }
}

/// The stored `config/lease`: TTL and max TTL of `iam_user` leases.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct LeaseConfig {
    /// Default TTL in seconds; zero means the mount default.
    pub lease: u64,
    /// Max TTL in seconds; zero means the mount max.
    pub lease_max: u64,
}

/// The stored root configuration, if any.
pub(crate) async fn load_root(storage: &dyn MountStorage) -> Result<Option<RootConfig>, AwsError> {
    Ok(get_json(storage, ROOT_KEY).await?)
}

/// The stored lease configuration, or zeros (mount defaults).
pub(crate) async fn load_lease(storage: &dyn MountStorage) -> Result<LeaseConfig, AwsError> {
    Ok(get_json(storage, LEASE_KEY).await?.unwrap_or_default())
}

/// Whether `config/root` exists, for the core's create/update decision.
pub(crate) async fn root_exists(storage: &dyn MountStorage) -> Result<bool, AwsError> {
    Ok(storage.get(ROOT_KEY).await?.is_some())
}

/// `GET config/root`.
pub(crate) async fn read_root(req: &Request) -> Result<Option<Response>, AwsError> {
    Ok(load_root(req.storage.as_ref())
        .await?
        .map(|c| Response::data(c.to_data())))
}

/// `POST config/root`.
pub(crate) async fn write_root(req: &Request) -> Result<(), AwsError> {
    let f = &req.fields;
    let mut config = match req.operation {
        Operation::Create => RootConfig::default(),
        _ => load_root(req.storage.as_ref()).await?.unwrap_or_default(),
    };
    if let Some(v) = f.str("access_key").map_err(invalid)? {
        config.access_key = v;
    }
    if let Some(v) = f.str("secret_key").map_err(invalid)? {
        config.secret_key = Some(SecretString::from(v));
    }
    if let Some(v) = f.str("region").map_err(invalid)? {
        config.region = v;
    }
    if let Some(v) = f.str("iam_endpoint").map_err(invalid)? {
        config.iam_endpoint = checked_endpoint("iam_endpoint", v)?;
    }
    if let Some(v) = f.str("sts_endpoint").map_err(invalid)? {
        config.sts_endpoint = checked_endpoint("sts_endpoint", v)?;
    }
    if let Some(v) = f.int("max_retries").map_err(invalid)? {
        if v < -1 {
            return Err(AwsError::field(
                "max_retries",
                "must be -1 (SDK default) or more",
            ));
        }
        config.max_retries = v;
    }
    config.username_template = f
        .str("username_template")
        .map_err(invalid)?
        .unwrap_or_default();
    config.template()?;
    let has_secret = config
        .secret_key
        .as_ref()
        .is_some_and(|s| !s.expose_secret().is_empty());
    if config.access_key.is_empty() == has_secret {
        return Err(AwsError::field(
            "secret_key",
            "access_key and secret_key must be given together (or both left empty to use the \
             default AWS credential chain)",
        ));
    }
    put_json(req.storage.as_ref(), ROOT_KEY, &config).await?;
    Ok(())
}

/// `GET config/lease`.
pub(crate) async fn read_lease(req: &Request) -> Result<Option<Response>, AwsError> {
    let stored: Option<LeaseConfig> = get_json(req.storage.as_ref(), LEASE_KEY).await?;
    Ok(stored.map(|c| {
        let mut data = Map::new();
        data.insert("lease".into(), json!(go_duration(c.lease)));
        data.insert("lease_max".into(), json!(go_duration(c.lease_max)));
        Response::data(data)
    }))
}

/// `POST config/lease`: both fields required, as Vault.
pub(crate) async fn write_lease(req: &Request) -> Result<(), AwsError> {
    let mut config = LeaseConfig::default();
    for (field, slot) in [
        ("lease", &mut config.lease),
        ("lease_max", &mut config.lease_max),
    ] {
        let value = req
            .fields
            .duration(field)
            .map_err(invalid)?
            .ok_or_else(|| AwsError::BadRequest(format!("'{field}' is a required parameter")))?;
        *slot = value.as_secs();
    }
    put_json(req.storage.as_ref(), LEASE_KEY, &config).await?;
    Ok(())
}

/// `POST config/rotate-root`: a new key for the configured IAM user, stored, then the old one
/// deleted. Answers the new access key id.
///
/// The old key is deleted with the old client: a brand-new IAM key can take a few seconds to be
/// accepted everywhere, the old one still works until we delete it.
pub(crate) async fn rotate_root(
    req: &Request,
    http: &aws_sdk_iam::config::SharedHttpClient,
) -> Result<Response, AwsError> {
    let storage = req.storage.as_ref();
    let Some(mut config) = load_root(storage).await? else {
        return Err(AwsError::BadRequest(
            "cannot rotate root credentials: config/root is not set".into(),
        ));
    };
    if config.static_secret().is_none() {
        return Err(AwsError::BadRequest(
            "cannot rotate root credentials: access_key and secret_key must be configured".into(),
        ));
    }
    let clients = AwsClients::connect(http, Some(&config)).await;
    let user_name = current_user(&clients).await?;
    let created = clients
        .iam
        .create_access_key()
        .user_name(&user_name)
        .send()
        .await
        .map_err(|e| clients.failure("iam:CreateAccessKey", &e))?;
    let key = created
        .access_key()
        .ok_or_else(|| AwsError::Internal("iam:CreateAccessKey answered without a key".into()))?;
    let old_access_key = std::mem::replace(&mut config.access_key, key.access_key_id().to_owned());
    config.secret_key = Some(SecretString::from(key.secret_access_key().to_owned()));
    let new_access_key = config.access_key.clone();

    if let Err(err) = put_json(storage, ROOT_KEY, &config).await {
        // Not stored: the new key would be lost, so take it back and keep the old one in force.
        if let Err(f) = delete_key(&clients, &user_name, &new_access_key).await {
            tracing::warn!(aws.user = %user_name, error = %f.detail,
                "could not delete unstored new root key of {user_name}: {}", f.detail);
        }
        return Err(err.into());
    }
    tracing::info!(aws.user = %user_name, "rotated root access key of {user_name}");

    let data = Map::from_iter([("access_key".to_owned(), json!(new_access_key))]);
    match delete_key(&clients, &user_name, &old_access_key).await {
        Ok(()) => Ok(Response::data(data)),
        Err(f) => {
            // The rotation itself happened (the new key is stored and used from now on), so
            // report the leftover instead of failing: a retry would only make yet another key.
            tracing::warn!(aws.user = %user_name, error = %f.detail,
                "old root key of {user_name} not deleted: {}", f.detail);
            Ok(Response::data(data).with_warning(format!(
                "the new key is in use, but deleting the old access key {old_access_key} failed: {}",
                f.detail
            )))
        }
    }
}

/// The IAM user the root credentials belong to.
async fn current_user(clients: &AwsClients) -> Result<String, AwsError> {
    let user = clients
        .iam
        .get_user()
        .send()
        .await
        .map_err(|e| clients.failure("iam:GetUser", &e))?;
    user.user()
        .map(|u| u.user_name().to_owned())
        .ok_or_else(|| AwsError::Internal("iam:GetUser answered without a user".into()))
}

async fn delete_key(clients: &AwsClients, user: &str, key: &str) -> Result<(), CallFailure> {
    clients
        .iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(key)
        .send()
        .await
        .map(drop)
        .map_err(|e| clients.failure("iam:DeleteAccessKey", &e))
}

/// A field accessor's error, which already names the field.
fn invalid(e: leasehold_backend::BackendError) -> AwsError {
    AwsError::BadRequest(e.to_string())
}

/// An endpoint must be empty or an absolute http(s) URL.
fn checked_endpoint(field: &'static str, value: String) -> Result<String, AwsError> {
    let v = value.trim();
    if v.is_empty() || v.starts_with("http://") || v.starts_with("https://") {
        Ok(v.trim_end_matches('/').to_owned())
    } else {
        Err(AwsError::field(field, "must be an http:// or https:// URL"))
    }
}

/// Go's `time.Duration.String()` for whole seconds, as Vault prints `lease`: `30m0s`, `12h0m0s`.
pub(crate) fn go_duration(secs: u64) -> String {
    let d = Duration::from_secs(secs).as_secs();
    let (h, m, s) = (d / 3600, d % 3600 / 60, d % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(1800), "30m0s");
        assert_eq!(go_duration(43_200), "12h0m0s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(0), "0s");
    }

    #[test]
    fn debug_hides_the_secret() {
        let config = RootConfig {
            access_key: "AKIAEXAMPLE".into(),
            secret_key: Some(SecretString::from("hunter2hunter2")),
            ..RootConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("AKIAEXAMPLE"));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn endpoints_must_be_urls() {
        assert!(checked_endpoint("iam_endpoint", "127.0.0.1:5000".into()).is_err());
        assert_eq!(
            checked_endpoint("iam_endpoint", "http://127.0.0.1:5000/".into()).unwrap(),
            "http://127.0.0.1:5000"
        );
    }
}
