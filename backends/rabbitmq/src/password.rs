//! Passwords for new users, and the hash the broker is given instead of them.
//!
//! A password is 32 characters of `[A-Za-z0-9]` (about 190 bits), made into a `SecretString` and
//! zeroized when dropped. The broker stores a salted SHA-256 of it
//! (`rabbit_password_hashing_sha256`: base64 of a 4-byte salt followed by
//! SHA-256(salt ‖ password)); we compute that hash ourselves and send only it, so the password
//! exists in the answer to the caller and nowhere else — not in the management API request, not
//! in the broker's logs of it.

use base64::Engine as _;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Characters in a generated password.
pub(crate) const LENGTH: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh password.
pub(crate) fn generate(rng: &mut impl Rng) -> SecretString {
    // Exactly LENGTH bytes into exactly that capacity: the buffer never reallocates (which would
    // leave an unzeroized copy behind).
    let mut text = Zeroizing::new(String::with_capacity(LENGTH));
    for _ in 0..LENGTH {
        let i = rng.gen_range(0..ALPHABET.len());
        text.push(ALPHABET.get(i).map_or('0', |&b| char::from(b)));
    }
    SecretString::from(text.as_str())
}

/// The broker's stored form of a password.
pub(crate) struct PasswordHash(Zeroizing<String>);

impl PasswordHash {
    /// The broker's name for the scheme.
    pub(crate) const ALGORITHM: &'static str = "rabbit_password_hashing_sha256";

    /// The hash of `password` with a random salt.
    pub(crate) fn of(password: &SecretString, rng: &mut impl Rng) -> Self {
        let salt: [u8; 4] = rng.gen();
        Self::with_salt(password, salt)
    }

    fn with_salt(password: &SecretString, salt: [u8; 4]) -> Self {
        let mut digest = Sha256::new();
        digest.update(salt);
        digest.update(password.expose_secret().as_bytes());
        let mut stored = Zeroizing::new(salt.to_vec());
        stored.extend_from_slice(&digest.finalize());
        Self(Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(stored.as_slice()),
        ))
    }

    /// Base64, as the management API takes it.
    pub(crate) fn encoded(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_alphanumeric() {
        let a = generate(&mut rand::thread_rng());
        let b = generate(&mut rand::thread_rng());
        assert_eq!(a.expose_secret().len(), LENGTH);
        assert!(a.expose_secret().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn hash_has_the_brokers_layout() {
        // A known answer, computed independently: salt 908DC60A, password "test12".
        let hash = PasswordHash::with_salt(&SecretString::from("test12"), [0x90, 0x8D, 0xC6, 0x0A]);
        assert_eq!(
            hash.encoded(),
            "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
        );
    }
}
