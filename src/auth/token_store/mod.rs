//! The token store: a service of its own, held by the core, that keeps tokens and runs their
//! life — creation (`create.rs`), renewal (`renew.rs`), and revocation of a token with its
//! descendants and every lease obtained with them (`revoke.rs`, which also makes the store the
//! lease engine's [`crate::lease::TokenRevoker`] for token expiry rows).
//!
//! A token exists in plaintext once, when it is handed to its owner ([`PlainToken`]); storage
//! holds only its HMAC-SHA256 under a server key (sealed at rest), so a copy of the database
//! yields no usable token. Admin actions name tokens by accessor.
//!
//! Keys: `token/id/<hash>` → entry, `token/accessor/<accessor>` → hash,
//! `token/children/<parent accessor>/<child accessor>` → the hierarchy revocation walks.
//!
//! Entries read are kept in memory ([`cache`]): a token's use, and its ancestors' check, read
//! storage only on a miss. Each write here forgets what it changed; other nodes' writes are
//! forgotten through the change feed ([`TokenStore::follow`]).
//!
//! The store does not hold the lease engine: the engine holds the store (to revoke a token whose
//! expiry row came due), and the calls that touch leases take the engine as an argument, so the
//! two are built one after the other with no cycle between them.

pub mod cache;
mod create;
mod renew;
mod report;
mod revoke;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::token::{generate_accessor, generate_token, PlainToken, TokenEntry, MAX_TOKEN_DEPTH};
use crate::error::{Error, Result};
use crate::storage::sealed::SealedKv;

pub use create::{auth_block, TokenSpec};
pub use report::{RevokeReport, RevokedLease};

const KEY_PATH: &str = "core/token-hmac-key";

/// Tokens, stored as keyed hashes.
pub struct TokenStore {
    kv: SealedKv,
    key: Zeroizing<Vec<u8>>,
    cache: cache::TokenCache,
}

impl TokenStore {
    /// Open the store, creating its HMAC key on first use.
    pub async fn open(kv: SealedKv) -> Result<Self> {
        let key = match kv.get(KEY_PATH).await? {
            Some(k) => k,
            None => {
                let mut k = Zeroizing::new(vec![0u8; 32]);
                rand::rngs::OsRng.fill_bytes(&mut k);
                kv.put(KEY_PATH, &k).await?;
                k
            }
        };
        Ok(Self {
            kv,
            key,
            cache: cache::TokenCache::default(),
        })
    }

    fn hash(&self, token: &str) -> Result<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .map_err(|e| Error::Internal(format!("token key: {e}")))?;
        mac.update(token.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Store a new token with value `token`; refuses a value already in use.
    pub async fn insert(&self, token: &SecretString, entry: &TokenEntry) -> Result<()> {
        let hashed = self.hash(token.expose_secret())?;
        if self.kv.get(&format!("token/id/{hashed}")).await?.is_some() {
            return Err(Error::invalid(
                "cannot create a token with an id already in use",
            ));
        }
        self.kv
            .put_json(&format!("token/id/{hashed}"), entry)
            .await?;
        self.kv
            .put(
                &format!("token/accessor/{}", entry.accessor),
                hashed.as_bytes(),
            )
            .await?;
        if let Some(parent) = &entry.parent {
            self.kv
                .put(&format!("token/children/{parent}/{}", entry.accessor), b"")
                .await?;
        }
        Ok(())
    }

    /// Create a root token, with `id` as its value when given (dev mode's `-dev-root-token-id`).
    pub async fn create_root(
        &self,
        id: Option<SecretString>,
        now: DateTime<Utc>,
    ) -> Result<PlainToken> {
        let token = id.unwrap_or_else(generate_token);
        let entry = TokenEntry {
            accessor: generate_accessor(),
            policies: vec!["root".into()],
            display_name: "root".into(),
            path: "auth/token/root".into(),
            creation_time: now,
            orphan: true,
            ..TokenEntry::default()
        };
        self.insert(&token, &entry).await?;
        Ok(PlainToken(token))
    }

    /// The live entry for a token, or `None`: unknown, expired, or below an ancestor that has
    /// been revoked or has expired (see [`TokenStore::ancestors_live`]).
    pub async fn lookup(&self, token: &str, now: DateTime<Utc>) -> Result<Option<TokenEntry>> {
        if token.is_empty() {
            return Ok(None);
        }
        let entry = self.entry(&self.hash(token)?).await?;
        match entry.filter(|e| e.is_live(now)) {
            Some(e) if self.ancestors_live(&e, now).await? => Ok(Some(e)),
            _ => Ok(None),
        }
    }

    /// True when every ancestor of `entry` still exists and is live at `now`.
    ///
    /// A parent's expiry revokes its children through the parent's expiry row, but that row runs
    /// when the expiry worker gets to it (and retries while the leases it must destroy resist);
    /// until then a child would keep working past its parent. Checking the chain on every use
    /// closes that window: a token dies with its parent at once, whatever that row's state.
    ///
    /// Cost: two storage reads (accessor → hash, hash → entry) per ancestor and request. Chains
    /// are short in practice (a pipeline's token and one or two children) and creation refuses to
    /// grow one past [`MAX_TOKEN_DEPTH`]; orphans (every login token) cost nothing. A chain
    /// longer than that limit, or one that loops (only corrupt storage could make either), counts
    /// as broken.
    pub async fn ancestors_live(&self, entry: &TokenEntry, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.depth_of_live_chain(entry, now).await?.is_some())
    }

    /// How many ancestors `entry` has, or `None` when one of them is gone or no longer live (or
    /// the chain is longer than [`MAX_TOKEN_DEPTH`]).
    pub async fn depth_of_live_chain(
        &self,
        entry: &TokenEntry,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>> {
        let mut next = entry.parent.clone();
        let mut depth = 0usize;
        while let Some(accessor) = next {
            depth += 1;
            if depth > MAX_TOKEN_DEPTH || accessor == entry.accessor {
                return Ok(None);
            }
            match self.by_accessor(&accessor).await? {
                Some(parent) if parent.is_live(now) => next = parent.parent,
                _ => return Ok(None),
            }
        }
        Ok(Some(depth))
    }

    /// The entry stored under `hash` (expired or not): kept, or read and kept.
    async fn entry(&self, hash: &str) -> Result<Option<TokenEntry>> {
        if let Some(e) = self.cache.get(hash) {
            return Ok(Some(e));
        }
        let ticket = self.cache.ticket();
        let entry: Option<TokenEntry> = self.kv.get_json(&format!("token/id/{hash}")).await?;
        if let (Some(ticket), Some(e)) = (ticket, &entry) {
            self.cache.fill(ticket, hash, e);
        }
        Ok(entry)
    }

    /// Another node changed the storage key `key`: forget what was read from it.
    pub fn follow(&self, key: &str) {
        self.cache.follow(key);
    }

    /// Changes from other nodes may have been missed: forget every entry read.
    pub fn forget_all(&self) {
        self.cache.clear();
    }

    /// The change feed stopped (`false`: keep nothing, read storage on every use) or is back
    /// after a gap (`true`: forget everything, then keep again).
    pub fn follow_feed(&self, following: bool) {
        if following {
            self.cache.resume();
        } else {
            self.cache.suspend();
        }
    }

    /// How many entries are kept in memory.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Take one use of a use-limited token, atomically across concurrent requests and nodes:
    /// the entry after the use (`uses_exhausted` when it was the last), or `None` when the
    /// token is gone or others took its last use first.
    pub async fn take_use(&self, token: &str) -> Result<Option<TokenEntry>> {
        let hash = self.hash(token)?;
        let mut taken = false;
        let entry = self
            .kv
            .update_json(&format!("token/id/{hash}"), |e: &mut TokenEntry| {
                taken = !e.uses_exhausted && e.num_uses > 0;
                if taken {
                    e.num_uses -= 1;
                    e.uses_exhausted = e.num_uses == 0;
                }
                taken
            })
            .await;
        // Use-limited entries are never kept; forgetting anyway costs nothing.
        self.cache.forget_hash(&hash);
        Ok(entry?.filter(|_| taken))
    }

    /// The entry for an accessor (expired or not), with its storage hash.
    pub async fn by_accessor(&self, accessor: &str) -> Result<Option<TokenEntry>> {
        if let Some(e) = self
            .cache
            .hash_of(accessor)
            .and_then(|hash| self.cache.get(&hash))
        {
            return Ok(Some(e));
        }
        // One ticket across both reads: a change to either after it keeps the pair out.
        let ticket = self.cache.ticket();
        let Some(hash) = self.kv.get(&format!("token/accessor/{accessor}")).await? else {
            return Ok(None);
        };
        let hash = String::from_utf8_lossy(&hash).into_owned();
        let entry: Option<TokenEntry> = self.kv.get_json(&format!("token/id/{hash}")).await?;
        match (ticket, &entry) {
            // The entry must name the accessor it was reached by, or the pair is not kept.
            (Some(ticket), Some(e)) if e.accessor == accessor => self.cache.fill(ticket, &hash, e),
            _ => {}
        }
        Ok(entry)
    }

    /// Record a renewal: the new expiry and when.
    pub async fn record_renewal(
        &self,
        accessor: &str,
        expire: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let found = self
            .modify(accessor, |e| {
                e.expire_time = Some(expire);
                e.last_renewal = Some(at);
            })
            .await?;
        if found {
            Ok(())
        } else {
            Err(Error::invalid("token not found"))
        }
    }

    /// Change the entry of the token `accessor` in storage, with no other writer in between,
    /// so that a use taken by a concurrent request is never given back. False when unknown.
    async fn modify(
        &self,
        accessor: &str,
        mut change: impl FnMut(&mut TokenEntry),
    ) -> Result<bool> {
        let Some(hash) = self.kv.get(&format!("token/accessor/{accessor}")).await? else {
            return Ok(false);
        };
        let hash = String::from_utf8_lossy(&hash).into_owned();
        let changed = self
            .kv
            .update_json(&format!("token/id/{hash}"), |e: &mut TokenEntry| {
                change(e);
                true
            })
            .await;
        // Forgotten whether or not the write went through: it may have.
        self.cache.forget_hash(&hash);
        Ok(changed?.is_some())
    }

    /// Accessors of a token's direct children.
    pub async fn children(&self, accessor: &str) -> Result<Vec<String>> {
        Ok(self.kv.list(&format!("token/children/{accessor}/")).await?)
    }

    /// The token and all its descendants, parents before children.
    pub async fn tree(&self, accessor: &str) -> Result<Vec<String>> {
        let mut out = vec![accessor.to_owned()];
        let mut i = 0;
        while let Some(acc) = out.get(i).cloned() {
            for child in self.children(&acc).await? {
                if !out.contains(&child) {
                    out.push(child);
                }
            }
            i += 1;
        }
        Ok(out)
    }

    /// Delete one token (not its children). Unknown accessors are fine. From the moment this
    /// returns, the token no longer authenticates on this node (other nodes: see
    /// [`TokenStore::follow`]).
    pub async fn delete(&self, accessor: &str) -> Result<()> {
        let deleted = self.delete_stored(accessor).await;
        // Also on failure: part of the deletion may have been written.
        self.cache.forget_accessor(accessor);
        deleted
    }

    async fn delete_stored(&self, accessor: &str) -> Result<()> {
        if let Some(entry) = self.by_accessor(accessor).await? {
            if let Some(parent) = &entry.parent {
                self.kv
                    .delete(&format!("token/children/{parent}/{accessor}"))
                    .await?;
            }
        }
        if let Some(hash) = self.kv.get(&format!("token/accessor/{accessor}")).await? {
            let hash = String::from_utf8_lossy(&hash).into_owned();
            let deleted = self.kv.delete(&format!("token/id/{hash}")).await;
            self.cache.forget_hash(&hash);
            deleted?;
        }
        self.kv
            .delete(&format!("token/accessor/{accessor}"))
            .await?;
        Ok(())
    }

    /// Make a token's children orphans (revoke-orphan).
    pub async fn orphan_children(&self, accessor: &str) -> Result<()> {
        for child in self.children(accessor).await? {
            self.modify(&child, |e| {
                e.parent = None;
                e.orphan = true;
            })
            .await?;
            self.kv
                .delete(&format!("token/children/{accessor}/{child}"))
                .await?;
        }
        Ok(())
    }

    /// All accessors (for workload revocation and `auth/token/accessors`).
    pub async fn accessors(&self) -> Result<Vec<String>> {
        Ok(self.kv.list("token/accessor/").await?)
    }

    /// The sealed key/value space tokens live in (token roles are kept beside them).
    pub fn kv(&self) -> &SealedKv {
        &self.kv
    }

    /// True when at least one token exists (so first start can tell whether to make one).
    pub async fn any_tokens(&self) -> Result<bool> {
        Ok(!self.kv.list("token/accessor/").await?.is_empty())
    }
}
