//! Test harness: the SDK's in-memory storage (made to yield before each call), its hand-moved
//! clock, and calls that read like the HTTP requests a client would make
//! (`h.write("role/ci", json!({...}))`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use leasehold_backend::clock::ManualClock;
use leasehold_backend::memory::MemoryStorage;
use leasehold_backend::{
    AuthGrant, Backend, BackendError, Fields, MountStorage, Operation, Request, Response,
    StorageError,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::AppRoleBackend;

/// The SDK's [`MemoryStorage`], except that every call yields to the scheduler first, so
/// concurrent tasks interleave between a read and the write that follows it, as they would over
/// SQLite (the concurrent-login tests depend on that).
#[derive(Default)]
pub(crate) struct YieldingStorage(MemoryStorage);

#[async_trait]
impl MountStorage for YieldingStorage {
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        tokio::task::yield_now().await;
        self.0.put(key, value).await
    }
    async fn compare_and_put(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError> {
        tokio::task::yield_now().await;
        self.0.compare_and_put(key, expected, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        tokio::task::yield_now().await;
        self.0.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        tokio::task::yield_now().await;
        self.0.list(prefix).await
    }
}

impl YieldingStorage {
    /// Stored keys containing `needle`.
    pub(crate) fn keys_with(&self, needle: &str) -> Vec<String> {
        let map = self.0.data.lock().unwrap_or_else(PoisonError::into_inner);
        map.keys().filter(|k| k.contains(needle)).cloned().collect()
    }

    /// Every stored byte as text, to show a secret is not stored.
    pub(crate) fn dump(&self) -> String {
        self.0.dump()
    }
}

/// A parsed address, for `remote_addr`.
pub(crate) fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

/// One AppRole mount with its storage and clock.
pub(crate) struct Harness {
    pub backend: AppRoleBackend,
    pub storage: Arc<YieldingStorage>,
    clock: Arc<ManualClock>,
}

impl Harness {
    pub(crate) fn new() -> Self {
        let start = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let clock = Arc::new(ManualClock::at(start));
        Self {
            backend: Self::backend(&clock),
            storage: Arc::new(YieldingStorage::default()),
            clock,
        }
    }

    /// Another server on the same storage and clock: a backend of its own, so nothing held in
    /// memory (the per-role locks, the cached key) is shared with this one.
    pub(crate) fn second_node(&self) -> Self {
        Self {
            backend: Self::backend(&self.clock),
            storage: Arc::clone(&self.storage),
            clock: Arc::clone(&self.clock),
        }
    }

    fn backend(clock: &Arc<ManualClock>) -> AppRoleBackend {
        AppRoleBackend::new(Arc::clone(clock) as _)
    }

    pub(crate) fn advance(&self, d: Duration) {
        self.clock.advance(chrono::Duration::from_std(d).unwrap());
    }

    fn request(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
        addr: Option<IpAddr>,
    ) -> Request {
        let map = match body {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => panic!("body must be an object: {other}"),
        };
        Request {
            operation,
            path: path.to_owned(),
            fields: Fields::new(map),
            storage: self.storage.clone(),
            mount_path: "auth/approle/".to_owned(),
            display_name: "root".to_owned(),
            remote_addr: addr,
        }
    }

    pub(crate) async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        addr: Option<IpAddr>,
    ) -> Result<Option<Response>, BackendError> {
        self.backend
            .handle(self.request(op, path, body, addr))
            .await
    }

    /// A POST, as create or update depending on the existence check, as the core does.
    pub(crate) async fn write(
        &self,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, BackendError> {
        let probe = self.request(Operation::Update, path, Value::Null, None);
        let op = match self.backend.exists(&probe).await.unwrap() {
            Some(false) => Operation::Create,
            _ => Operation::Update,
        };
        self.call(op, path, body, None).await
    }

    pub(crate) async fn exists(&self, path: &str) -> Option<bool> {
        let probe = self.request(Operation::Update, path, Value::Null, None);
        self.backend.exists(&probe).await.unwrap()
    }

    pub(crate) async fn call_read(&self, path: &str) -> Result<Option<Response>, BackendError> {
        self.call(Operation::Read, path, Value::Null, None).await
    }

    /// The data of a read that must find something.
    pub(crate) async fn read(&self, path: &str) -> Result<Map<String, Value>, BackendError> {
        let resp = self.call_read(path).await?;
        Ok(resp.expect("read found nothing").data.expect("no data"))
    }

    pub(crate) async fn list(&self, path: &str) -> Result<Map<String, Value>, BackendError> {
        let resp = self.call(Operation::List, path, Value::Null, None).await?;
        Ok(resp.expect("list answered nothing").data.expect("no data"))
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Option<Response>, BackendError> {
        self.call(Operation::Delete, path, Value::Null, None).await
    }

    /// Log in from `addr`; the grant, or the refusal.
    pub(crate) async fn login(
        &self,
        body: Value,
        addr: Option<IpAddr>,
    ) -> Result<AuthGrant, BackendError> {
        let resp = self.call(Operation::Update, "login", body, addr).await?;
        let resp = resp.expect("login answered nothing");
        assert!(resp.data.is_none() && resp.secret.is_none());
        Ok(resp.auth.expect("login without a grant"))
    }

    pub(crate) async fn role_id(&self, role: &str) -> String {
        let d = self.read(&format!("role/{role}/role-id")).await.unwrap();
        d.get("role_id").and_then(Value::as_str).unwrap().to_owned()
    }

    /// A fresh secret id for `role` with the role's defaults.
    pub(crate) async fn secret_id(&self, role: &str) -> String {
        let resp = self
            .write(&format!("role/{role}/secret-id"), Value::Null)
            .await
            .unwrap()
            .unwrap();
        let data = resp.data.unwrap();
        data.get("secret_id")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }
}
