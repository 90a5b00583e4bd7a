//! Test doubles: an in-memory [`MountStorage`] and a [`Driver`] that records what it was asked.
//! The real effects on a database are proven in `leasehold-postgres`'s tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use leasehold_backend::{
    Backend, BackendError, Fields, MountStorage, Operation, Request, Response, StorageError,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::driver::{
    ConnectionConfig, DeleteUser, Driver, DriverError, DriverFactory, NewUser, UpdateExpiry,
    UpdatePassword,
};
use crate::DatabaseBackend;

pub(crate) const PLUGIN: &str = "fake-database-plugin";

#[derive(Default)]
pub(crate) struct MemoryStorage(Mutex<BTreeMap<String, Vec<u8>>>);

#[async_trait]
impl MountStorage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        Ok(self.0.lock().unwrap().get(key).cloned().map(Zeroizing::new))
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let map = self.0.lock().unwrap();
        let mut out: Vec<String> = map
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(|rest| match rest.split_once('/') {
                Some((dir, _)) => format!("{dir}/"),
                None => rest.to_owned(),
            })
            .collect();
        out.dedup();
        Ok(out)
    }
}

impl MemoryStorage {
    /// Every stored byte as text, to check that no secret is stored where it should not be.
    pub(crate) fn dump(&self) -> String {
        let map = self.0.lock().unwrap();
        map.iter()
            .map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(v)))
            .collect()
    }
}

/// What the fake driver saw, shared by every driver a factory opened.
#[derive(Default)]
pub(crate) struct FakeState {
    pub opened: Vec<ConnectionConfigSeen>,
    pub users: BTreeMap<String, String>,
    pub calls: Vec<String>,
    pub closed: usize,
    /// Make `verify` fail with this text (`{password}` is replaced by the root password).
    pub verify_error: Option<String>,
    /// Make `new_user` fail with a text that echoes the new password.
    pub fail_new_user: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ConnectionConfigSeen {
    pub url: String,
    pub max_open: u32,
}

pub(crate) struct FakeFactory(pub Arc<Mutex<FakeState>>);

impl DriverFactory for FakeFactory {
    fn plugin_names(&self) -> &'static [&'static str] {
        &[PLUGIN]
    }
    fn open(&self, config: &ConnectionConfig) -> Result<Arc<dyn Driver>, DriverError> {
        if config.connection_url.is_empty() {
            return Err(DriverError::InvalidConfig(
                "connection_url is required".into(),
            ));
        }
        let url = config.render_url()?.expose_secret().to_owned();
        self.0.lock().unwrap().opened.push(ConnectionConfigSeen {
            url,
            max_open: config.max_open_connections,
        });
        Ok(Arc::new(FakeDriver {
            state: self.0.clone(),
            root_password: config
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned()),
        }))
    }
}

struct FakeDriver {
    state: Arc<Mutex<FakeState>>,
    root_password: Option<String>,
}

#[async_trait]
impl Driver for FakeDriver {
    async fn verify(&self) -> Result<(), DriverError> {
        let state = self.state.lock().unwrap();
        match &state.verify_error {
            Some(text) => Err(DriverError::Unreachable(
                text.replace("{password}", self.root_password.as_deref().unwrap_or("")),
            )),
            None => Ok(()),
        }
    }
    async fn new_user(&self, req: NewUser<'_>) -> Result<(), DriverError> {
        let mut state = self.state.lock().unwrap();
        state.calls.push(format!(
            "new_user {} {}",
            req.username,
            req.expiration.timestamp()
        ));
        if state.fail_new_user {
            return Err(DriverError::Rejected(format!(
                "syntax error at or near \"{}\"",
                req.password.expose_secret()
            )));
        }
        state.users.insert(
            req.username.to_owned(),
            req.password.expose_secret().to_owned(),
        );
        Ok(())
    }
    async fn update_expiry(&self, req: UpdateExpiry<'_>) -> Result<(), DriverError> {
        self.state.lock().unwrap().calls.push(format!(
            "update_expiry {} {}",
            req.username,
            req.expiration.timestamp()
        ));
        Ok(())
    }
    async fn delete_user(&self, req: DeleteUser<'_>) -> Result<(), DriverError> {
        let mut state = self.state.lock().unwrap();
        state.calls.push(format!(
            "delete_user {} {:?} {:?}",
            req.username, req.revocation_statements, req.reassign_owned_to
        ));
        state.users.remove(req.username);
        Ok(())
    }
    async fn update_password(&self, req: UpdatePassword<'_>) -> Result<(), DriverError> {
        let mut state = self.state.lock().unwrap();
        state
            .calls
            .push(format!("update_password {}", req.username));
        state.users.insert(
            req.username.to_owned(),
            req.password.expose_secret().to_owned(),
        );
        Ok(())
    }

    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .users
            .keys()
            .filter(|u| u.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn max_username_len(&self) -> usize {
        63
    }
    async fn close(&self) {
        self.state.lock().unwrap().closed += 1;
    }
}

/// An engine with the fake driver, its storage and the fake's shared state.
pub(crate) struct Harness {
    pub backend: DatabaseBackend,
    pub storage: Arc<MemoryStorage>,
    pub state: Arc<Mutex<FakeState>>,
}

impl Harness {
    pub(crate) fn new() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        Self {
            backend: DatabaseBackend::new(vec![Arc::new(FakeFactory(state.clone()))]),
            storage: Arc::new(MemoryStorage::default()),
            state,
        }
    }

    pub(crate) fn request(&self, operation: Operation, path: &str, body: Value) -> Request {
        let Value::Object(map) = body else {
            panic!("body must be an object")
        };
        Request {
            operation,
            path: path.to_owned(),
            fields: Fields::new(map),
            storage: self.storage.clone(),
            mount_path: "database/".to_owned(),
            display_name: "token".to_owned(),
            remote_addr: None,
        }
    }

    /// Run a request the way the core does: existence check first for writes.
    pub(crate) async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, BackendError> {
        let mut req = self.request(operation, path, body);
        if operation.is_write() {
            if let Some(exists) = self.backend.exists(&req).await? {
                req.operation = if exists {
                    Operation::Update
                } else {
                    Operation::Create
                };
            }
        }
        self.backend.handle(req).await
    }

    pub(crate) async fn write(
        &self,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, BackendError> {
        self.call(Operation::Update, path, body).await
    }

    pub(crate) async fn read(&self, path: &str) -> Result<Option<Response>, BackendError> {
        self.call(Operation::Read, path, serde_json::json!({}))
            .await
    }

    /// A connection `pg` admitting every role, and a role `ro` on it.
    pub(crate) async fn with_connection_and_role(&self) {
        self.write(
            "config/pg",
            serde_json::json!({
                "plugin_name": PLUGIN,
                "connection_url": "fake://{{username}}:{{password}}@db",
                "username": "admin",
                "password": "root-Secret-1",
                "allowed_roles": "*",
            }),
        )
        .await
        .unwrap();
        self.write(
            "roles/ro",
            serde_json::json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\";",
                "default_ttl": "1h",
                "max_ttl": "24h",
            }),
        )
        .await
        .unwrap();
    }
}

/// The `data` object of a response.
pub(crate) fn data(resp: Option<Response>) -> serde_json::Map<String, Value> {
    resp.expect("a response").data.expect("data")
}
