//! What a token is: its stored entry ([`TokenEntry`]), its value in plaintext on its way to its
//! owner ([`PlainToken`]), and how values and accessors are generated. Where tokens are kept and
//! how they live and die is [`super::token_store`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The most ancestors a token may have. Every use of a token reads its whole chain, so the
/// chain's length is bounded where it grows: creating a child of a token this deep is refused.
pub const MAX_TOKEN_DEPTH: usize = 32;

/// A token in plaintext: only ever on its way to the caller.
pub struct PlainToken(pub SecretString);

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken([REDACTED])")
    }
}

/// What is stored about a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TokenEntry {
    /// Public handle for admin actions.
    pub accessor: String,
    /// Policy names.
    pub policies: Vec<String>,
    /// Shown as `display_name`; used in generated user names.
    pub display_name: String,
    /// Creation path (`auth/token/create`, `auth/approle/login`).
    pub path: String,
    /// When created.
    pub creation_time: DateTime<Utc>,
    /// TTL at creation, seconds; 0 = never expires.
    pub creation_ttl: u64,
    /// Expiry, if any.
    pub expire_time: Option<DateTime<Utc>>,
    /// Renewal never goes past this (explicit max TTL / mount max), if set.
    #[serde(default)]
    pub max_expire_time: Option<DateTime<Utc>>,
    /// `explicit_max_ttl` in seconds, 0 = none.
    #[serde(default)]
    pub explicit_max_ttl: u64,
    /// Periodic token period in seconds, 0 = not periodic.
    #[serde(default)]
    pub period: u64,
    /// Uses left, 0 = unlimited.
    #[serde(default)]
    pub num_uses: u32,
    /// Whether renew is allowed.
    #[serde(default)]
    pub renewable: bool,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// True for tokens without a parent.
    pub orphan: bool,
    /// Parent's accessor.
    #[serde(default)]
    pub parent: Option<String>,
    /// The workload this token acts for (`auth/approle/role/ci`), empty for plain tokens.
    #[serde(default)]
    pub workload: String,
    /// CIDR blocks the token may be used from.
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
    /// Last renewal.
    #[serde(default)]
    pub last_renewal: Option<DateTime<Utc>>,
    /// A use-limited token whose last use has been taken: refused from then on, while the
    /// request that took it finishes and revokes it. (`num_uses` 0 means unlimited, so the
    /// count alone cannot say this.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uses_exhausted: bool,
}

impl TokenEntry {
    /// True if the token has the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// True while the token itself may be used at `now`: not expired and not on its way out
    /// after its last use. (Its ancestors are checked by [`super::TokenStore::ancestors_live`].)
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.uses_exhausted && self.expire_time.is_none_or(|t| t > now)
    }

    /// The token role this token was created against (Vault's `role`), read from its creation
    /// path: role names hold no `/`, so the segment after `auth/token/create/` is the role
    /// whatever `path_suffix` follows it.
    pub fn role(&self) -> Option<&str> {
        self.path
            .strip_prefix("auth/token/create/")
            .and_then(|rest| rest.split('/').next())
            .filter(|r| !r.is_empty())
    }

    /// Lease id of the row that makes this token expire through the lease engine: its creation
    /// path and accessor, as Vault forms a token's lease id from its path, so that
    /// `revoke-prefix auth/token/create/<role>` or `auth/approle/login` reaches the tokens made
    /// there.
    pub fn lease_id(&self) -> String {
        let path = self.path.trim_end_matches('/');
        let path = if path.is_empty() {
            "auth/token/create"
        } else {
            path
        };
        format!("{path}/{}", self.accessor)
    }
}

/// A fresh random token value.
pub fn generate_token() -> SecretString {
    SecretString::from(format!(
        "hvs.{}",
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32)
    ))
}

/// A fresh accessor.
pub fn generate_accessor() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24)
}
