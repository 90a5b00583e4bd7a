//! Encryption at rest: every secret value (mount configs holding root passwords, lease internal
//! data, token salts) is sealed with AES-256-GCM under the operator's key before it reaches storage.
//! Layout of a sealed value: 1 version byte, 12-byte random nonce, ciphertext with its GCM tag.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use rand::RngCore;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Sealing failed or a stored value is not one of ours (wrong key, corruption).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key material is not 32 bytes (raw, 64 hex digits, or base64).
    #[error("the encryption key must be 32 bytes: raw, 64 hex digits or base64")]
    BadKey,
    /// Decryption failed: wrong key or a corrupted value.
    #[error("a stored value could not be decrypted (wrong encryption key or corrupted storage)")]
    Open,
    /// Encryption failed (cannot happen with a valid key; kept to avoid a panic path).
    #[error("encryption failed")]
    SealFailed,
}

/// The AES-256-GCM key and cipher. Debug prints nothing of the key.
#[derive(Clone)]
pub struct Seal {
    cipher: Aes256Gcm,
    /// Lease rows' integrity key, derived from the same key material (never the key itself).
    row_mac: crate::lease::integrity::RowMacKey,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(..)")
    }
}

impl Seal {
    /// A seal from 32 key bytes.
    pub fn from_key(key: &[u8]) -> Result<Self, SealError> {
        if key.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            row_mac: crate::lease::integrity::RowMacKey::derive(key),
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

    /// A fresh random key, for dev mode (lost on exit, as dev storage is meant to be).
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_ref())),
            row_mac: crate::lease::integrity::RowMacKey::derive(key.as_ref()),
        }
    }

    /// The key lease rows' integrity tags are made with (derived from this seal's key).
    pub fn row_mac(&self) -> &crate::lease::integrity::RowMacKey {
        &self.row_mac
    }

    /// Encrypt `plaintext` under a fresh nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| SealError::SealFailed)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt a value made by [`Seal::seal`]. The plaintext is zeroized when dropped.
    pub fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if *version != VERSION || rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let seal = Seal::generate();
        let sealed = seal.seal(b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(&seal.open(&sealed).unwrap()[..], b"hunter2");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(seal.open(&bad).is_err());
        assert!(Seal::generate().open(&sealed).is_err());
    }

    #[test]
    fn key_file_forms() {
        let hex_key = "00".repeat(32);
        assert!(Seal::from_key_file_contents(hex_key.as_bytes()).is_ok());
        assert!(Seal::from_key_file_contents(b"short").is_err());
    }
}
