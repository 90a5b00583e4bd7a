//! `sys/quotas/config`: which paths rate limits never touch, and whether refusals are audited
//! and rate-limit headers sent.

use serde::{Deserialize, Serialize};

/// Vault's default exemptions: the paths an operator needs to recover a server that a
/// too-tight global quota has locked out, and the health probes.
pub const DEFAULT_EXEMPT: &[&str] = &[
    "sys/generate-recovery-token/attempt",
    "sys/generate-recovery-token/update",
    "sys/generate-root/attempt",
    "sys/generate-root/update",
    "sys/health",
    "sys/seal-status",
    "sys/unseal",
];

/// The stored configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaConfig {
    /// Paths no rate-limit quota applies to: exact, or a prefix ending in `*`.
    pub rate_limit_exempt_paths: Vec<String>,
    /// Audit every request a rate limit refuses.
    pub enable_rate_limit_audit_logging: bool,
    /// Send `X-Ratelimit-*` on every rate-limited path's answer.
    pub enable_rate_limit_response_headers: bool,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            rate_limit_exempt_paths: DEFAULT_EXEMPT.iter().map(|p| (*p).to_owned()).collect(),
            enable_rate_limit_audit_logging: false,
            enable_rate_limit_response_headers: false,
        }
    }
}
