//! The engine as the core drives it, for the drivers' tests: the SDK's [`MemoryStorage`] and
//! an [`Engine`] on a clock the test moves. Built only with the `harness` feature (drivers
//! enable it in their dev-dependencies) and in this crate's own tests.

// Test helpers: failing loudly, with the path that failed, is their job.
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_backend::clock::{Clock, ManualClock};
use leasehold_backend::{
    Backend, BackendError, Fields, Operation, PlannedSecret, Request, Response, SecretContext,
    SecretEngine,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use crate::{DatabaseBackend, DriverFactory};

pub use leasehold_backend::memory::MemoryStorage;

/// A [`DatabaseBackend`] mounted at `database/` on [`MemoryStorage`], whose clock moves only
/// when told.
pub struct Engine {
    pub backend: DatabaseBackend,
    pub storage: Arc<MemoryStorage>,
    factory: Arc<dyn DriverFactory>,
    clock: Arc<ManualClock>,
}

impl Engine {
    pub fn new(factory: Arc<dyn DriverFactory>) -> Self {
        Self::on(factory, Arc::new(MemoryStorage::default()))
    }

    /// An engine over `storage`, as a server that restarts keeps its storage.
    pub fn on(factory: Arc<dyn DriverFactory>, storage: Arc<MemoryStorage>) -> Self {
        let clock = Arc::new(ManualClock::at_system_now());
        let backend = DatabaseBackend::with_clock(vec![factory.clone()], clock.clone());
        Self {
            backend,
            storage,
            factory,
            clock,
        }
    }

    /// The same storage under a new engine: what a restarted server sees.
    pub fn restart(&self) -> Self {
        Self::on(self.factory.clone(), self.storage.clone())
    }

    /// Close the engine's connections (the end of a test that opened some).
    pub async fn shutdown(&self) {
        self.backend.shutdown().await;
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, BackendError> {
        let fields = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.backend
            .handle(Request {
                operation,
                path: path.into(),
                fields: Fields::new(fields),
                storage: self.storage.clone(),
                mount_path: "database/".into(),
                display_name: "token".into(),
                remote_addr: None,
            })
            .await
    }

    /// An update that must succeed.
    pub async fn write(&self, path: &str, body: Value) -> Option<Response> {
        self.call(Operation::Update, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A read that must answer data: the data.
    pub async fn read(&self, path: &str) -> Map<String, Value> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .and_then(|r| r.data)
            .unwrap_or_else(|| panic!("{path} answered no data"))
    }

    /// `creds/<role>`: the planned user, nothing created yet.
    pub async fn plan(&self, role: &str) -> PlannedSecret {
        self.call(Operation::Read, &format!("creds/{role}"), json!({}))
            .await
            .unwrap_or_else(|e| panic!("creds/{role}: {e}"))
            .and_then(|r| r.secret)
            .unwrap_or_else(|| panic!("creds/{role} planned no secret"))
    }

    /// `static-creds/<name>`: (password, ttl).
    pub async fn static_creds(&self, name: &str) -> (SecretString, i64) {
        let data = self
            .call(Operation::Read, &format!("static-creds/{name}"), json!({}))
            .await
            .unwrap_or_else(|e| panic!("static-creds/{name}: {e}"))
            .and_then(|r| r.data)
            .unwrap_or_else(|| panic!("static-creds/{name} answered no data"));
        let password = data["password"].as_str().unwrap_or_default().to_owned();
        (
            SecretString::from(password),
            data["ttl"].as_i64().unwrap_or(-1),
        )
    }

    /// The context the lease engine hands to create, renew and revoke.
    pub fn ctx(&self, secret: &PlannedSecret, expire: DateTime<Utc>) -> SecretContext {
        SecretContext {
            storage: self.storage.clone(),
            kind: secret.kind.clone(),
            internal: secret.internal.clone(),
            expire_time: expire,
        }
    }
}

/// What a driver's test can ask its server directly.
#[async_trait]
pub trait Server: Sync {
    /// Whether `password` logs in as `user`.
    async fn logs_in(&self, user: &str, password: &SecretString) -> bool;
    /// Whether the server has an account named `user`.
    async fn has_user(&self, user: &str) -> bool;
}

impl Engine {
    /// A static role's life on `db`: it takes over `user`'s password (`initial` stops working),
    /// its `ttl` counts down, and it rotates on demand and when a read finds it overdue. Every
    /// password handed out is checked to log in and every replaced one to fail. The role is
    /// deleted at the end, which leaves the user its last password, returned.
    pub async fn static_role_life(
        &self,
        db: &str,
        user: &str,
        initial: &SecretString,
        server: &dyn Server,
    ) -> SecretString {
        let body = json!({"db_name": db, "username": user, "rotation_period": "1h"});
        self.write("static-roles/life", body).await;
        let (first, ttl) = self.static_creds("life").await;
        assert_eq!(ttl, 3600);
        assert!(
            server.logs_in(user, &first).await,
            "the password static-creds gives does not log in"
        );
        assert!(
            !server.logs_in(user, initial).await,
            "the imported password still logs in"
        );

        self.advance(100);
        let (_, ttl) = self.static_creds("life").await;
        assert_eq!(ttl, 3500, "ttl counts down to the next rotation");

        self.write("rotate-role/life", json!({})).await;
        let (second, ttl) = self.static_creds("life").await;
        assert_eq!(ttl, 3600);
        assert!(
            server.logs_in(user, &second).await,
            "rotated password does not log in"
        );
        assert!(
            !server.logs_in(user, &first).await,
            "the rotated-out password still logs in"
        );

        // Overdue: the read rotates first, and hands out what the server now has.
        self.advance(3600);
        let (third, _) = self.static_creds("life").await;
        assert!(server.logs_in(user, &third).await);
        assert!(!server.logs_in(user, &second).await);

        self.call(Operation::Delete, "static-roles/life", json!({}))
            .await
            .unwrap_or_else(|e| panic!("deleting static-roles/life: {e}"));
        assert!(
            server.logs_in(user, &third).await,
            "deleting the role must leave the user alone"
        );
        third
    }

    /// `rotate-root/<db>` for a connection logged in as `root` with `old`: it answers 204, the
    /// old password stops working, the stored one logs in and no read shows it. Returns it.
    pub async fn rotate_root_checked(
        &self,
        db: &str,
        root: &str,
        old: &SecretString,
        server: &dyn Server,
    ) -> SecretString {
        let resp = self.write(&format!("rotate-root/{db}"), json!({})).await;
        assert!(
            resp.is_none(),
            "rotate-root answers 204, without the password"
        );
        assert!(
            !server.logs_in(root, old).await,
            "the connection user's old password still logs in"
        );
        let stored = self
            .storage
            .json(&format!("config/{db}"))
            .unwrap_or_default();
        let new = SecretString::from(stored["password"].as_str().unwrap_or_default().to_owned());
        assert_ne!(new.expose_secret(), old.expose_secret());
        assert!(
            server.logs_in(root, &new).await,
            "the stored root password does not log in"
        );
        let read = self
            .call(Operation::Read, &format!("config/{db}"), json!({}))
            .await
            .unwrap_or_else(|e| panic!("reading config/{db}: {e}"))
            .and_then(|r| r.data)
            .unwrap_or_default();
        assert!(!Value::Object(read)
            .to_string()
            .contains(new.expose_secret()));
        new
    }
}

impl Engine {
    /// The static role `<db>`/`user` refused because the server has no such user: a target
    /// error saying so, and no role left behind.
    pub async fn static_role_refused_for_missing_user(&self, db: &str, user: &str) {
        let body = json!({"db_name": db, "username": user, "rotation_period": 60});
        let err = match self
            .call(Operation::Update, "static-roles/ghost", body)
            .await
        {
            Ok(_) => panic!("a static role for the missing user {user} was accepted"),
            Err(e) => e,
        };
        assert!(matches!(err, BackendError::Target(_)), "{err:?}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let read = self
            .call(Operation::Read, "static-roles/ghost", json!({}))
            .await
            .unwrap_or_else(|e| panic!("reading static-roles/ghost: {e}"));
        assert!(read.is_none(), "the refused role was stored");
    }

    /// A credential of dynamic role `role`, created and destroyed as the lease engine would:
    /// it logs in, and after revocation neither the account nor the login is left.
    pub async fn issue_and_revoke(&self, role: &str, server: &dyn Server) {
        let secret = self.plan(role).await;
        let ctx = self.ctx(&secret, self.clock.now() + chrono::Duration::hours(1));
        let creds = self
            .backend
            .create(&ctx)
            .await
            .unwrap_or_else(|e| panic!("create through the engine: {e}"));
        let user = &secret.account;
        let password = creds
            .secrets
            .first()
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| SecretString::from(String::new()));
        assert!(
            server.logs_in(user, &password).await,
            "{user} cannot log in"
        );
        self.backend
            .revoke(&ctx)
            .await
            .unwrap_or_else(|e| panic!("revoke through the engine: {e}"));
        assert!(!server.has_user(user).await, "{user} outlived revocation");
        assert!(!server.logs_in(user, &password).await);
    }

    /// rotate-root on a connection `db` logged in as `root` with `password`, twice, with dynamic
    /// role `role` issuing before and after and a static role of `static_user` rotating after:
    /// the engine reconnects with each new password it set.
    pub async fn rotate_root_life(
        &self,
        db: &str,
        role: &str,
        root: &str,
        password: &SecretString,
        static_user: &str,
        server: &dyn Server,
    ) {
        let body = json!({"db_name": db, "username": static_user, "rotation_period": "1h"});
        self.write("static-roles/after-root", body).await;
        // The cached driver is open and logged in with the old password.
        self.issue_and_revoke(role, server).await;

        let first = self.rotate_root_checked(db, root, password, server).await;
        self.issue_and_revoke(role, server).await;
        self.write("rotate-role/after-root", json!({})).await;
        let (rotated, _) = self.static_creds("after-root").await;
        assert!(server.logs_in(static_user, &rotated).await);

        // Again: the second rotation logs in with the first one's password.
        self.rotate_root_checked(db, root, &first, server).await;
        self.issue_and_revoke(role, server).await;
        self.call(Operation::Delete, "static-roles/after-root", json!({}))
            .await
            .unwrap_or_else(|e| panic!("deleting static-roles/after-root: {e}"));
    }
}

impl Engine {
    /// A rotation of a static role of `user` on `db` that crashes after the server took the new
    /// password and before the engine recorded it (the role's write fails): the server must have
    /// the password written ahead, and the restarted engine hands out that one, never the stale
    /// one, and clears what it wrote ahead.
    pub async fn rotation_crash_recovered(&self, db: &str, user: &str, server: &dyn Server) {
        let body = json!({"db_name": db, "username": user, "rotation_period": "1h"});
        self.write("static-roles/crash", body).await;
        let (before, _) = self.static_creds("crash").await;
        let pending_key = format!("{}crash", crate::rotation::PENDING_STATIC);

        self.fail_puts(Some(crate::static_roles::PREFIX));
        let rotated = self
            .call(Operation::Update, "rotate-role/crash", json!({}))
            .await;
        self.fail_puts(None);
        assert!(rotated.is_err(), "the rotation's commit was meant to fail");
        let pending = self.storage.json(&pending_key).unwrap_or_default();
        let pending =
            SecretString::from(pending["password"].as_str().unwrap_or_default().to_owned());
        assert!(
            server.logs_in(user, &pending).await,
            "the password written ahead is not the server's"
        );
        assert!(!server.logs_in(user, &before).await);

        let restarted = self.restart();
        let (after, _) = restarted.static_creds("crash").await;
        assert_eq!(
            after.expose_secret(),
            pending.expose_secret(),
            "handed out a stale password"
        );
        assert!(!restarted.storage.contains(&pending_key));
        restarted
            .call(Operation::Delete, "static-roles/crash", json!({}))
            .await
            .unwrap_or_else(|e| panic!("deleting static-roles/crash: {e}"));
        restarted.shutdown().await;
    }

    /// Make every write under `prefix` fail (`None`: none).
    fn fail_puts(&self, prefix: Option<&str>) {
        let mut failing = self
            .storage
            .fail_puts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        failing.clear();
        failing.extend(prefix.map(str::to_owned));
    }
}
