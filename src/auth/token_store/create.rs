//! Minting a token: policies normalized, TTLs capped by the system and the caller's limits, the
//! entry stored, and — for a token that expires — its expiry row written to the lease table.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{json, Value};
use tracing::info;

use super::TokenStore;
use crate::auth::token::{generate_accessor, generate_token, PlainToken, TokenEntry};
use crate::error::{Error, Result};
use crate::lease::ttl::MountTtls;
use crate::lease::LeaseEngine;

/// Everything needed to mint a token.
#[derive(Debug, Default, Clone)]
pub struct TokenSpec {
    /// Policies (without `default`, which is added unless `no_default_policy`).
    pub policies: Vec<String>,
    /// Do not add `default` (one already in `policies` stays).
    pub no_default_policy: bool,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// TTL; zero = the mount default (or no expiry for a root-policy token).
    pub ttl: Duration,
    /// Max TTL from the auth method's role; zero = mount max.
    pub max_ttl: Duration,
    /// Hard cap, zero = none.
    pub explicit_max_ttl: Duration,
    /// Periodic renewal period, zero = none.
    pub period: Duration,
    /// Uses, zero = unlimited.
    pub num_uses: u32,
    /// Renewable.
    pub renewable: bool,
    /// Display name.
    pub display_name: String,
    /// Creation path.
    pub path: String,
    /// Parent accessor; `None` for an orphan.
    pub parent: Option<String>,
    /// Workload identity.
    pub workload: String,
    /// CIDRs the token may be used from.
    pub bound_cidrs: Vec<String>,
    /// A caller-chosen token value (root only).
    pub id: Option<SecretString>,
}

impl TokenStore {
    /// Mint a token. The caller has already checked what the requester may ask for.
    ///
    /// `system` are the system TTLs (the token mount's default and max); a token with a TTL
    /// gets its expiry row in `leases`.
    pub async fn create(
        &self,
        leases: &LeaseEngine,
        system: MountTtls,
        spec: TokenSpec,
    ) -> Result<(PlainToken, TokenEntry)> {
        let now = leases.now_ms();
        let mut policies: Vec<String> = Vec::new();
        for p in &spec.policies {
            let p = p.trim().to_lowercase();
            if !p.is_empty() && !policies.contains(&p) {
                policies.push(p);
            }
        }
        // Only wrapping tokens hold it, and they are minted by `core::wrapping`, not here: a
        // token given it by a caller would pass for a wrapping token.
        if policies
            .iter()
            .any(|p| p == crate::auth::policy::RESPONSE_WRAPPING_POLICY_NAME)
        {
            return Err(Error::invalid(format!(
                "cannot assign policy {:?}",
                crate::auth::policy::RESPONSE_WRAPPING_POLICY_NAME
            )));
        }
        let root = policies.iter().any(|p| p == "root");
        if !root && !spec.no_default_policy && !policies.iter().any(|p| p == "default") {
            policies.insert(0, "default".into());
        }
        let mount_max = if spec.max_ttl.is_zero() {
            system.max_ttl
        } else {
            spec.max_ttl.min(system.max_ttl)
        };
        let mut cap = mount_max;
        if !spec.explicit_max_ttl.is_zero() {
            cap = cap.min(spec.explicit_max_ttl);
        }
        let ttl = if !spec.period.is_zero() {
            spec.period
        } else if !spec.ttl.is_zero() {
            spec.ttl
        } else if root && spec.explicit_max_ttl.is_zero() {
            Duration::ZERO
        } else {
            system.default_ttl
        };
        let ttl = if ttl.is_zero() { ttl } else { ttl.min(cap) };
        // Periodic tokens have no max unless explicit_max_ttl is set.
        let max_expire =
            if ttl.is_zero() || (!spec.period.is_zero() && spec.explicit_max_ttl.is_zero()) {
                None
            } else {
                Some(now + chrono_dur(cap))
            };
        let expire_time = (!ttl.is_zero()).then(|| now + chrono_dur(ttl));
        let entry = TokenEntry {
            accessor: generate_accessor(),
            policies,
            display_name: spec.display_name,
            path: spec.path,
            creation_time: now,
            creation_ttl: ttl.as_secs(),
            expire_time,
            max_expire_time: max_expire,
            explicit_max_ttl: spec.explicit_max_ttl.as_secs(),
            period: spec.period.as_secs(),
            num_uses: spec.num_uses,
            renewable: spec.renewable && expire_time.is_some(),
            meta: spec.meta,
            orphan: spec.parent.is_none(),
            parent: spec.parent,
            workload: spec.workload,
            bound_cidrs: spec.bound_cidrs,
            last_renewal: None,
            uses_exhausted: false,
        };
        let token = spec.id.unwrap_or_else(generate_token);
        self.insert(&token, &entry).await?;
        if let Some(expire) = expire_time {
            let max = max_expire.unwrap_or(DateTime::<Utc>::MAX_UTC);
            leases
                .insert_token_lease(
                    &entry.lease_id(),
                    &entry.accessor,
                    expire,
                    max,
                    entry.renewable,
                )
                .await?;
        }
        info!(token.accessor = %entry.accessor, policies = ?entry.policies, ttl = ttl.as_secs(), "created token {}", entry.accessor);
        Ok((PlainToken(token), entry))
    }
}

/// Vault's `auth` block for a token just created or renewed, less the token itself: that stays a
/// [`SecretString`] beside the block (`Envelope::client_token`) until the response is rendered.
pub fn auth_block(entry: &TokenEntry, lease_duration: u64) -> Value {
    json!({
        "client_token": "",
        "accessor": entry.accessor,
        "policies": entry.policies,
        "token_policies": entry.policies,
        "metadata": if entry.meta.is_empty() { Value::Null } else { json!(entry.meta) },
        "lease_duration": lease_duration,
        "renewable": entry.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": entry.orphan,
        "mfa_requirement": Value::Null,
        "num_uses": entry.num_uses,
    })
}

pub(super) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
