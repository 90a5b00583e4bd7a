//! The mount's HMAC key. Secret ids are stored only as HMAC-SHA256 under this key, and role ids
//! are indexed the same way, so a copy of the mount's storage yields no usable secret id and
//! storage keys never hold caller-chosen text. The key is random, made on first use and kept
//! in the mount's storage (sealed at rest by the core).

use hmac::{Hmac, Mac};
use leasehold_backend::{BackendError, MountStorage};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::AppRoleError;

/// Where the key lives in the mount's storage.
const KEY_PATH: &str = "hmac-key";

/// What a hashed value is; part of the MAC input so a role id and a secret id with the same text
/// never share a hash.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    /// A role id, for the role-id index.
    RoleId,
    /// A secret id.
    SecretId,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::RoleId => b"role-id\0",
            Purpose::SecretId => b"secret-id\0",
        }
    }
}

/// The per-mount HMAC key.
pub(super) struct MountKey(Zeroizing<Vec<u8>>);

impl MountKey {
    /// The stored key, or a new random one written to storage.
    ///
    /// Two concurrent first calls could each write a key and hash with different ones; the
    /// backend prevents that by calling this once, through a `OnceCell`.
    pub(super) async fn load_or_create(storage: &dyn MountStorage) -> Result<Self, BackendError> {
        if let Some(key) = storage.get(KEY_PATH).await? {
            if key.len() < 32 {
                return Err(BackendError::Internal(
                    "the AppRole HMAC key in storage is too short".into(),
                ));
            }
            return Ok(Self(key));
        }
        let mut key = Zeroizing::new(vec![0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut key);
        storage.put(KEY_PATH, &key).await?;
        Ok(Self(key))
    }

    /// Hex HMAC-SHA256 of `value` for `purpose`.
    pub(super) fn hash(&self, purpose: Purpose, value: &str) -> Result<String, AppRoleError> {
        // HMAC accepts keys of any length, so this cannot fail; the error is mapped, not unwrapped.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .map_err(|e| AppRoleError::Internal(format!("AppRole HMAC key: {e}")))?;
        mac.update(purpose.label());
        mac.update(value.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}
