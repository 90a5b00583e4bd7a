//! The token store's memory of entries it read, so that using a token does not read storage on
//! every request.
//!
//! What keeps it right:
//! - **Every write forgets first-hand.** The store forgets an entry after each write that
//!   changes or deletes it ([`super::TokenStore`]'s `delete`, `modify`, `take_use`), so a token
//!   revoked here stops working here as soon as the revocation has written.
//! - **Other nodes' writes arrive through the change feed** ([`TokenCache::follow`], called by
//!   `core::follow`), within the feed's delay. A gap in the feed clears everything
//!   ([`TokenCache::clear`]); while the feed is down the cache serves and keeps nothing
//!   ([`TokenCache::suspend`] until [`TokenCache::resume`]).
//! - **A read never fills with what a write replaced** ([`crate::storage::freshness`]): a fill
//!   whose storage read started before a forget is dropped.
//! - **Only what is safe to reuse is kept**: use-limited tokens never are (each use must be taken
//!   in storage; the entry is read there too), and expiry is checked on every use from the
//!   entry's own `expire_time` by the caller, as for an entry read from storage.
//! - **Bounded**: past [`CAPACITY`] entries, an arbitrary one is dropped for each new one.
//!
//! Entries are keyed by the token's keyed hash (what storage keys them by), never by the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::auth::token::TokenEntry;
use crate::storage::freshness::{Freshness, Ticket};

/// The most entries kept (≈ 0.5 KB each).
pub const CAPACITY: usize = 20_000;

const ID_PREFIX: &str = "token/id/";
const ACCESSOR_PREFIX: &str = "token/accessor/";

/// Token entries by hash, and hashes by accessor.
#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Arc<TokenEntry>>,
    accessors: HashMap<String, String>,
    fresh: Freshness,
}

impl Inner {
    fn forget_hash(&mut self, hash: &str) {
        if let Some(e) = self.entries.remove(hash) {
            if self.accessors.get(&e.accessor).is_some_and(|h| h == hash) {
                self.accessors.remove(&e.accessor);
            }
        }
    }

    fn forget_accessor(&mut self, accessor: &str) {
        if let Some(hash) = self.accessors.remove(accessor) {
            self.entries.remove(&hash);
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.accessors.clear();
    }
}

impl TokenCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent: a panic elsewhere cannot
        // poison them half-written.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry stored under `hash`, if kept.
    pub fn get(&self, hash: &str) -> Option<TokenEntry> {
        let inner = self.lock();
        inner.entries.get(hash).map(|e| TokenEntry::clone(e))
    }

    /// The hash of the token `accessor` names, if kept.
    pub fn hash_of(&self, accessor: &str) -> Option<String> {
        self.lock().accessors.get(accessor).cloned()
    }

    /// Taken before a storage read whose result may fill the cache; `None` while suspended.
    pub fn ticket(&self) -> Option<Ticket> {
        self.lock().fresh.ticket()
    }

    /// Keep `entry`, read from storage under `hash` after `ticket` was taken, unless something
    /// was forgotten since (the read may predate that write) or it is use-limited.
    pub fn fill(&self, ticket: Ticket, hash: &str, entry: &TokenEntry) {
        if entry.num_uses > 0 || entry.uses_exhausted {
            return;
        }
        let mut inner = self.lock();
        if !inner.fresh.admits(ticket) {
            return;
        }
        if !inner.entries.contains_key(hash) && inner.entries.len() >= CAPACITY {
            if let Some(victim) = inner.entries.keys().next().cloned() {
                inner.forget_hash(&victim);
            }
        }
        // An accessor names one hash; a stale pairing from before cannot survive this one.
        if let Some(old) = inner
            .accessors
            .insert(entry.accessor.clone(), hash.to_owned())
        {
            if old != hash {
                inner.entries.remove(&old);
            }
        }
        inner
            .entries
            .insert(hash.to_owned(), Arc::new(entry.clone()));
    }

    /// Forget the entry stored under `hash` (after this node wrote or deleted it).
    pub fn forget_hash(&self, hash: &str) {
        let mut inner = self.lock();
        inner.fresh.forget();
        inner.forget_hash(hash);
    }

    /// Forget the entry of the token `accessor` names (after this node wrote or deleted it).
    pub fn forget_accessor(&self, accessor: &str) {
        let mut inner = self.lock();
        inner.fresh.forget();
        inner.forget_accessor(accessor);
    }

    /// Another node wrote or deleted the storage key `key`: forget what was read from it. A key
    /// that covers the token keys (a prefix delete) forgets everything; keys the cache never
    /// reads (children, roles, wrapped responses) change nothing.
    pub fn follow(&self, key: &str) {
        let single = |prefix: &str| {
            key.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty() && !rest.contains('/'))
        };
        if let Some(hash) = single(ID_PREFIX) {
            self.forget_hash(hash);
        } else if let Some(accessor) = single(ACCESSOR_PREFIX) {
            self.forget_accessor(accessor);
        } else if key.starts_with(ID_PREFIX)
            || key.starts_with(ACCESSOR_PREFIX)
            || ID_PREFIX.starts_with(key)
            || ACCESSOR_PREFIX.starts_with(key)
        {
            self.clear();
        }
    }

    /// Forget everything (changes may have been missed).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.fresh.forget();
        inner.clear();
    }

    /// The change feed stopped: changes are being missed until it is back, so keep nothing and
    /// serve nothing until [`TokenCache::resume`].
    pub fn suspend(&self) {
        let mut inner = self.lock();
        inner.fresh.suspend();
        inner.clear();
    }

    /// The change feed is back (and whatever was missed is forgotten): fill again.
    pub fn resume(&self) {
        let mut inner = self.lock();
        inner.fresh.resume();
        inner.clear();
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(accessor: &str) -> TokenEntry {
        TokenEntry {
            accessor: accessor.into(),
            policies: vec!["default".into()],
            ..TokenEntry::default()
        }
    }

    #[test]
    fn a_read_that_started_before_a_forget_does_not_fill() {
        let c = TokenCache::default();
        let ticket = c.ticket().unwrap();
        c.forget_hash("h1");
        c.fill(ticket, "h1", &entry("a1"));
        assert!(c.get("h1").is_none());
        let ticket = c.ticket().unwrap();
        c.fill(ticket, "h1", &entry("a1"));
        assert_eq!(c.get("h1").unwrap().accessor, "a1");
        assert_eq!(c.hash_of("a1").as_deref(), Some("h1"));
    }

    #[test]
    fn use_limited_tokens_are_never_kept() {
        let c = TokenCache::default();
        let mut e = entry("a1");
        e.num_uses = 3;
        c.fill(c.ticket().unwrap(), "h1", &e);
        e.num_uses = 0;
        e.uses_exhausted = true;
        c.fill(c.ticket().unwrap(), "h1", &e);
        assert!(c.is_empty());
    }

    #[test]
    fn the_feed_forgets_by_hash_by_accessor_and_by_prefix() {
        let c = TokenCache::default();
        for i in 0..3 {
            c.fill(
                c.ticket().unwrap(),
                &format!("h{i}"),
                &entry(&format!("a{i}")),
            );
        }
        c.follow("token/id/h0");
        assert!(c.get("h0").is_none() && c.hash_of("a0").is_none());
        c.follow("token/accessor/a1");
        assert!(c.get("h1").is_none() && c.hash_of("a1").is_none());
        // Keys the cache does not read leave it alone.
        c.follow("token/children/a2/x");
        c.follow("token/role/ci");
        c.follow("policy/acl/ops");
        assert!(c.get("h2").is_some());
        // A prefix delete above the token keys forgets everything.
        c.follow("token/");
        assert!(c.is_empty());
        c.fill(c.ticket().unwrap(), "h2", &entry("a2"));
        c.follow("token/id/");
        assert!(c.is_empty());
    }

    #[test]
    fn suspended_it_keeps_and_serves_nothing_until_resumed() {
        let c = TokenCache::default();
        c.fill(c.ticket().unwrap(), "h1", &entry("a1"));
        let before = c.ticket().unwrap();
        c.suspend();
        assert!(c.get("h1").is_none());
        assert!(c.ticket().is_none());
        c.fill(before, "h1", &entry("a1"));
        assert!(c.is_empty());
        c.resume();
        // A read that started before the feed came back may have missed a change.
        c.fill(before, "h1", &entry("a1"));
        assert!(c.is_empty());
        c.fill(c.ticket().unwrap(), "h1", &entry("a1"));
        assert!(c.get("h1").is_some());
    }

    #[test]
    fn it_stays_within_its_capacity() {
        let c = TokenCache::default();
        for i in 0..CAPACITY + 10 {
            c.fill(
                c.ticket().unwrap(),
                &format!("h{i}"),
                &entry(&format!("a{i}")),
            );
        }
        assert_eq!(c.len(), CAPACITY);
        assert_eq!(c.lock().accessors.len(), CAPACITY);
    }

    #[test]
    fn an_accessor_names_one_hash() {
        let c = TokenCache::default();
        c.fill(c.ticket().unwrap(), "h1", &entry("a1"));
        c.fill(c.ticket().unwrap(), "h2", &entry("a1"));
        assert!(c.get("h1").is_none());
        assert_eq!(c.hash_of("a1").as_deref(), Some("h2"));
    }
}
