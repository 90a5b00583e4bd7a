//! `database/config/:name`: how to reach a database (write, read, delete, list).
//!
//! A write checks everything it can at once: the plugin is registered, the driver accepts the
//! settings, the username template parses, the password policy is sane, and (unless
//! `verify_connection=false`) the database answers. Only then is the entry stored, sealed by the
//! core like all mount storage, and the cached driver for the name dropped.
//! Fields not given on an update keep their stored values, as with Vault's existence check.

use std::time::Duration;

use leasehold_backend::{list, BackendError, Entries, Fields, MountStorage, Request, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::connection_url;
use crate::connections::Connections;
use crate::driver::{ConnectionConfig, DriverFactory};
use crate::error::DatabaseError;
use crate::password::{PasswordPolicy, DEFAULT_LENGTH};
use crate::username::{UsernameInputs, UsernameTemplate};

/// Storage folder of connection entries.
pub(crate) const PREFIX: &str = "config/";
/// The stored connections.
pub(crate) const CONNECTIONS: Entries<ConnectionEntry> = Entries::under(PREFIX);

const DEFAULT_MAX_OPEN: u32 = 4;

/// Vault's warning for a password written into the URL.
pub(crate) const LITERAL_PASSWORD_WARNING: &str = "Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.";

const KNOWN_FIELDS: &[&str] = &[
    "name",
    "plugin_name",
    "plugin_version",
    "verify_connection",
    "allowed_roles",
    "root_rotation_statements",
    "password_policy",
    "connection_url",
    "username",
    "password",
    "username_template",
    "max_open_connections",
    "max_idle_connections",
    "max_connection_lifetime",
    "disable_escaping",
    "password_authentication",
    "password_length",
    "password_charset",
];

/// One stored connection. Holds the root password: storage is sealed by the core.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ConnectionEntry {
    pub plugin_name: String,
    pub connection_url: String,
    pub username: Option<String>,
    #[serde(with = "leasehold_backend::stored_secret::option")]
    pub password: Option<SecretString>,
    pub disable_escaping: bool,
    pub max_open_connections: u32,
    pub max_idle_connections: u32,
    pub max_connection_lifetime_secs: u64,
    /// Role names or globs (`*`) that may use this connection; empty admits none.
    pub allowed_roles: Vec<String>,
    pub verify_connection: bool,
    pub username_template: Option<String>,
    pub password_length: usize,
    pub password_charset: Option<String>,
    pub root_rotation_statements: Vec<String>,
    /// The driver's own settings, at the top level under their own names (where entries
    /// written before [`crate::Options`] existed kept Vault's Redis and MySQL TLS fields).
    #[serde(flatten)]
    pub options: crate::Options,
}

impl Default for ConnectionEntry {
    fn default() -> Self {
        Self {
            plugin_name: String::new(),
            connection_url: String::new(),
            username: None,
            password: None,
            disable_escaping: false,
            max_open_connections: DEFAULT_MAX_OPEN,
            max_idle_connections: 0,
            max_connection_lifetime_secs: 0,
            allowed_roles: Vec::new(),
            verify_connection: true,
            username_template: None,
            password_length: DEFAULT_LENGTH,
            password_charset: None,
            root_rotation_statements: Vec::new(),
            options: crate::Options::default(),
        }
    }
}

impl ConnectionEntry {
    /// What the driver factory gets.
    pub(crate) fn driver_config(&self, name: &str) -> ConnectionConfig {
        ConnectionConfig {
            name: name.to_owned(),
            plugin_name: self.plugin_name.clone(),
            connection_url: self.connection_url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            disable_escaping: self.disable_escaping,
            max_open_connections: self.max_open_connections,
            max_idle_connections: self.max_idle_connections,
            max_connection_lifetime: Duration::from_secs(self.max_connection_lifetime_secs),
            options: self.options.clone(),
        }
    }

    /// The parsed username template (the stored one was checked when written).
    pub(crate) fn username_template(&self) -> Result<UsernameTemplate, DatabaseError> {
        match &self.username_template {
            None => Ok(UsernameTemplate::vault_default()),
            Some(text) => UsernameTemplate::parse(text).map_err(DatabaseError::InvalidField),
        }
    }

    /// The template names are made from for a database accepting `max_len` characters: the
    /// stored one, or the default that fits (Vault's shape for PostgreSQL's 63, a shorter one
    /// for MySQL's 32 and the legacy 16) so that no database needs a template to be usable.
    pub(crate) fn username_template_for(
        &self,
        max_len: usize,
    ) -> Result<UsernameTemplate, DatabaseError> {
        match &self.username_template {
            None => Ok(UsernameTemplate::default_for(max_len)),
            Some(text) => UsernameTemplate::parse(text).map_err(DatabaseError::InvalidField),
        }
    }

    /// The password policy (checked when written).
    pub(crate) fn password_policy(&self) -> Result<PasswordPolicy, DatabaseError> {
        PasswordPolicy::new(self.password_length, self.password_charset.as_deref())
            .map_err(DatabaseError::InvalidField)
    }

    /// Whether `role` matches one of `allowed_roles` (`*` matches any run of characters).
    pub(crate) fn allows_role(&self, role: &str) -> bool {
        self.allowed_roles
            .iter()
            .any(|pattern| glob_match(pattern, role))
    }

    /// Apply the caller's fields over the current values and check the result.
    fn apply(&mut self, fields: &Fields) -> Result<(), BackendError> {
        if let Some(v) = fields.str("plugin_name")? {
            self.plugin_name = v;
        }
        if self.plugin_name.is_empty() {
            return Err(DatabaseError::PluginNameRequired.into());
        }
        if let Some(v) = fields.str("plugin_version")?.filter(|v| !v.is_empty()) {
            return Err(invalid(format!(
                "plugin_version {v:?} is not available: only the built-in plugins exist here"
            )));
        }
        if let Some(v) = fields.str("connection_url")? {
            self.connection_url = v;
        }
        if let Some(v) = fields.str("username")? {
            self.username = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = fields.str("password")? {
            self.password = Some(v).filter(|v| !v.is_empty()).map(SecretString::from);
        }
        if let Some(v) = fields.bool("disable_escaping")? {
            self.disable_escaping = v;
        }
        self.apply_pool_fields(fields)?;
        if let Some(v) = fields.comma_list("allowed_roles")? {
            self.allowed_roles = v;
        }
        if let Some(v) = fields.bool("verify_connection")? {
            self.verify_connection = v;
        }
        if let Some(v) = fields.str("username_template")? {
            self.username_template = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = fields.int("password_length")? {
            self.password_length = usize::try_from(v)
                .map_err(|_| invalid(format!("password_length must be positive, got {v}")))?;
        }
        if let Some(v) = fields.str("password_charset")? {
            self.password_charset = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = fields.string_list("root_rotation_statements")? {
            self.root_rotation_statements = v;
        }
        if fields
            .str("password_policy")?
            .is_some_and(|v| !v.is_empty())
        {
            return Err(invalid(
                "password_policy is not supported: set password_length and password_charset on the connection instead",
            ));
        }
        if let Some(v) = fields.str("password_authentication")? {
            if v != "password" {
                return Err(invalid(format!(
                    "password_authentication {v:?} is not supported: only \"password\""
                )));
            }
        }
        self.username_template()?;
        self.password_policy()?;
        Ok(())
    }

    /// The fields `factory` takes as its own settings; their checks are the driver's.
    fn apply_options(&mut self, fields: &Fields, factory: &dyn DriverFactory) {
        for key in factory.options() {
            if let Some(value) = fields.raw(key) {
                self.options.set(key, value);
            }
        }
    }

    fn apply_pool_fields(&mut self, fields: &Fields) -> Result<(), BackendError> {
        let count = |name: &str, v: i64| {
            u32::try_from(v)
                .map_err(|_| invalid(format!("{name} must be between 0 and {}", u32::MAX)))
        };
        if let Some(v) = fields.int("max_open_connections")? {
            // Vault treats 0 as "the default".
            self.max_open_connections = match count("max_open_connections", v)? {
                0 => DEFAULT_MAX_OPEN,
                n => n,
            };
        }
        if let Some(v) = fields.int("max_idle_connections")? {
            self.max_idle_connections = count("max_idle_connections", v)?;
        }
        // 0 means "as many as max_open"; never more than that.
        if self.max_idle_connections == 0 || self.max_idle_connections > self.max_open_connections {
            self.max_idle_connections = self.max_open_connections;
        }
        if let Some(v) = fields.duration("max_connection_lifetime")? {
            self.max_connection_lifetime_secs = v.as_secs();
        }
        Ok(())
    }

    /// Vault's read shape; the password is never part of it, nor is an option the driver
    /// (`factory`, when the plugin is still registered) does not show.
    fn to_read_data(&self, factory: Option<&dyn DriverFactory>) -> Map<String, Value> {
        let mut details = json!({
            "connection_url": connection_url::redact(&self.connection_url),
            "username": self.username.clone().unwrap_or_default(),
            "max_open_connections": self.max_open_connections,
            "max_idle_connections": self.max_idle_connections,
            "max_connection_lifetime": self.max_connection_lifetime_secs,
            "disable_escaping": self.disable_escaping,
            "username_template": self.username_template.clone().unwrap_or_default(),
        });
        if let (Some(factory), Some(map)) = (factory, details.as_object_mut()) {
            map.extend(factory.show_options(&self.options));
        }
        let mut data = Map::new();
        data.insert("plugin_name".into(), json!(self.plugin_name));
        data.insert("plugin_version".into(), json!(""));
        data.insert("connection_details".into(), details);
        data.insert("allowed_roles".into(), json!(self.allowed_roles));
        data.insert(
            "root_credentials_rotate_statements".into(),
            json!(self.root_rotation_statements),
        );
        data.insert("password_policy".into(), json!(""));
        data.insert("password_length".into(), json!(self.password_length));
        data.insert(
            "password_charset".into(),
            json!(self.password_charset.clone().unwrap_or_default()),
        );
        data.insert("verify_connection".into(), json!(self.verify_connection));
        data
    }
}

/// The stored entry of connection `name`.
pub(crate) async fn load(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<Option<ConnectionEntry>, DatabaseError> {
    Ok(CONNECTIONS.load(storage, name).await?)
}

/// `POST database/config/:name`.
#[tracing::instrument(skip_all, fields(db.connection = %name))]
pub(crate) async fn write(
    connections: &Connections,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let mut entry = load(storage, name).await?.unwrap_or_default();
    entry.apply(&req.fields)?;
    let factory = connections.factory(&entry.plugin_name)?;
    entry.apply_options(&req.fields, factory.as_ref());

    let driver = connections
        .open(&entry.driver_config(name))
        .map_err(|e| match e {
            DatabaseError::Driver(d) => DatabaseError::InvalidConnection(d),
            other => other,
        })?;
    let checked = check_with_driver(&entry, driver.as_ref()).await;
    driver.close().await;
    checked?;

    CONNECTIONS.store(storage, name, &entry).await?;
    connections.forget(name).await;
    tracing::info!(db.plugin = %entry.plugin_name, "configured database connection {name}");

    let mut warnings = Vec::new();
    if connection_url::has_literal_password(&entry.connection_url) {
        warnings.push(LITERAL_PASSWORD_WARNING.to_owned());
    }
    let known: Vec<&str> = KNOWN_FIELDS
        .iter()
        .chain(factory.options())
        .copied()
        .collect();
    let unknown = req.fields.unknown(&known);
    if !unknown.is_empty() {
        warnings.push(format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        ));
    }
    Ok((!warnings.is_empty()).then(|| Response {
        warnings,
        ..Response::default()
    }))
}

/// What needs the driver: the name template must fit its limit, and the database must answer.
async fn check_with_driver(
    entry: &ConnectionEntry,
    driver: &dyn crate::Driver,
) -> Result<(), DatabaseError> {
    // A trial name with typical inputs catches templates whose random part cannot fit.
    let inputs = UsernameInputs {
        marker: "k3x9q2m7a",
        display_name: "token",
        role_name: "role",
        now: chrono::DateTime::UNIX_EPOCH,
    };
    entry
        .username_template_for(driver.max_username_len())?
        .render(&inputs, &mut rand::thread_rng(), driver.max_username_len())
        .map_err(DatabaseError::InvalidField)?;
    if let Some(charset) = &entry.password_charset {
        let unusable: String = driver
            .unusable_password_chars()
            .iter()
            .filter(|c| charset.contains(**c))
            .collect();
        if !unusable.is_empty() {
            return Err(DatabaseError::InvalidField(format!(
                "password_charset holds {unusable:?}, which {} statements cannot hold in a password",
                entry.plugin_name
            )));
        }
    }
    if entry.verify_connection {
        driver.verify().await.map_err(DatabaseError::VerifyFailed)?;
    }
    Ok(())
}

/// `GET database/config/:name`.
pub(crate) async fn read(
    connections: &Connections,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let entry = load(req.storage.as_ref(), name).await?;
    Ok(entry.map(|e| {
        let factory = connections.factory(&e.plugin_name).ok();
        Response::data(e.to_read_data(factory.map(|f| f.as_ref())))
    }))
}

/// `DELETE database/config/:name`: leases issued through it can no longer be revoked until the
/// connection is written again (their revocations keep failing loudly, never silently).
pub(crate) async fn delete(
    connections: &Connections,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    CONNECTIONS.delete(req.storage.as_ref(), name).await?;
    connections.forget(name).await;
    tracing::info!(db.connection = %name, "deleted database connection {name}");
    Ok(None)
}

/// `LIST database/config`.
pub(crate) async fn list(req: &Request) -> Result<Option<Response>, BackendError> {
    let keys = req.storage.list(PREFIX).await?;
    Ok(Some(list::keys(keys)))
}

/// `POST database/reset/:name`: drop the open driver; the next use reconnects from the stored
/// config (after a target's password or address changed underneath us).
pub(crate) async fn reset(
    connections: &Connections,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    if load(req.storage.as_ref(), name).await?.is_none() {
        return Err(DatabaseError::ConnectionNotFound {
            name: name.to_owned(),
        }
        .into());
    }
    connections.forget(name).await;
    tracing::info!(db.connection = %name, "reset database connection {name}");
    Ok(None)
}

fn invalid(msg: impl Into<String>) -> BackendError {
    DatabaseError::InvalidField(msg.into()).into()
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = rest.split('*').collect();
    let last = pieces.pop().unwrap_or_default();
    for piece in pieces {
        match remaining.find(piece) {
            Some(at) => remaining = remaining.get(at + piece.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{data, Harness, PLUGIN};
    use leasehold_backend::{Backend, Operation};

    fn base() -> Value {
        json!({
            "plugin_name": PLUGIN,
            "connection_url": "fake://{{username}}:{{password}}@db/app",
            "username": "admin",
            "password": "Root-pass-123",
            "allowed_roles": "ro, report*",
        })
    }

    #[tokio::test]
    async fn write_then_read_in_vaults_shape_without_the_password() {
        let h = Harness::new();
        assert!(h.write("config/pg", base()).await.unwrap().is_none());
        let d = data(h.read("config/pg").await.unwrap());
        assert_eq!(d["plugin_name"], PLUGIN);
        assert_eq!(d["plugin_version"], "");
        assert_eq!(d["allowed_roles"], json!(["ro", "report*"]));
        assert_eq!(d["root_credentials_rotate_statements"], json!([]));
        assert_eq!(d["password_policy"], "");
        assert_eq!(d["verify_connection"], true);
        let details = &d["connection_details"];
        assert_eq!(
            details["connection_url"],
            "fake://{{username}}:{{password}}@db/app"
        );
        assert_eq!(details["username"], "admin");
        assert_eq!(details["max_open_connections"], 4);
        assert!(details.get("password").is_none());
        assert!(!Value::Object(d.clone())
            .to_string()
            .contains("Root-pass-123"));
        // The driver got the URL with the placeholders filled in.
        let state = h.state.lock().unwrap();
        assert_eq!(state.opened[0].url, "fake://admin:Root-pass-123@db/app");
        assert_eq!(state.opened[0].max_open, 4);
        assert_eq!(state.closed, 1, "the verification driver is closed");
    }

    #[tokio::test]
    async fn plugin_name_is_required_and_must_be_known() {
        let h = Harness::new();
        let err = h
            .write("config/pg", json!({"connection_url": "x"}))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "plugin_name is required");
        let err = h
            .write(
                "config/pg",
                json!({"plugin_name": "mysql-database-plugin", "connection_url": "x"}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert!(
            err.to_string().contains("\"mysql-database-plugin\""),
            "{err}"
        );
        assert!(err.to_string().contains(PLUGIN), "{err}");
        assert!(
            h.read("config/pg").await.unwrap().is_none(),
            "nothing stored"
        );
    }

    #[tokio::test]
    async fn failed_verification_is_a_400_with_the_password_scrubbed() {
        let h = Harness::new();
        h.state.lock().unwrap().verify_error =
            Some("password authentication failed (tried {password})".into());
        let err = h.write("config/pg", base()).await.unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(
            err.to_string(),
            "error creating database object: error verifying connection: \
             password authentication failed (tried [REDACTED])"
        );
        assert!(
            h.read("config/pg").await.unwrap().is_none(),
            "nothing stored"
        );
        let mut body = base();
        body["verify_connection"] = json!(false);
        h.write("config/pg", body).await.unwrap();
        assert_eq!(
            data(h.read("config/pg").await.unwrap())["verify_connection"],
            false
        );
    }

    #[tokio::test]
    async fn update_keeps_fields_not_given() {
        let h = Harness::new();
        h.write("config/pg", base()).await.unwrap();
        h.write(
            "config/pg",
            json!({"allowed_roles": "*", "max_open_connections": 9}),
        )
        .await
        .unwrap();
        let d = data(h.read("config/pg").await.unwrap());
        assert_eq!(d["allowed_roles"], json!(["*"]));
        assert_eq!(d["plugin_name"], PLUGIN);
        assert_eq!(d["connection_details"]["username"], "admin");
        assert_eq!(d["connection_details"]["max_open_connections"], 9);
        // The password survived too: the second open filled it in.
        let state = h.state.lock().unwrap();
        assert_eq!(state.opened[1].url, "fake://admin:Root-pass-123@db/app");
    }

    #[tokio::test]
    async fn literal_password_warns_and_is_redacted_on_read() {
        let h = Harness::new();
        let resp = h
            .write(
                "config/pg",
                json!({"plugin_name": PLUGIN, "connection_url": "fake://admin:s3cr3t-pw@db/app"}),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.warnings, vec![LITERAL_PASSWORD_WARNING.to_owned()]);
        let d = data(h.read("config/pg").await.unwrap());
        assert_eq!(
            d["connection_details"]["connection_url"],
            "fake://admin:xxxxx@db/app"
        );
    }

    #[tokio::test]
    async fn bad_values_are_400s_naming_the_field() {
        let h = Harness::new();
        for (field, value, needle) in [
            (
                "username_template",
                json!("{{.Nope}}{{random 9}}"),
                "username_template",
            ),
            ("password_length", json!(4), "password_length"),
            (
                "password_charset",
                json!("abc'defghijk"),
                "password_charset",
            ),
            ("max_open_connections", json!(-1), "max_open_connections"),
            ("password_policy", json!("strong"), "password_policy"),
            ("verify_connection", json!("maybe"), "verify_connection"),
        ] {
            let mut body = base();
            body[field] = value;
            let err = h.write("config/pg", body).await.unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidRequest(_)),
                "{field}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{field}: {err}");
        }
        let mut body = base();
        body["username_template"] = json!("{{.RoleName}}-{{random 60}}");
        let err = h.write("config/pg", body).await.unwrap_err();
        assert!(err.to_string().contains("longer than 63"), "{err}");
    }

    #[tokio::test]
    async fn unknown_fields_are_named_in_a_warning() {
        let h = Harness::new();
        let mut body = base();
        body["colour"] = json!("blue");
        let resp = h.write("config/pg", body).await.unwrap().unwrap();
        assert_eq!(
            resp.warnings,
            vec!["Endpoint ignored these unrecognized parameters: [colour]".to_owned()]
        );
    }

    #[tokio::test]
    async fn writing_deleting_and_resetting_drop_the_cached_driver() {
        let h = Harness::new();
        h.with_connection_and_role().await;
        let closed = || h.state.lock().unwrap().closed;
        h.read("creds/ro").await.unwrap(); // opens and caches the driver
        let before = closed();
        h.call(Operation::Update, "reset/pg", json!({}))
            .await
            .unwrap();
        assert_eq!(closed(), before + 1);
        h.read("creds/ro").await.unwrap();
        h.write("config/pg", json!({"allowed_roles": "*"}))
            .await
            .unwrap();
        // One close for the verification driver, one for the cached one.
        assert_eq!(closed(), before + 3);
        h.read("creds/ro").await.unwrap();
        h.call(Operation::Delete, "config/pg", json!({}))
            .await
            .unwrap();
        assert_eq!(closed(), before + 4);
        assert!(h.read("config/pg").await.unwrap().is_none());
        let err = h
            .call(Operation::Update, "reset/pg", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
    }

    #[tokio::test]
    async fn list_and_existence() {
        let h = Harness::new();
        let req = h.request(Operation::Update, "config/pg", json!({}));
        assert_eq!(h.backend.exists(&req).await.unwrap(), Some(false));
        h.write("config/pg", base()).await.unwrap();
        h.write("config/other", base()).await.unwrap();
        assert_eq!(h.backend.exists(&req).await.unwrap(), Some(true));
        let d = data(h.call(Operation::List, "config", json!({})).await.unwrap());
        assert_eq!(d["keys"], json!(["other", "pg"]));
        let creds = h.request(Operation::Read, "creds/x", json!({}));
        assert_eq!(h.backend.exists(&creds).await.unwrap(), None);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*", ""));
        assert!(glob_match("read*", "readonly"));
        assert!(glob_match("*only", "readonly"));
        assert!(glob_match("r*d*y", "readonly"));
        assert!(glob_match("ro", "ro"));
        assert!(!glob_match("ro", "rox"));
        assert!(!glob_match("read*", "write"));
        assert!(!glob_match("a*aa", "aa"));
    }
}
