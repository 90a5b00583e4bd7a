//! Test doubles: an in-memory [`MountStorage`] and a [`Driver`] that records what it was asked.
//! The real effects on a database are proven in `leasehold-postgres`'s tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_backend::clock::{Clock, ManualClock};
use leasehold_backend::{Backend, BackendError, Fields, Operation, Request, Response};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::driver::{
    ConnectionConfig, DeleteUser, Driver, DriverError, DriverFactory, NewUser, UpdateExpiry,
    UpdatePassword,
};
use crate::DatabaseBackend;

pub(crate) const PLUGIN: &str = "fake-database-plugin";
/// The root password of the harness's connection.
pub(crate) const ROOT_PASSWORD: &str = "root-Secret-1";
/// The password the existing user `app` starts with.
pub(crate) const APP_PASSWORD: &str = "App-old-pass-1";

pub(crate) use crate::harness::MemoryStorage;

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
    /// Make `update_password` fail this way (until cleared).
    pub fail_update_password: Option<PasswordFailure>,
}

/// How the fake's `update_password` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordFailure {
    /// The database refused the statement (echoing the password); nothing changed.
    Rejected,
    /// The connection broke before the statement ran; nothing changed, but the engine cannot
    /// know that (a crash between "pending stored" and "password set" looks the same).
    LostBefore,
    /// The password was set, then the answer was lost (a crash between "password set" and
    /// "committed" looks the same).
    LostAfter,
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
            root_user: config.username.clone(),
            root_password: config
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned()),
        }))
    }
}

/// When the connection's own user is in `FakeState::users`, every call logs in as it: a wrong
/// root password fails the call as PostgreSQL would (an authentication failure).
struct FakeDriver {
    state: Arc<Mutex<FakeState>>,
    root_user: Option<String>,
    root_password: Option<String>,
}

impl FakeDriver {
    fn login(&self, state: &FakeState) -> Result<(), DriverError> {
        let Some(user) = &self.root_user else {
            return Ok(());
        };
        match state.users.get(user) {
            Some(actual) if Some(actual) != self.root_password.as_ref() => {
                Err(DriverError::Unreachable(format!(
                    "password authentication failed for user \"{user}\""
                )))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Driver for FakeDriver {
    async fn verify(&self) -> Result<(), DriverError> {
        let state = self.state.lock().unwrap();
        self.login(&state)?;
        match &state.verify_error {
            Some(text) => Err(DriverError::Unreachable(
                text.replace("{password}", self.root_password.as_deref().unwrap_or("")),
            )),
            None => Ok(()),
        }
    }
    async fn new_user(&self, req: NewUser<'_>) -> Result<(), DriverError> {
        let mut state = self.state.lock().unwrap();
        self.login(&state)?;
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
    async fn delete_user(&self, req: DeleteUser<'_>) -> Result<crate::Revoked, DriverError> {
        let mut state = self.state.lock().unwrap();
        state.calls.push(format!(
            "delete_user {} {:?} {:?}",
            req.username, req.revocation_statements, req.reassign_owned_to
        ));
        // The fake has no sessions: a user it had reports none open, a missing one unknown.
        Ok(match state.users.remove(req.username) {
            Some(_) => crate::Revoked::sessions(0),
            None => crate::Revoked::unknown(),
        })
    }
    async fn update_password(&self, req: UpdatePassword<'_>) -> Result<(), DriverError> {
        let mut state = self.state.lock().unwrap();
        self.login(&state)?;
        state.calls.push(format!(
            "update_password {} {:?}",
            req.username, req.statements
        ));
        let password = req.password.expose_secret().to_owned();
        match state.fail_update_password {
            Some(PasswordFailure::Rejected) => {
                return Err(DriverError::Rejected(format!(
                    "syntax error at or near \"{password}\""
                )))
            }
            Some(PasswordFailure::LostBefore) => {
                return Err(DriverError::Unreachable("connection reset by peer".into()))
            }
            Some(PasswordFailure::LostAfter) => {
                state.users.insert(req.username.to_owned(), password);
                return Err(DriverError::Unreachable(
                    "connection closed before COMMIT was answered".into(),
                ));
            }
            None => {}
        }
        state.users.insert(req.username.to_owned(), password);
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

/// An engine with the fake driver, its storage, the fake's shared state and a clock that
/// moves only when told.
pub(crate) struct Harness {
    pub backend: DatabaseBackend,
    pub storage: Arc<MemoryStorage>,
    pub state: Arc<Mutex<FakeState>>,
    pub clock: Arc<ManualClock>,
}

/// Where the harness clock starts: 2024-05-01T10:00:00Z.
pub(crate) const START: i64 = 1_714_557_600;

impl Harness {
    pub(crate) fn new() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let clock = Arc::new(ManualClock::at(
            DateTime::<Utc>::from_timestamp(START, 0).unwrap(),
        ));
        Self {
            backend: Self::engine(&state, &clock),
            storage: Arc::new(MemoryStorage::default()),
            state,
            clock,
        }
    }

    fn engine(state: &Arc<Mutex<FakeState>>, clock: &Arc<ManualClock>) -> DatabaseBackend {
        DatabaseBackend::with_clock(vec![Arc::new(FakeFactory(state.clone()))], clock.clone())
    }

    /// A new engine over the same storage and database: the server restarted.
    pub(crate) fn restart(&mut self) {
        self.backend = Self::engine(&self.state, &self.clock);
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
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

    /// A connection `pg` as user `admin`, admitting every role.
    pub(crate) async fn with_connection(&self) {
        self.write(
            "config/pg",
            serde_json::json!({
                "plugin_name": PLUGIN,
                "connection_url": "fake://{{username}}:{{password}}@db",
                "username": "admin",
                "password": ROOT_PASSWORD,
                "allowed_roles": "*",
            }),
        )
        .await
        .unwrap();
    }

    /// The database has `admin` (whose password every call now checks) and an existing user
    /// `app` with password [`APP_PASSWORD`]; connection `pg` is configured.
    pub(crate) async fn with_connection_and_app_user(&self) {
        {
            let mut state = self.state.lock().unwrap();
            state.users.insert("admin".into(), ROOT_PASSWORD.into());
            state.users.insert("app".into(), APP_PASSWORD.into());
        }
        self.with_connection().await;
    }

    /// The password `user` has on the fake database.
    pub(crate) fn db_password(&self, user: &str) -> String {
        self.state.lock().unwrap().users[user].clone()
    }

    /// How many `update_password` calls the fake saw.
    pub(crate) fn password_changes(&self) -> usize {
        let state = self.state.lock().unwrap();
        state
            .calls
            .iter()
            .filter(|c| c.starts_with("update_password"))
            .count()
    }

    /// A connection `pg` admitting every role, and a role `ro` on it.
    pub(crate) async fn with_connection_and_role(&self) {
        self.with_connection().await;
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
