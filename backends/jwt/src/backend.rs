//! The JWT auth method as a mounted backend: `config`, `role/:name` (and `LIST role`), `login`.
//! Login validates the JWT against the mount's keys and the role's bounds and answers an
//! [`AuthGrant`]; the core mints the token. The workload recorded on that token, and on every
//! lease it obtains, is `role/<role>/sub/<subject>` below the mount, so one call can revoke a
//! role's or a single subject's holdings.

use std::sync::Arc;

use async_trait::async_trait;
use leasehold_backend::clock::SharedClock;
use leasehold_backend::entry::Entries;
use leasehold_backend::storage::{get_json, put_json};
use leasehold_backend::{
    list, name, AuthGrant, Backend, BackendError, Operation, Request, Response,
};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::{validate, JwtConfig, JwtRole, KeySet};

const CONFIG_KEY: &str = "config";

/// The mount's roles, `role/<name>`.
const ROLES: Entries<JwtRole> = Entries::under("role/");

/// One JWT mount. Keys are cached in memory beside the config they were built from.
pub struct JwtBackend {
    clock: SharedClock,
    keys: Mutex<Option<Arc<KeySet>>>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl JwtBackend {
    /// A backend reading time from `clock`: the server passes the core's clock, tests a fixed
    /// one.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            keys: Mutex::new(None),
        }
    }

    async fn config(&self, req: &Request) -> Result<Option<JwtConfig>, BackendError> {
        Ok(get_json(req.storage.as_ref(), CONFIG_KEY).await?)
    }

    /// The mount's key set, built on first use after a start or a config write.
    async fn key_set(&self, config: &JwtConfig) -> Result<Arc<KeySet>, BackendError> {
        let mut cached = self.keys.lock().await;
        if let Some(keys) = cached.as_ref() {
            return Ok(keys.clone());
        }
        let keys = Arc::new(KeySet::from_config(config).map_err(BackendError::from)?);
        *cached = Some(keys.clone());
        Ok(keys)
    }

    async fn write_config(&self, req: &Request) -> Result<Option<Response>, BackendError> {
        let config = JwtConfig::from_fields(&req.fields).map_err(BackendError::from)?;
        put_json(req.storage.as_ref(), CONFIG_KEY, &config).await?;
        *self.keys.lock().await = None;
        Ok(None)
    }

    async fn role(&self, req: &Request, name: &str) -> Result<Option<Response>, BackendError> {
        let storage = req.storage.as_ref();
        match req.operation {
            Operation::Read => {
                let role = ROLES.load(storage, name).await?;
                Ok(role.map(|r| Response::data(object(r.to_read_json()))))
            }
            Operation::Create | Operation::Update => {
                let existing = ROLES.load(storage, name).await?;
                let role = JwtRole::from_fields(&req.fields, existing.as_ref())
                    .map_err(BackendError::from)?;
                ROLES.store(storage, name, &role).await?;
                Ok(None)
            }
            Operation::Delete => {
                ROLES.delete(storage, name).await?;
                Ok(None)
            }
            Operation::List => Err(BackendError::UnsupportedOperation),
        }
    }

    async fn login(&self, req: &Request) -> Result<Option<Response>, BackendError> {
        let config = self
            .config(req)
            .await?
            .ok_or_else(|| BackendError::invalid("could not load configuration"))?;
        let role_name = req
            .fields
            .str("role")?
            .filter(|r| !r.is_empty())
            .or_else(|| config.default_role.clone())
            .ok_or_else(|| BackendError::invalid("missing role"))?;
        let role = ROLES
            .load(req.storage.as_ref(), &role_name)
            .await?
            .ok_or_else(|| {
                BackendError::invalid(format!("role {role_name:?} could not be found"))
            })?;
        let jwt = req
            .fields
            .str("jwt")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| BackendError::invalid("missing token"))?;
        let keys = self.key_set(&config).await?;
        let claims = validate(&config, &role, &keys, &jwt, self.clock.now())
            .await
            .map_err(BackendError::from)?;
        let mut metadata = claims.metadata.clone();
        metadata.insert("role".into(), role_name.clone());
        let subject = claims
            .subject
            .clone()
            .unwrap_or_else(|| claims.user.clone());
        Ok(Some(Response::login(AuthGrant {
            policies: role.token_policies.clone(),
            ttl: role.token_ttl,
            max_ttl: role.token_max_ttl,
            num_uses: u32::try_from(role.token_num_uses).unwrap_or(u32::MAX),
            display_name: claims.user,
            metadata,
            workload: format!("role/{role_name}/sub/{subject}"),
            ..AuthGrant::default()
        })))
    }
}

#[async_trait]
impl Backend for JwtBackend {
    fn mount_type(&self) -> &'static str {
        "jwt"
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, BackendError> {
        if let Some(name) = req.path.strip_prefix("role/") {
            return Ok(Some(req.storage.get(&ROLES.key(name)).await?.is_some()));
        }
        Ok(None)
    }

    async fn login_role(&self, req: &Request) -> Result<Option<String>, BackendError> {
        if req.path != "login" {
            return Ok(None);
        }
        let asked = req.fields.str("role")?.filter(|r| !r.is_empty());
        match asked {
            Some(role) => Ok(Some(role)),
            None => Ok(self.config(req).await?.and_then(|c| c.default_role)),
        }
    }

    async fn handle(&self, req: Request) -> Result<Option<Response>, BackendError> {
        let path = req.path.clone();
        match (path.as_str(), req.operation) {
            ("config", Operation::Read) => Ok(self
                .config(&req)
                .await?
                .map(|c| Response::data(object(c.to_read_json())))),
            ("config", Operation::Create | Operation::Update) => self.write_config(&req).await,
            ("role" | "role/", Operation::List) => {
                let keys = req.storage.list(ROLES.prefix()).await?;
                Ok(Some(list::keys(keys)))
            }
            ("login", Operation::Create | Operation::Update) => self.login(&req).await,
            ("config" | "login", _) => Err(BackendError::UnsupportedOperation),
            (p, _) if p.starts_with("role/") => {
                let name = p.trim_start_matches("role/");
                name::check(name).map_err(|e| BackendError::invalid(e.to_string()))?;
                self.role(&req, name).await
            }
            _ => Err(BackendError::UnsupportedPath),
        }
    }

    /// Another node wrote the config: the cached key set was built from the old one.
    async fn invalidate(&self, key: &str) {
        if key.is_empty() || key == CONFIG_KEY {
            *self.keys.lock().await = None;
        }
    }
}
