//! The token store. A token exists in plaintext once, when it is handed to its owner
//! ([`PlainToken`]); storage holds only its HMAC-SHA256 under a server key (sealed at rest), so a
//! copy of the database yields no usable token. Admin actions name tokens by accessor.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::storage::sealed::SealedKv;

const KEY_PATH: &str = "core/token-hmac-key";

/// A token in plaintext: only ever on its way to the caller.
pub struct PlainToken(pub SecretString);

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken([REDACTED])")
    }
}

/// What is stored about a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEntry {
    /// Public handle for admin actions.
    pub accessor: String,
    /// Policy names.
    pub policies: Vec<String>,
    /// Shown as `display_name`; used in generated user names.
    pub display_name: String,
    /// Creation path (`auth/token/root`).
    pub path: String,
    /// When created.
    pub creation_time: DateTime<Utc>,
    /// TTL at creation, seconds; 0 = never expires.
    pub creation_ttl: u64,
    /// Expiry, if any.
    pub expire_time: Option<DateTime<Utc>>,
    /// Metadata.
    pub meta: std::collections::BTreeMap<String, String>,
    /// True for tokens without a parent.
    pub orphan: bool,
}

impl TokenEntry {
    /// True if the token has the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }
}

/// Tokens, stored as keyed hashes.
pub struct TokenStore {
    kv: SealedKv,
    key: Zeroizing<Vec<u8>>,
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
        Ok(Self { kv, key })
    }

    fn hash(&self, token: &str) -> Result<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .map_err(|e| Error::Internal(format!("token key: {e}")))?;
        mac.update(token.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Create a root token, with `id` as its value when given (dev mode's `-dev-root-token-id`).
    pub async fn create_root(
        &self,
        id: Option<SecretString>,
        now: DateTime<Utc>,
    ) -> Result<PlainToken> {
        let token = id.unwrap_or_else(|| {
            SecretString::from(format!(
                "hvs.{}",
                Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32)
            ))
        });
        let entry = TokenEntry {
            accessor: Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24),
            policies: vec!["root".into()],
            display_name: "root".into(),
            path: "auth/token/root".into(),
            creation_time: now,
            creation_ttl: 0,
            expire_time: None,
            meta: Default::default(),
            orphan: true,
        };
        let hashed = self.hash(token.expose_secret())?;
        self.kv
            .put_json(&format!("token/id/{hashed}"), &entry)
            .await?;
        self.kv
            .put(
                &format!("token/accessor/{}", entry.accessor),
                hashed.as_bytes(),
            )
            .await?;
        Ok(PlainToken(token))
    }

    /// The live entry for a token, or `None` (unknown or expired).
    pub async fn lookup(&self, token: &str, now: DateTime<Utc>) -> Result<Option<TokenEntry>> {
        if token.is_empty() {
            return Ok(None);
        }
        let entry: Option<TokenEntry> = self
            .kv
            .get_json(&format!("token/id/{}", self.hash(token)?))
            .await?;
        Ok(entry.filter(|e| e.expire_time.is_none_or(|t| t > now)))
    }

    /// True when at least one root token exists (so first start can tell whether to make one).
    pub async fn any_tokens(&self) -> Result<bool> {
        Ok(!self.kv.list("token/accessor/").await?.is_empty())
    }
}
