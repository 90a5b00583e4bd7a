//! [`KvCache`]: the sealed values of mount data (`logical/<uuid>/...`: roles, connections, a
//! mount's marker) this server read, so that issuing a credential does not go to storage for
//! each of the three or four entries a backend reads on the way.
//!
//! It keeps what storage holds — the **sealed** bytes, or that a key is absent — and never a
//! plaintext: every read still opens the value under its key, as a read from storage would.
//!
//! What keeps it right (the rules of the token cache, `auth::token_store::cache`):
//! - **Every write forgets first-hand.** [`super::sealed::SealedKv`] forgets a key once a put,
//!   compare-and-put or delete of it has returned, and a whole prefix after a prefix delete.
//!   Compare-and-put reads storage, never the cache, so it compares against what is stored.
//! - **Other nodes' writes arrive through the change feed** ([`KvCache::follow`], called first
//!   by `core::follow`, before backends reload what they built from a key). A gap in the feed
//!   clears everything; while the feed is down nothing is kept or served
//!   ([`KvCache::suspend`] until [`KvCache::resume`]).
//! - **A read never fills with what a write replaced** ([`super::freshness`]).
//! - **Bounded**: past [`CAPACITY`] keys, an arbitrary one is dropped for each new one.
//! - A cached value that no longer opens (a keyring rewrite moved it to a newer key) is
//!   forgotten and read again from storage by the caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::freshness::{Freshness, Ticket};

/// The most keys kept. Mount entries are small (a role or a connection: well under 2 KB sealed).
pub const CAPACITY: usize = 20_000;

/// The keys kept: mount data only. The system's own keys (mount tables, policies, tokens) have
/// caches of their own that know their meaning.
const CACHED_PREFIX: &str = "logical/";

/// A kept read: the sealed value, or `None` for a key storage did not have.
pub type Kept = Option<Arc<[u8]>>;

/// Sealed values by storage key.
#[derive(Default)]
pub struct KvCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    values: HashMap<String, Kept>,
    fresh: Freshness,
}

impl KvCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each critical section leaves the map whole: a panic elsewhere cannot poison it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether reads of `key` go through the cache.
    pub fn keeps(key: &str) -> bool {
        key.starts_with(CACHED_PREFIX)
    }

    /// What was read at `key`, if kept: `Some(None)` when the key was absent.
    pub fn get(&self, key: &str) -> Option<Kept> {
        self.lock().values.get(key).cloned()
    }

    /// Taken before a storage read whose result may fill the cache; `None` while suspended.
    pub fn ticket(&self) -> Option<Ticket> {
        self.lock().fresh.ticket()
    }

    /// Keep `value`, read from storage at `key` after `ticket` was taken, unless anything was
    /// forgotten since (the read may predate that write).
    pub fn fill(&self, ticket: Ticket, key: &str, value: Kept) {
        let mut inner = self.lock();
        if !inner.fresh.admits(ticket) {
            return;
        }
        if !inner.values.contains_key(key) && inner.values.len() >= CAPACITY {
            if let Some(victim) = inner.values.keys().next().cloned() {
                inner.values.remove(&victim);
            }
        }
        inner.values.insert(key.to_owned(), value);
    }

    /// Forget `key` (written or deleted here, or its kept value no longer opens).
    pub fn forget(&self, key: &str) {
        let mut inner = self.lock();
        inner.fresh.forget();
        inner.values.remove(key);
    }

    /// Forget every key under `prefix` (a prefix delete here).
    pub fn forget_prefix(&self, prefix: &str) {
        let mut inner = self.lock();
        inner.fresh.forget();
        inner.values.retain(|k, _| !k.starts_with(prefix));
    }

    /// Another node wrote or deleted `key` (for a prefix delete: the prefix itself, or each key).
    pub fn follow(&self, key: &str) {
        if key.is_empty() || CACHED_PREFIX.starts_with(key) {
            self.clear();
        } else if Self::keeps(key) && key.ends_with('/') {
            self.forget_prefix(key);
        } else if Self::keeps(key) {
            self.forget(key);
        }
    }

    /// Forget everything (changes may have been missed).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.fresh.forget();
        inner.values.clear();
    }

    /// The change feed stopped: keep and serve nothing until [`KvCache::resume`].
    pub fn suspend(&self) {
        let mut inner = self.lock();
        inner.fresh.suspend();
        inner.values.clear();
    }

    /// The change feed is back (whatever was missed is forgotten): fill again.
    pub fn resume(&self) {
        let mut inner = self.lock();
        inner.fresh.resume();
        inner.values.clear();
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.lock().values.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(bytes: &[u8]) -> Kept {
        Some(Arc::from(bytes))
    }

    #[test]
    fn only_mount_data_is_kept() {
        assert!(KvCache::keeps("logical/u1/roles/ro"));
        assert!(!KvCache::keeps("token/id/h"));
        assert!(!KvCache::keeps("core/mounts"));
        assert!(!KvCache::keeps("policy/acl/ops"));
    }

    #[test]
    fn a_read_that_started_before_a_forget_does_not_fill() {
        let c = KvCache::default();
        let ticket = c.ticket().unwrap();
        c.forget("logical/u1/roles/ro");
        c.fill(ticket, "logical/u1/roles/ro", sealed(b"old"));
        assert!(c.get("logical/u1/roles/ro").is_none());
        c.fill(c.ticket().unwrap(), "logical/u1/roles/ro", sealed(b"new"));
        assert_eq!(c.get("logical/u1/roles/ro"), Some(sealed(b"new")));
    }

    #[test]
    fn absence_is_kept_and_forgotten_like_a_value() {
        let c = KvCache::default();
        c.fill(c.ticket().unwrap(), "logical/u1/static-role/x", None);
        assert_eq!(c.get("logical/u1/static-role/x"), Some(None));
        c.forget("logical/u1/static-role/x");
        assert_eq!(c.get("logical/u1/static-role/x"), None);
    }

    #[test]
    fn the_feed_forgets_a_key_a_prefix_or_everything() {
        let c = KvCache::default();
        for key in [
            "logical/u1/roles/a",
            "logical/u1/roles/b",
            "logical/u2/config/pg",
        ] {
            c.fill(c.ticket().unwrap(), key, sealed(b"v"));
        }
        c.follow("logical/u1/roles/a");
        assert!(c.get("logical/u1/roles/a").is_none());
        assert!(c.get("logical/u1/roles/b").is_some());
        // Keys outside mount data change nothing.
        c.follow("token/id/h");
        c.follow("core/mounts");
        assert_eq!(c.len(), 2);
        // A mount's prefix (its data deleted whole on another node) forgets that mount.
        c.follow("logical/u1/");
        assert!(c.get("logical/u1/roles/b").is_none());
        assert!(c.get("logical/u2/config/pg").is_some());
        // A prefix above every mount forgets everything.
        c.follow("logical/");
        assert!(c.is_empty());
        c.fill(c.ticket().unwrap(), "logical/u2/config/pg", sealed(b"v"));
        c.follow("");
        assert!(c.is_empty());
    }

    #[test]
    fn a_prefix_delete_here_forgets_only_under_it() {
        let c = KvCache::default();
        c.fill(c.ticket().unwrap(), "logical/u1/a", sealed(b"1"));
        c.fill(c.ticket().unwrap(), "logical/u10/a", sealed(b"2"));
        c.forget_prefix("logical/u1/");
        assert!(c.get("logical/u1/a").is_none());
        assert!(c.get("logical/u10/a").is_some());
    }

    #[test]
    fn suspended_it_keeps_and_serves_nothing_until_resumed() {
        let c = KvCache::default();
        c.fill(c.ticket().unwrap(), "logical/u1/a", sealed(b"1"));
        let before = c.ticket().unwrap();
        c.suspend();
        assert!(c.is_empty());
        assert!(c.ticket().is_none());
        c.fill(before, "logical/u1/a", sealed(b"1"));
        assert!(c.is_empty());
        c.resume();
        c.fill(before, "logical/u1/a", sealed(b"1"));
        assert!(c.is_empty(), "a read from before the gap must not fill");
        c.fill(c.ticket().unwrap(), "logical/u1/a", sealed(b"1"));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded() {
        let c = KvCache::default();
        for i in 0..CAPACITY + 10 {
            c.fill(c.ticket().unwrap(), &format!("logical/u/{i}"), None);
        }
        assert_eq!(c.len(), CAPACITY);
    }
}
