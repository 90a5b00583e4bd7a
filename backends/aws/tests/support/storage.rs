//! An in-memory [`MountStorage`], standing in for the core's sealed storage.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use leasehold_backend::{MountStorage, StorageError};
use zeroize::Zeroizing;

/// Keys to bytes, behind a mutex; `list` answers one level, sub-folders ending in `/`.
#[derive(Default)]
pub struct MemoryStorage {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    /// Every stored value as text, to look for secrets that must not be there.
    pub fn dump(&self) -> String {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(v)))
            .collect()
    }
}

#[async_trait]
impl MountStorage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Ok(entries.get(key).cloned().map(Zeroizing::new))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn compare_and_put(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Ok(leasehold_backend::storage::compare_and_put_in(
            &mut entries,
            key,
            expected,
            value,
        ))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = entries
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
