//! [`KvStore`]: the key/value space that holds configuration (mounts, policies, tokens' hashes,
//! backend configs, the keyring). Values arrive sealed where they are secret; this layer stores
//! bytes.

use async_trait::async_trait;

use super::StorageError;

/// The key/value space. Every method is one atomic step.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// Value at `key`.
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Write `key`.
    async fn kv_put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError>;
    /// Replace the value at `key` with `value` only if it is still exactly `expected`: false
    /// when another writer changed or deleted it first (the caller reads again and retries).
    async fn kv_compare_and_put(
        &self,
        key: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError>;
    /// Delete `key` (absent is fine).
    async fn kv_delete(&self, key: &str) -> Result<(), StorageError>;
    /// Direct children of `prefix`; deeper keys appear once as `child/`.
    async fn kv_list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Delete every key under `prefix`.
    async fn kv_delete_prefix(&self, prefix: &str) -> Result<(), StorageError>;
    /// Up to `limit` entries whose key sorts (bytewise) after `after`, in that order, values
    /// included: for the keyring's migration and rewrite, which walk everything in batches.
    async fn kv_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
}
