//! [`MemoryStorage`]: a mount storage in a map, standing in for the core's sealed storage in
//! engines' tests and harnesses. Listing is one level deep, as Vault's.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::storage::{compare_and_put_in, MountStorage, StorageError};

/// Keys to bytes, behind a mutex; `list` answers one level, sub-folders ending in `/`.
#[derive(Default)]
pub struct MemoryStorage {
    /// Everything stored.
    pub data: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Writes to keys starting with one of these fail (a crash before the write, as far as
    /// storage can tell).
    pub fail_puts: Mutex<Vec<String>>,
}

impl MemoryStorage {
    fn map(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored JSON under `key`, if any.
    pub fn json(&self, key: &str) -> Option<Value> {
        self.map()
            .get(key)
            .and_then(|v| serde_json::from_slice(v).ok())
    }

    /// Write `value` under `key` behind the engine's back (what a crash leaves, say).
    pub fn put_json(&self, key: &str, value: &Value) {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.map().insert(key.to_owned(), bytes);
    }

    /// True if something is stored under `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.map().contains_key(key)
    }

    /// Every stored value as text, to look for secrets that must not be there.
    pub fn dump(&self) -> String {
        self.map()
            .iter()
            .map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(v)))
            .collect()
    }
}

#[async_trait]
impl MountStorage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        Ok(self.map().get(key).cloned().map(Zeroizing::new))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let failing = self
            .fail_puts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if failing.iter().any(|p| key.starts_with(p.as_str())) {
            return Err(StorageError(format!("disk gone while writing {key}")));
        }
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn compare_and_put(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError> {
        Ok(compare_and_put_in(&mut self.map(), key, expected, value))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.map().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .map()
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(|rest| match rest.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rest.to_owned(),
            })
            .collect();
        names.dedup();
        Ok(names)
    }
}
