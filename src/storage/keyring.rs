//! The keyring: data keys ("terms") that seal every value, how they are stored, rotated and
//! migrated to.
//!
//! **Storage.** The ring lives in storage at [`KEYRING_KEY`], as one JSON document (each term's
//! 32-byte key, its number and install time, plus two flags) wrapped with AES-256-GCM under the
//! operator's key file, bound to that key as associated data. The key file is therefore still the
//! one secret to back up: the ring travels with the storage (a backup of the database holds it)
//! and is useless without the key file. Nothing else is sealed directly with the operator's key.
//!
//! **Format marker.** The ring's `migrated` flag records that every value was rewritten to format
//! 2 (bound to its place, sealed under a term). It sits inside the wrapped document, so a storage
//! attacker cannot reset it to make the server accept format-1 blobs again; deleting the ring
//! makes every value unreadable and the start-up refuses (it finds values sealed under terms it
//! does not hold) rather than start over.
//!
//! **Migration** ([`load`]) runs at start-up under the storage lock `core/keyring`, so of several
//! nodes starting together on shared PostgreSQL exactly one migrates and the others wait, then
//! find `migrated` set. The ring is stored before any value is rewritten and values already in
//! format 2 are skipped, so a migration cut short resumes at the next start; it is never half
//! applied by two nodes. All nodes must run the new version: an older node neither reads nor
//! writes format 2.
//!
//! **Rotation** ([`rotate`], Vault's `sys/rotate`) adds term n+1; new values use it at once, older
//! terms stay readable, and [`rewrite`] re-seals every older value under the newest term in
//! batches of [`BATCH`], in the background, one node at a time. The ring's `rewrite_pending` flag
//! is cleared when a pass finds nothing older; until then every start resumes the pass (each
//! value's term is in its header, so finished work is skipped without decrypting). Old terms are
//! never dropped (as Vault): a node that had not yet seen a rotation may still write under the
//! previous term.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

mod migrate;
mod rewrite;

pub use migrate::{migrate_to_format_2, MigrationReport};
pub use rewrite::{rewrite, rewrite_pending, spawn_rewrite, RewriteReport};

use super::lock::HeldLock;
use super::seal::{Aad, Ring, Seal, SealError, Term};
use super::{Storage, StorageError};
use crate::clock::Clock;

/// Where the wrapped keyring is stored (outside every sealed namespace's use).
pub const KEYRING_KEY: &str = "core/keyring";
/// The storage lock held while the ring is created, migrated to or changed.
const RING_LOCK: &str = "core/keyring";
/// Values read and re-sealed per storage round trip, by the migration and the rewrite.
pub const BATCH: usize = 256;
/// How long a starting node waits for another node's migration before giving up.
const MIGRATION_WAIT_TRIES: usize = 40;

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct StoredTerm {
    term: u32,
    /// base64 of the 32 key bytes.
    key: String,
    #[zeroize(skip)]
    install_time: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredRing {
    /// Every value has been rewritten to format 2 (see the module header).
    migrated: bool,
    /// A rotation's rewrite has not finished yet.
    rewrite_pending: bool,
    terms: Vec<StoredTerm>,
}

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(format!("keyring: {e}"))
}

/// The stored ring, unwrapped; `None` when storage has none.
async fn read(seal: &Seal, storage: &Arc<dyn Storage>) -> Result<Option<StoredRing>, StorageError> {
    let Some(wrapped) = storage.kv_get(KEYRING_KEY).await? else {
        return Ok(None);
    };
    let plain = seal
        .unwrap_root(&wrapped, &Aad::keyring(KEYRING_KEY))
        .map_err(|_| {
            err(
                "cannot be opened with seal.key_file: the key file is not the one this \
                 storage was written with, or the keyring was corrupted",
            )
        })?;
    serde_json::from_slice(&plain).map(Some).map_err(err)
}

async fn write(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
    ring: &StoredRing,
) -> Result<(), StorageError> {
    let json = Zeroizing::new(serde_json::to_vec(ring).map_err(err)?);
    let wrapped = seal
        .wrap_root(&json, &Aad::keyring(KEYRING_KEY))
        .map_err(err)?;
    storage.kv_put(KEYRING_KEY, wrapped).await
}

/// Make `stored` the seal's ring, keeping this process's encryption counts of known terms.
fn install(seal: &Seal, stored: &StoredRing) -> Result<(), StorageError> {
    let old = seal.with_ring(|r| r.terms.clone());
    let mut terms = BTreeMap::new();
    for t in &stored.terms {
        let key = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(&t.key)
                .map_err(err)?,
        );
        let term = Term::new(key, t.install_time).map_err(err)?;
        if let Some(prev) = old.get(&t.term) {
            term.encryptions
                .store(prev.encryptions.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        terms.insert(t.term, Arc::new(term));
    }
    if terms.is_empty() {
        return Err(err("the stored keyring holds no key"));
    }
    seal.replace_ring(Ring { terms });
    Ok(())
}

fn stored_term(n: u32, t: &Term) -> StoredTerm {
    StoredTerm {
        term: n,
        key: base64::engine::general_purpose::STANDARD.encode(&t.key),
        install_time: t.install_time,
    }
}

/// Start-up: load the stored ring into `seal`, creating it on a new storage, and migrate
/// format-1 values once (see the module header). Returns whether a rotation's rewrite is still
/// pending (the caller starts [`spawn_rewrite`]). A term created here is stamped by `clock`.
pub async fn load(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
    clock: &dyn Clock,
) -> Result<bool, StorageError> {
    let mut tries = 0;
    let lock = loop {
        match HeldLock::acquire(storage, RING_LOCK).await {
            Ok(lock) => break lock,
            Err(e) if tries < MIGRATION_WAIT_TRIES => {
                tries += 1;
                tracing::info!(error = %e, "waiting for another server's keyring migration");
            }
            Err(e) => return Err(e),
        }
    };
    let outcome = load_locked(seal, storage, clock).await;
    lock.release().await;
    outcome
}

async fn load_locked(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
    clock: &dyn Clock,
) -> Result<bool, StorageError> {
    let mut stored = match read(seal, storage).await? {
        Some(stored) => stored,
        None => {
            // Checked before the new ring is stored: a ring stored over values sealed under
            // the lost one would make the next start accept it.
            if let Some(place) = migrate::first_format_2(storage).await? {
                return Err(err(format!(
                    "{place} is sealed under a keyring, but the storage holds none at \
                     {KEYRING_KEY}: the keyring was deleted or the storage was mixed with \
                     another; restore it from a backup"
                )));
            }
            let term = Term::random(clock.now());
            let stored = StoredRing {
                migrated: false,
                rewrite_pending: false,
                terms: vec![stored_term(1, &term)],
            };
            // Stored before any value is rewritten: a migration cut short resumes with this key.
            write(seal, storage, &stored).await?;
            stored
        }
    };
    install(seal, &stored)?;
    if !stored.migrated {
        migrate_to_format_2(seal, storage).await?;
        stored.migrated = true;
        write(seal, storage, &stored).await?;
    }
    Ok(stored.rewrite_pending)
}

/// Which compare-and-put a re-sealed value goes through.
#[derive(Clone, Copy)]
enum Place {
    Kv,
    Lease,
}

/// Compare-and-put a batch of re-sealed values `(key or lease id, as read, re-sealed)` at once:
/// on SQLite they share the writer's group commit (one fsync per batch, not per value), on
/// PostgreSQL the pool's connections. Each says whether it was still the value read.
async fn put_batch(
    storage: &Arc<dyn Storage>,
    place: Place,
    writes: Vec<(String, Vec<u8>, Vec<u8>)>,
) -> Result<Vec<(String, bool)>, StorageError> {
    let puts = writes.into_iter().map(|(at, old, new)| async move {
        let done = match place {
            Place::Kv => storage.kv_compare_and_put(&at, old, new).await?,
            Place::Lease => {
                storage
                    .lease_internal_compare_and_put(&at, old, new)
                    .await?
            }
        };
        Ok::<_, StorageError>((at, done))
    });
    futures_util::future::join_all(puts)
        .await
        .into_iter()
        .collect()
}

fn count_done(done: Vec<(String, bool)>) -> u64 {
    done.iter().filter(|(_, d)| *d).count() as u64
}

/// Reload the stored ring (another node rotated).
pub async fn refresh(seal: &Seal, storage: &Arc<dyn Storage>) -> Result<(), StorageError> {
    match read(seal, storage).await? {
        Some(stored) => install(seal, &stored),
        None => Err(err("the stored keyring is missing")),
    }
}

/// Open `sealed` for `aad`, reloading the ring once if it was sealed under a term this process
/// has not seen yet (another node rotated since).
pub async fn open_fresh(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
    sealed: &[u8],
    aad: &Aad,
) -> Result<Zeroizing<Vec<u8>>, StorageError> {
    match seal.open(sealed, aad) {
        Err(SealError::UnknownTerm(_)) => {
            refresh(seal, storage).await?;
            seal.open(sealed, aad)
                .map_err(|e| StorageError(e.to_string()))
        }
        other => other.map_err(|e| StorageError(e.to_string())),
    }
}

/// `sys/rotate`: add a term, make it the one new values use, and mark the rewrite pending.
/// Returns the new term, stamped by `clock`; the caller starts [`spawn_rewrite`].
pub async fn rotate(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
    clock: &dyn Clock,
) -> Result<u32, StorageError> {
    let lock = HeldLock::acquire(storage, RING_LOCK).await?;
    let outcome = async {
        let mut stored = read(seal, storage)
            .await?
            .ok_or_else(|| err("the stored keyring is missing"))?;
        let next = stored
            .terms
            .iter()
            .map(|t| t.term)
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| err("no key term is left"))?;
        stored
            .terms
            .push(stored_term(next, &Term::random(clock.now())));
        stored.rewrite_pending = true;
        write(seal, storage, &stored).await?;
        install(seal, &stored)?;
        Ok(next)
    }
    .await;
    lock.release().await;
    outcome
}

/// `sys/key-status`: the newest term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The term number (from 1).
    pub term: u32,
    /// When it was installed.
    pub install_time: DateTime<Utc>,
    /// Encryptions this node made with it since it started (Vault estimates a cluster-wide
    /// count; ours is this node's, which is what it can know without another shared counter).
    pub encryptions: u64,
}

/// The newest term, after reloading the ring so a rotation on another node shows.
pub async fn status(seal: &Seal, storage: &Arc<dyn Storage>) -> Result<KeyStatus, StorageError> {
    refresh(seal, storage).await?;
    seal.with_ring(|r| {
        r.active().map(|(n, t)| KeyStatus {
            term: n,
            install_time: t.install_time,
            encryptions: t.encryptions.load(Ordering::Relaxed),
        })
    })
    .ok_or_else(|| err("no key term"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::clock::SystemClock;
    use crate::storage::seal::{term_of, FORMAT};
    use crate::storage::sqlite::SqliteStorage;

    fn storage() -> Arc<dyn Storage> {
        Arc::new(SqliteStorage::open(":memory:".as_ref()).unwrap())
    }

    #[tokio::test]
    async fn migration_binds_old_values_once_and_then_refuses_format_1() {
        let storage = storage();
        let seal = Seal::from_key(&[7u8; 32]).unwrap();
        storage
            .kv_put("token/id/a", seal.seal_legacy(b"entry a").unwrap())
            .await
            .unwrap();
        let legacy_b = seal.seal_legacy(b"entry b").unwrap();
        storage
            .kv_put("token/id/b", legacy_b.clone())
            .await
            .unwrap();
        assert!(!load(&seal, &storage, &SystemClock).await.unwrap());
        let a = storage.kv_get("token/id/a").await.unwrap().unwrap();
        assert_eq!(a.first(), Some(&FORMAT));
        assert_eq!(
            &seal.open(&a, &Aad::kv("token/id/a")).unwrap()[..],
            b"entry a"
        );
        assert!(seal.open(&a, &Aad::kv("token/id/b")).is_err());
        // A format-1 blob put back after the migration is not accepted, and a second start
        // does not migrate again (it would have re-sealed it).
        storage
            .kv_put("token/id/b", legacy_b.clone())
            .await
            .unwrap();
        let again = Seal::from_key(&[7u8; 32]).unwrap();
        load(&again, &storage, &SystemClock).await.unwrap();
        let b = storage.kv_get("token/id/b").await.unwrap().unwrap();
        assert_eq!(b, legacy_b, "the second start migrated again");
        assert!(again.open(&b, &Aad::kv("token/id/b")).is_err());
        assert_eq!(
            &again.open(&a, &Aad::kv("token/id/a")).unwrap()[..],
            b"entry a"
        );
    }

    #[tokio::test]
    async fn a_missing_keyring_is_refused_not_recreated_over_sealed_values() {
        let storage = storage();
        let seal = Seal::from_key(&[7u8; 32]).unwrap();
        load(&seal, &storage, &SystemClock).await.unwrap();
        let v = seal.seal(b"x", &Aad::kv("policy/acl/p")).unwrap();
        storage.kv_put("policy/acl/p", v).await.unwrap();
        storage.kv_delete(KEYRING_KEY).await.unwrap();
        let e = load(&Seal::from_key(&[7u8; 32]).unwrap(), &storage, &SystemClock)
            .await
            .unwrap_err();
        assert!(e.0.contains("holds none"), "{e}");
        // And it stays refused: no ring was stored over the values.
        assert!(storage.kv_get(KEYRING_KEY).await.unwrap().is_none());
        assert!(
            load(&Seal::from_key(&[7u8; 32]).unwrap(), &storage, &SystemClock)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn another_key_file_is_refused() {
        let storage = storage();
        load(&Seal::from_key(&[7u8; 32]).unwrap(), &storage, &SystemClock)
            .await
            .unwrap();
        let e = load(&Seal::from_key(&[8u8; 32]).unwrap(), &storage, &SystemClock)
            .await
            .unwrap_err();
        assert!(e.0.contains("seal.key_file"), "{e}");
    }

    #[tokio::test]
    async fn rotation_keeps_old_values_readable_and_the_rewrite_moves_them() {
        let storage = storage();
        let seal = Seal::from_key(&[7u8; 32]).unwrap();
        load(&seal, &storage, &SystemClock).await.unwrap();
        let old = seal.seal(b"old", &Aad::kv("k/old")).unwrap();
        storage.kv_put("k/old", old).await.unwrap();
        assert_eq!(rotate(&seal, &storage, &SystemClock).await.unwrap(), 2);
        assert!(rewrite_pending(&seal, &storage).await.unwrap());
        // Another node's seal, loaded before the rotation... and a fresh one after: both read.
        let other = Seal::from_key(&[7u8; 32]).unwrap();
        assert!(
            load(&other, &storage, &SystemClock).await.unwrap(),
            "rewrite still pending"
        );
        let v = storage.kv_get("k/old").await.unwrap().unwrap();
        assert_eq!(term_of(&v), Some(1));
        assert_eq!(&other.open(&v, &Aad::kv("k/old")).unwrap()[..], b"old");
        let report = rewrite(&seal, &storage).await.unwrap().unwrap();
        assert_eq!((report.term, report.rewritten), (2, 1));
        let v = storage.kv_get("k/old").await.unwrap().unwrap();
        assert_eq!(term_of(&v), Some(2));
        assert_eq!(&other.open(&v, &Aad::kv("k/old")).unwrap()[..], b"old");
        assert!(!rewrite_pending(&seal, &storage).await.unwrap());
        assert_eq!(status(&seal, &storage).await.unwrap().term, 2);
    }
}
