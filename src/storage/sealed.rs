//! Key/value access with every value sealed: the system's own entries (mount table, tokens) and
//! each mount's view ([`MountView`], what a backend sees as its `MountStorage`).
//!
//! Every value is bound to its full storage key ([`Aad::kv`]; a mount view's keys include the
//! mount's `logical/<uuid>/` prefix), so an entry copied onto another key does not open there.

use std::sync::Arc;

use async_trait::async_trait;
use leasehold_backend::storage::{MountStorage, StorageError as ViewError};
use serde::{de::DeserializeOwned, Serialize};
use zeroize::Zeroizing;

use super::keyring;
use super::kv_cache::KvCache;
use super::seal::{Aad, Seal};
use super::{Storage, StorageError};

/// How many times in a row [`SealedKv::update_json`] may lose a race before it gives up (a
/// value rewritten that often is being fought over, and the caller should hear about it).
const MAX_LOST_RACES: usize = 64;

/// Sealed key/value operations over a [`Storage`]. Clones share one [`KvCache`] of mount data;
/// a server makes one `SealedKv` for its storage, so every write it makes forgets what that
/// cache kept.
#[derive(Clone)]
pub struct SealedKv {
    storage: Arc<dyn Storage>,
    seal: Seal,
    cache: Arc<KvCache>,
}

impl SealedKv {
    /// Wrap `storage`, sealing with `seal`.
    pub fn new(storage: Arc<dyn Storage>, seal: Seal) -> Self {
        Self {
            storage,
            seal,
            cache: Arc::default(),
        }
    }

    /// The cache of mount data read through this handle, for the change feed to update.
    pub fn cache(&self) -> &KvCache {
        &self.cache
    }

    /// The storage underneath (for its locks).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The seal, for callers that store sealed blobs elsewhere (lease internal data).
    pub fn seal(&self) -> &Seal {
        &self.seal
    }

    /// Unsealed value at `key` (mount data from the cache when kept there; see [`KvCache`]).
    pub async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        let kept = KvCache::keeps(key);
        if kept {
            match self.cache.get(key) {
                Some(None) => return Ok(None),
                Some(Some(sealed)) => match self.open(key, &sealed).await {
                    Ok(plain) => return Ok(Some(plain)),
                    // Sealed under a key the keyring no longer holds: storage has it rewritten.
                    Err(_) => self.cache.forget(key),
                },
                None => {}
            }
        }
        let ticket = kept.then(|| self.cache.ticket()).flatten();
        let sealed = self.storage.kv_get(key).await?;
        let plain = match &sealed {
            None => None,
            Some(sealed) => Some(self.open(key, sealed).await?),
        };
        if let Some(ticket) = ticket {
            self.cache.fill(ticket, key, sealed.map(Arc::from));
        }
        Ok(plain)
    }

    /// Open the sealed value read at `key` (reloading the keyring once if another node rotated).
    async fn open(&self, key: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StorageError> {
        keyring::open_fresh(&self.seal, &self.storage, sealed, &Aad::kv(key))
            .await
            .map_err(|e| StorageError(format!("{key}: {e}")))
    }

    fn seal_for(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, StorageError> {
        self.seal
            .seal(value, &Aad::kv(key))
            .map_err(|e| StorageError(e.to_string()))
    }

    /// Seal and write `value` at `key`.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let sealed = self.seal_for(key, value)?;
        let written = self.storage.kv_put(key, sealed).await;
        self.cache.forget(key);
        written
    }

    /// Replace the value at `key` with `value` (sealed afresh) only if its unsealed value is
    /// still exactly `expected`; false when it differs or is gone. Atomic across processes: the
    /// storage compares the *sealed* bytes that were read, so a writer that slipped in between
    /// the read and the write (whose value has a fresh nonce, even if its plaintext were equal)
    /// makes the put fail rather than be overwritten.
    pub async fn compare_and_put(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError> {
        let Some(sealed) = self.storage.kv_get(key).await? else {
            return Ok(false);
        };
        let plain = self.open(key, &sealed).await?;
        if plain.as_slice() != expected {
            return Ok(false);
        }
        let resealed = self.seal_for(key, value)?;
        let swapped = self.storage.kv_compare_and_put(key, sealed, resealed).await;
        self.cache.forget(key);
        swapped
    }

    /// Delete `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let deleted = self.storage.kv_delete(key).await;
        self.cache.forget(key);
        deleted
    }

    /// Children of `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.storage.kv_list(prefix).await
    }

    /// Delete everything under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let deleted = self.storage.kv_delete_prefix(prefix).await;
        self.cache.forget_prefix(prefix);
        deleted
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

    /// Read, change and write back the JSON value at `key` with no other writer in between, on
    /// this node or another: `change` sees the current value and says whether to write it. On
    /// a lost race the value is read again and `change` runs again. `None` when there is no
    /// value. Every seal has a fresh nonce, so comparing sealed bytes compares versions.
    pub async fn update_json<T, F>(
        &self,
        key: &str,
        mut change: F,
    ) -> Result<Option<T>, StorageError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T) -> bool,
    {
        for _ in 0..MAX_LOST_RACES {
            let Some(sealed) = self.storage.kv_get(key).await? else {
                return Ok(None);
            };
            let plain = self.open(key, &sealed).await?;
            let mut value: T =
                serde_json::from_slice(&plain).map_err(|e| StorageError(format!("{key}: {e}")))?;
            if !change(&mut value) {
                return Ok(Some(value));
            }
            let bytes = Zeroizing::new(
                serde_json::to_vec(&value).map_err(|e| StorageError(e.to_string()))?,
            );
            let resealed = self.seal_for(key, &bytes)?;
            let swapped = self.storage.kv_compare_and_put(key, sealed, resealed).await;
            self.cache.forget(key);
            if swapped? {
                return Ok(Some(value));
            }
        }
        Err(StorageError(format!(
            "{key}: changed by other writers {MAX_LOST_RACES} times in a row"
        )))
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
    async fn compare_and_put(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
    ) -> Result<bool, ViewError> {
        self.kv
            .compare_and_put(&format!("{}{key}", self.prefix), expected, value)
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
        // A lock orders read-modify-writes across nodes: what the holder reads must be what the
        // last holder wrote, not what this node kept before the feed brought that write.
        self.kv.cache.forget_prefix(&self.prefix);
        Ok(leasehold_backend::storage::MountLock(Some(Box::new(held))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    /// Two views of one mount over one storage, as two servers would have.
    fn two_views() -> (MountView, MountView) {
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(":memory:".as_ref()).unwrap());
        let kv = SealedKv::new(storage, Seal::generate());
        (MountView::new(kv.clone(), "m1"), MountView::new(kv, "m1"))
    }

    #[tokio::test]
    async fn compare_and_put_replaces_only_the_value_that_was_read() {
        let (a, b) = two_views();
        assert!(
            !a.compare_and_put("k", b"v1", b"v2").await.unwrap(),
            "absent key"
        );
        a.put("k", b"v1").await.unwrap();
        assert!(!a.compare_and_put("k", b"other", b"v2").await.unwrap());
        assert_eq!(b.get("k").await.unwrap().unwrap().as_slice(), b"v1");
        // Both read v1; the first to write wins, the second sees that it lost.
        assert!(a.compare_and_put("k", b"v1", b"v2").await.unwrap());
        assert!(!b.compare_and_put("k", b"v1", b"v3").await.unwrap());
        assert_eq!(b.get("k").await.unwrap().unwrap().as_slice(), b"v2");
        b.delete("k").await.unwrap();
        assert!(
            !a.compare_and_put("k", b"v2", b"v4").await.unwrap(),
            "deleted key"
        );
        assert!(a.get("k").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_value_moved_to_another_mount_or_key_does_not_open() {
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(":memory:".as_ref()).unwrap());
        let kv = SealedKv::new(storage.clone(), Seal::generate());
        let (a, b) = (MountView::new(kv.clone(), "m1"), MountView::new(kv, "m2"));
        a.put("config/pg", b"root password").await.unwrap();
        b.put("config/pg", b"other").await.unwrap();
        let moved = storage
            .kv_get("logical/m1/config/pg")
            .await
            .unwrap()
            .unwrap();
        // The same key in another mount: the binding includes the mount's prefix.
        storage
            .kv_put("logical/m2/config/pg", moved.clone())
            .await
            .unwrap();
        assert!(b.get("config/pg").await.is_err());
        storage.kv_put("logical/m1/config/x", moved).await.unwrap();
        assert!(a.get("config/x").await.is_err());
        assert_eq!(
            a.get("config/pg").await.unwrap().unwrap().as_slice(),
            b"root password"
        );
    }

    /// A handle on a new storage, a view of mount `m1` through it ("here"), and another
    /// server's view of the same mount ("there": its own handle, so its own cache).
    fn two_nodes() -> (SealedKv, MountView, MountView) {
        let kv = SealedKv::new(memory_storage(), Seal::generate());
        let there = MountView::new(SealedKv::new(kv.storage().clone(), kv.seal().clone()), "m1");
        (kv.clone(), MountView::new(kv, "m1"), there)
    }

    fn memory_storage() -> Arc<dyn Storage> {
        Arc::new(SqliteStorage::open(":memory:".as_ref()).unwrap())
    }

    #[tokio::test]
    async fn mount_data_is_kept_after_a_read_until_a_write_here_or_the_feed_forgets_it() {
        let (kv, here, there) = two_nodes();
        here.put("roles/ro", b"v1").await.unwrap();
        assert_eq!(
            here.get("roles/ro").await.unwrap().unwrap().as_slice(),
            b"v1"
        );
        assert!(here.get("roles/none").await.unwrap().is_none());
        assert_eq!(kv.cache().len(), 2, "a value and an absence kept");

        // Written by another node: served from memory here until the feed says so.
        there.put("roles/ro", b"v2").await.unwrap();
        there.put("roles/none", b"new").await.unwrap();
        assert_eq!(
            here.get("roles/ro").await.unwrap().unwrap().as_slice(),
            b"v1"
        );
        assert!(here.get("roles/none").await.unwrap().is_none());
        kv.cache().follow("logical/m1/roles/ro");
        kv.cache().follow("logical/m1/roles/none");
        assert_eq!(
            here.get("roles/ro").await.unwrap().unwrap().as_slice(),
            b"v2"
        );
        assert_eq!(
            here.get("roles/none").await.unwrap().unwrap().as_slice(),
            b"new"
        );

        // Every kind of write here forgets at once, through any clone of the handle.
        let clone = MountView::new(kv.clone(), "m1");
        clone.put("roles/ro", b"v3").await.unwrap();
        assert_eq!(
            here.get("roles/ro").await.unwrap().unwrap().as_slice(),
            b"v3"
        );
        assert!(clone
            .compare_and_put("roles/ro", b"v3", b"v4")
            .await
            .unwrap());
        assert_eq!(
            here.get("roles/ro").await.unwrap().unwrap().as_slice(),
            b"v4"
        );
        clone.delete("roles/ro").await.unwrap();
        assert!(here.get("roles/ro").await.unwrap().is_none());
        here.put("roles/a", b"a").await.unwrap();
        assert!(here.get("roles/a").await.unwrap().is_some());
        kv.delete_prefix("logical/m1/").await.unwrap();
        assert!(here.get("roles/a").await.unwrap().is_none());
        assert!(here.get("roles/none").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn compare_and_put_compares_with_storage_not_with_what_was_kept() {
        let (kv, here, there) = two_nodes();
        here.put("k", b"v1").await.unwrap();
        assert_eq!(here.get("k").await.unwrap().unwrap().as_slice(), b"v1");
        there.put("k", b"v2").await.unwrap();
        // The kept v1 is stale: a swap expecting it must fail, one expecting v2 must succeed.
        assert!(!here.compare_and_put("k", b"v1", b"x").await.unwrap());
        assert!(here.compare_and_put("k", b"v2", b"v3").await.unwrap());
        assert_eq!(there.get("k").await.unwrap().unwrap().as_slice(), b"v3");
        // update_json reads storage too, so it does not loop on a stale kept value.
        there.put("n", b"1").await.unwrap();
        assert_eq!(here.get("n").await.unwrap().unwrap().as_slice(), b"1");
        there.put("n", b"5").await.unwrap();
        let updated: Option<u32> = kv
            .update_json("logical/m1/n", |n: &mut u32| {
                *n += 1;
                true
            })
            .await
            .unwrap();
        assert_eq!(updated, Some(6));
        assert_eq!(here.get("n").await.unwrap().unwrap().as_slice(), b"6");
    }

    #[tokio::test]
    async fn while_the_feed_is_down_every_read_goes_to_storage() {
        let (kv, here, there) = two_nodes();
        here.put("k", b"v1").await.unwrap();
        here.get("k").await.unwrap();
        kv.cache().suspend();
        there.put("k", b"v2").await.unwrap();
        assert_eq!(here.get("k").await.unwrap().unwrap().as_slice(), b"v2");
        assert!(kv.cache().is_empty());
        kv.cache().resume();
        assert_eq!(here.get("k").await.unwrap().unwrap().as_slice(), b"v2");
        assert_eq!(kv.cache().len(), 1);
    }

    #[tokio::test]
    async fn system_keys_are_never_kept() {
        let kv = SealedKv::new(memory_storage(), Seal::generate());
        kv.put("core/mounts", b"[]").await.unwrap();
        kv.get("core/mounts").await.unwrap();
        kv.get("token/id/h").await.unwrap();
        assert!(kv.cache().is_empty());
    }

    #[tokio::test]
    async fn under_a_mount_lock_reads_go_to_storage() {
        let (_, here, there) = two_nodes();
        // Here: the marker is absent (kept so). There: made under the lock and written.
        assert!(here.get("marker").await.unwrap().is_none());
        {
            let _held = there.lock("marker").await.unwrap();
            there.put("marker", b"abc").await.unwrap();
        }
        // Here, before the feed tells: the kept absence outside the lock, storage under it.
        assert!(here.get("marker").await.unwrap().is_none());
        let _held = here.lock("marker").await.unwrap();
        assert_eq!(
            here.get("marker").await.unwrap().unwrap().as_slice(),
            b"abc"
        );
    }
}
