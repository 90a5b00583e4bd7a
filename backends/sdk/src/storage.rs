//! A key/value view of storage scoped to one mount, like Vault's `logical.Storage`. The core seals
//! every value with AES-256-GCM before it reaches disk, so a backend may store root credentials here.

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use zeroize::Zeroizing;

/// Storage failed (I/O, corruption, a value that cannot be unsealed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// Keys are `/`-separated paths local to the mount (`config/pg`, `role/readonly`).
#[async_trait]
pub trait MountStorage: Send + Sync {
    /// The value at `key`, unsealed, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError>;
    /// Write `value` at `key`, replacing what was there.
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Replace the value at `key` with `value` only if the value there is still exactly
    /// `expected` (as [`MountStorage::get`] returned it). False when another writer, on this
    /// server or another sharing the storage, changed or deleted it first: the caller reads
    /// again and decides anew. This is the one atomic read-modify-write a backend has; use it
    /// for anything counted down (use limits), never a `get` then a `put`.
    async fn compare_and_put(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError>;
    /// Remove `key`; absent keys are not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// The names directly under `prefix` (which ends in `/` or is empty); sub-folders end in `/`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// Take the lock `name` of this mount, shared by every server on the same storage; it is
    /// held until the guard is dropped. Waits a while for another holder, then fails. Reads
    /// made while holding it see every write the previous holder made, on any server (a server
    /// that keeps values in memory reads them from storage again). The default (a storage no
    /// other server shares) holds nothing.
    async fn lock(&self, _name: &str) -> Result<MountLock, StorageError> {
        Ok(MountLock(None))
    }
}

/// A held [`MountStorage::lock`]; dropping it releases the lock.
pub struct MountLock(pub Option<Box<dyn std::any::Any + Send + Sync>>);

/// Read a JSON value stored by [`put_json`].
pub async fn get_json<T: DeserializeOwned>(
    storage: &dyn MountStorage,
    key: &str,
) -> Result<Option<T>, StorageError> {
    match storage.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError(format!("stored entry {key} is not valid: {e}"))),
    }
}

/// Store `value` as JSON at `key`. The serialized bytes are zeroized after the write.
pub async fn put_json<T: Serialize>(
    storage: &dyn MountStorage,
    key: &str,
    value: &T,
) -> Result<(), StorageError> {
    let bytes = Zeroizing::new(
        serde_json::to_vec(value).map_err(|e| StorageError(format!("cannot encode {key}: {e}")))?,
    );
    storage.put(key, &bytes).await
}

/// [`MountStorage::compare_and_put`] on an in-memory map, for the storages tests and harnesses
/// keep (the caller holds the map's lock, which is what makes it atomic).
pub fn compare_and_put_in(
    map: &mut std::collections::BTreeMap<String, Vec<u8>>,
    key: &str,
    expected: &[u8],
    value: &[u8],
) -> bool {
    match map.get_mut(key) {
        Some(current) if current.as_slice() == expected => {
            *current = value.to_vec();
            true
        }
        _ => false,
    }
}
