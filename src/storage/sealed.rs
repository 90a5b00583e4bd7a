//! Key/value access with every value sealed: the system's own entries (mount table, tokens) and
//! each mount's view ([`MountView`], what a backend sees as its `MountStorage`).

use std::sync::Arc;

use async_trait::async_trait;
use leasehold_backend::storage::{MountStorage, StorageError as ViewError};
use serde::{de::DeserializeOwned, Serialize};
use zeroize::Zeroizing;

use super::seal::Seal;
use super::{Storage, StorageError};

/// Sealed key/value operations over a [`Storage`].
#[derive(Clone)]
pub struct SealedKv {
    storage: Arc<dyn Storage>,
    seal: Seal,
}

impl SealedKv {
    /// Wrap `storage`, sealing with `seal`.
    pub fn new(storage: Arc<dyn Storage>, seal: Seal) -> Self {
        Self { storage, seal }
    }

    /// The storage underneath (for its locks).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The seal, for callers that store sealed blobs elsewhere (lease internal data).
    pub fn seal(&self) -> &Seal {
        &self.seal
    }

    /// Unsealed value at `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        match self.storage.kv_get(key).await? {
            None => Ok(None),
            Some(sealed) => self
                .seal
                .open(&sealed)
                .map(Some)
                .map_err(|e| StorageError(format!("{key}: {e}"))),
        }
    }

    /// Seal and write `value` at `key`.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let sealed = self
            .seal
            .seal(value)
            .map_err(|e| StorageError(e.to_string()))?;
        self.storage.kv_put(key, sealed).await
    }

    /// Delete `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.storage.kv_delete(key).await
    }

    /// Children of `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.storage.kv_list(prefix).await
    }

    /// Delete everything under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        self.storage.kv_delete_prefix(prefix).await
    }

    /// A JSON value.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StorageError(format!("{key}: {e}"))),
        }
    }

    /// Store a JSON value.
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes =
            Zeroizing::new(serde_json::to_vec(value).map_err(|e| StorageError(e.to_string()))?);
        self.put(key, &bytes).await
    }
}

/// One mount's view: keys are prefixed with `logical/<mount uuid>/`.
#[derive(Clone)]
pub struct MountView {
    kv: SealedKv,
    prefix: String,
}

impl MountView {
    /// The view of the mount with `uuid`.
    pub fn new(kv: SealedKv, uuid: &str) -> Self {
        Self {
            kv,
            prefix: Self::prefix_for(uuid),
        }
    }

    /// The storage prefix of a mount, for deleting it whole.
    pub fn prefix_for(uuid: &str) -> String {
        format!("logical/{uuid}/")
    }
}

fn view_err(e: StorageError) -> ViewError {
    ViewError(e.0)
}

#[async_trait]
impl MountStorage for MountView {
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, ViewError> {
        self.kv
            .get(&format!("{}{key}", self.prefix))
            .await
            .map_err(view_err)
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), ViewError> {
        self.kv
            .put(&format!("{}{key}", self.prefix), value)
            .await
            .map_err(view_err)
    }
    async fn delete(&self, key: &str) -> Result<(), ViewError> {
        self.kv
            .delete(&format!("{}{key}", self.prefix))
            .await
            .map_err(view_err)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, ViewError> {
        self.kv
            .list(&format!("{}{prefix}", self.prefix))
            .await
            .map_err(view_err)
    }

    async fn lock(&self, name: &str) -> Result<leasehold_backend::storage::MountLock, ViewError> {
        let held =
            super::lock::HeldLock::acquire(self.kv.storage(), &format!("{}{name}", self.prefix))
                .await
                .map_err(view_err)?;
        Ok(leasehold_backend::storage::MountLock(Some(Box::new(held))))
    }
}
