//! Encryption at rest: every secret value (mount configs holding root passwords, lease internal
//! data, tokens, policies) is sealed with AES-256-GCM before it reaches storage.
//!
//! **Where a value lives is part of it.** Each value is sealed with associated data naming its
//! place ([`Aad::kv`]: the full storage key, a mount's prefix included; [`Aad::lease`]: the lease
//! id), as Vault's barrier binds each entry to its path. A blob copied onto another key or lease
//! does not open there, so an attacker who can write the storage but does not hold the key cannot
//! make a weak token root by copying the root token's entry onto its row, nor point a lease's
//! destruction at another lease's account.
//!
//! **A keyring with terms.** Values are sealed under data keys ("terms", numbered from 1, as
//! Vault's keyring). Layout of a sealed value: 1 format byte (2), the 4-byte big-endian term it
//! was sealed with, a 12-byte random nonce, the ciphertext with its GCM tag. New values use the
//! newest term; older terms stay readable (see [`super::keyring`] for how the ring is stored,
//! rotated and how old values are rewritten). The operator's key file is the root of trust: it
//! only wraps the keyring, and it is the one secret to back up.
//!
//! Format 1 (a version byte 1, a nonce and the ciphertext under the operator's key, no
//! associated data) is what earlier versions wrote. It is read only by the one-time migration
//! ([`Seal::open_legacy`]); [`Seal::open`] refuses it, so a format-1 blob copied in after the
//! migration cannot bypass the binding. The cost of the associated data is a few bytes more
//! through GHASH per value: nothing measurable next to a storage round trip.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use zeroize::Zeroizing;

/// Format byte of values written by versions without associated data or terms.
pub(crate) const LEGACY_FORMAT: u8 = 1;
/// Format byte of values bound to their place and sealed under a keyring term.
pub(crate) const FORMAT: u8 = 2;
const TERM_LEN: usize = 4;
const NONCE_LEN: usize = 12;
/// Bytes before the ciphertext of a format-2 value.
const HEADER_LEN: usize = 1 + TERM_LEN + NONCE_LEN;

/// Sealing failed or a stored value is not one of ours (wrong key, corruption, moved).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key material is not 32 bytes (raw, 64 hex digits, or base64).
    #[error("the encryption key must be 32 bytes: raw, 64 hex digits or base64")]
    BadKey,
    /// Decryption failed: wrong key, a corrupted value, or a value moved from another place.
    #[error(
        "a stored value could not be decrypted (wrong encryption key, corrupted storage, or a \
         value copied from another key)"
    )]
    Open,
    /// The value was sealed under a keyring term this process does not hold (yet).
    #[error("a stored value was sealed with key term {0}, which the keyring does not hold")]
    UnknownTerm(u32),
    /// The keyring has not been loaded from storage.
    #[error("the keyring is not loaded")]
    NoKeyring,
    /// Encryption failed (cannot happen with a valid key; kept to avoid a panic path).
    #[error("encryption failed")]
    SealFailed,
}

/// Associated data: where a sealed value lives. The kinds are domain-separated so that a storage
/// key can never equal a lease id's binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad(Vec<u8>);

impl Aad {
    /// A key/value entry at its full storage key (for a mount's view, the prefixed key).
    pub fn kv(key: &str) -> Self {
        Self::tagged(b"kv", key)
    }
    /// A lease's internal data, bound to the lease id.
    pub fn lease(id: &str) -> Self {
        Self::tagged(b"lease", id)
    }
    /// The keyring itself, wrapped by the operator's key.
    pub(crate) fn keyring(key: &str) -> Self {
        Self::tagged(b"keyring", key)
    }
    fn tagged(kind: &[u8], place: &str) -> Self {
        let mut v = Vec::with_capacity(kind.len() + 1 + place.len());
        v.extend_from_slice(kind);
        v.push(0);
        v.extend_from_slice(place.as_bytes());
        Self(v)
    }
}

/// One data key of the ring.
pub(crate) struct Term {
    pub(crate) cipher: Aes256Gcm,
    pub(crate) key: Zeroizing<Vec<u8>>,
    pub(crate) install_time: DateTime<Utc>,
    /// Encryptions this process made with the term (Vault's estimate is per cluster; ours is
    /// per node, and says so in `sys/key-status`' doc comment).
    pub(crate) encryptions: AtomicU64,
}

impl Term {
    pub(crate) fn new(
        key: Zeroizing<Vec<u8>>,
        install_time: DateTime<Utc>,
    ) -> Result<Self, SealError> {
        if key.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            key,
            install_time,
            encryptions: AtomicU64::new(0),
        })
    }
    pub(crate) fn random(install_time: DateTime<Utc>) -> Self {
        let mut key = Zeroizing::new(vec![0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            key,
            install_time,
            encryptions: AtomicU64::new(0),
        }
    }
}

/// The terms this process holds; the highest is the one new values are sealed with.
#[derive(Default)]
pub(crate) struct Ring {
    pub(crate) terms: BTreeMap<u32, Arc<Term>>,
}

impl Ring {
    pub(crate) fn active(&self) -> Option<(u32, &Arc<Term>)> {
        self.terms.iter().next_back().map(|(n, t)| (*n, t))
    }
}

struct Inner {
    /// The operator's key: wraps the keyring (and opened format-1 values before migration).
    root: Aes256Gcm,
    ring: RwLock<Ring>,
    /// Lease rows' integrity key, derived from the operator's key (never the key itself). Not
    /// from the keyring: a rotation must not make every tagged row fail its check.
    row_mac: super::row_mac::RowMacKey,
}

/// The operator's key and the keyring it unlocks. Cheap to clone (shared). Debug prints nothing
/// of either.
#[derive(Clone)]
pub struct Seal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(..)")
    }
}

/// The term of a format-2 value, from its header alone (no decryption).
pub(crate) fn term_of(sealed: &[u8]) -> Option<u32> {
    match sealed.split_first() {
        Some((&FORMAT, rest)) => rest
            .get(..TERM_LEN)
            .and_then(|b| <[u8; TERM_LEN]>::try_from(b).ok())
            .map(u32::from_be_bytes),
        _ => None,
    }
}

impl Seal {
    /// A seal from the operator's 32 key bytes, with no keyring yet ([`super::keyring`] loads it).
    pub fn from_key(key: &[u8]) -> Result<Self, SealError> {
        if key.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
                ring: RwLock::new(Ring::default()),
                row_mac: super::row_mac::RowMacKey::derive(key),
            }),
        })
    }

    /// A seal from the contents of a key file: 32 raw bytes, 64 hex digits or base64 of 32 bytes.
    pub fn from_key_file_contents(contents: &[u8]) -> Result<Self, SealError> {
        if contents.len() == 32 {
            return Self::from_key(contents);
        }
        let text = std::str::from_utf8(contents)
            .map_err(|_| SealError::BadKey)?
            .trim();
        let key = Zeroizing::new(if text.len() == 64 {
            hex::decode(text).map_err(|_| SealError::BadKey)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| SealError::BadKey)?
        });
        Self::from_key(&key)
    }

    /// A fresh random key with an in-memory term 1, for dev mode and tests (lost on exit, as dev
    /// storage is meant to be). A server still loads (or creates) the stored keyring over it.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        let seal = Self {
            inner: Arc::new(Inner {
                root: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_ref())),
                ring: RwLock::new(Ring::default()),
                row_mac: super::row_mac::RowMacKey::derive(key.as_ref()),
            }),
        };
        seal.replace_ring(Ring {
            terms: BTreeMap::from([(1, Arc::new(Term::random(crate::clock::wall_now())))]),
        });
        seal
    }

    /// The key lease rows' integrity tags are made with (derived from the operator's key).
    pub fn row_mac(&self) -> &super::row_mac::RowMacKey {
        &self.inner.row_mac
    }

    pub(crate) fn replace_ring(&self, ring: Ring) {
        *self.inner.ring.write().unwrap_or_else(|p| p.into_inner()) = ring;
    }

    /// Run `f` over the ring (for the keyring module: to store it or report on it).
    pub(crate) fn with_ring<R>(&self, f: impl FnOnce(&Ring) -> R) -> R {
        f(&self.inner.ring.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The newest term this process holds, if a keyring is loaded.
    pub fn active_term(&self) -> Option<u32> {
        self.with_ring(|r| r.active().map(|(n, _)| n))
    }

    /// Encrypt `plaintext` for the place `aad` under the newest term and a fresh nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<Vec<u8>, SealError> {
        let (term, key) = self
            .with_ring(|r| r.active().map(|(n, t)| (n, t.clone())))
            .ok_or(SealError::NoKeyring)?;
        key.encryptions.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        out.push(FORMAT);
        out.extend_from_slice(&term.to_be_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        let ct = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad.0,
                },
            )
            .map_err(|_| SealError::SealFailed)?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt a value made by [`Seal::seal`] for the same place. The plaintext is zeroized when
    /// dropped. Format-1 values are refused.
    pub fn open(&self, sealed: &[u8], aad: &Aad) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let term = term_of(sealed).ok_or(SealError::Open)?;
        let key = self
            .with_ring(|r| r.terms.get(&term).cloned())
            .ok_or(SealError::UnknownTerm(term))?;
        let nonce = sealed
            .get(1 + TERM_LEN..HEADER_LEN)
            .ok_or(SealError::Open)?;
        let ct = sealed.get(HEADER_LEN..).ok_or(SealError::Open)?;
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad.0,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }

    /// Wrap the keyring under the operator's key (format 2, term 0 = the operator's key).
    pub(crate) fn wrap_root(&self, plaintext: &[u8], aad: &Aad) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .inner
            .root
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad.0,
                },
            )
            .map_err(|_| SealError::SealFailed)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.push(FORMAT);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Unwrap what [`Seal::wrap_root`] made.
    pub(crate) fn unwrap_root(
        &self,
        sealed: &[u8],
        aad: &Aad,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if term_of(sealed) != Some(0) {
            return Err(SealError::Open);
        }
        let nonce = sealed
            .get(1 + TERM_LEN..HEADER_LEN)
            .ok_or(SealError::Open)?;
        let ct = sealed.get(HEADER_LEN..).ok_or(SealError::Open)?;
        self.inner
            .root
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad.0,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }

    /// Decrypt a format-1 value (operator's key, no associated data). Only the one-time
    /// migration calls this; nothing else accepts format 1.
    pub(crate) fn open_legacy(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if *version != LEGACY_FORMAT || rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        self.inner
            .root
            .decrypt(Nonce::from_slice(nonce), ct)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }

    /// A format-1 value as earlier versions wrote it, for the migration's tests (which build
    /// an old store): nothing in the server writes format 1, and nothing after the migration
    /// reads it.
    #[doc(hidden)]
    pub fn seal_legacy(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = vec![LEGACY_FORMAT];
        out.extend_from_slice(&nonce);
        out.extend_from_slice(
            &self
                .inner
                .root
                .encrypt(Nonce::from_slice(&nonce), plaintext)
                .map_err(|_| SealError::SealFailed)?,
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let seal = Seal::generate();
        let here = Aad::kv("token/id/a");
        let sealed = seal.seal(b"hunter2", &here).unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(&seal.open(&sealed, &here).unwrap()[..], b"hunter2");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(seal.open(&bad, &here).is_err());
        assert!(Seal::generate().open(&sealed, &here).is_err());
    }

    #[test]
    fn a_value_does_not_open_anywhere_else() {
        let seal = Seal::generate();
        let sealed = seal.seal(b"root entry", &Aad::kv("token/id/root")).unwrap();
        assert!(matches!(
            seal.open(&sealed, &Aad::kv("token/id/weak")),
            Err(SealError::Open)
        ));
        // A key and a lease id with the same text are different places.
        assert!(seal.open(&sealed, &Aad::lease("token/id/root")).is_err());
        let lease = seal.seal(b"{}", &Aad::lease("database/creds/a/1")).unwrap();
        assert!(seal
            .open(&lease, &Aad::lease("database/creds/a/2"))
            .is_err());
    }

    #[test]
    fn format_1_is_refused_except_by_the_migration() {
        let seal = Seal::generate();
        let old = seal.seal_legacy(b"v").unwrap();
        assert!(seal.open(&old, &Aad::kv("k")).is_err());
        assert_eq!(&seal.open_legacy(&old).unwrap()[..], b"v");
    }

    #[test]
    fn older_terms_stay_readable_and_new_values_use_the_newest() {
        let seal = Seal::generate();
        let here = Aad::kv("k");
        let old = seal.seal(b"old", &here).unwrap();
        assert_eq!(term_of(&old), Some(1));
        let mut terms = seal.with_ring(|r| r.terms.clone());
        terms.insert(2, Arc::new(Term::random(Utc::now())));
        seal.replace_ring(Ring { terms });
        let new = seal.seal(b"new", &here).unwrap();
        assert_eq!(term_of(&new), Some(2));
        assert_eq!(&seal.open(&old, &here).unwrap()[..], b"old");
        assert_eq!(&seal.open(&new, &here).unwrap()[..], b"new");
        // A term the ring does not hold is named, so the caller can reload the ring.
        let mut unknown = new.clone();
        unknown[1..5].copy_from_slice(&9u32.to_be_bytes());
        assert!(matches!(
            seal.open(&unknown, &here),
            Err(SealError::UnknownTerm(9))
        ));
    }

    #[test]
    fn key_file_forms() {
        let hex_key = "00".repeat(32);
        assert!(Seal::from_key_file_contents(hex_key.as_bytes()).is_ok());
        assert!(Seal::from_key_file_contents(b"short").is_err());
    }
}
