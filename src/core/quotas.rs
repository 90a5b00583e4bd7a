//! Resource quotas (Vault's `sys/quotas/*`): rate limits on requests and caps on live leases.
//! Quotas are stored sealed under `core/quotas/` and held in memory, reloaded when this node
//! writes one and when another node's write arrives on the change feed ([`super::follow`]).
//!
//! Two hooks, both small: the HTTP edge asks [`Core::rate_limit`] before serving a request
//! (Vault checks rate limits before authentication too, so a flood of bad tokens is limited),
//! and the lease engine asks [`Quotas`], as a [`LeaseAdmission`], for the check of the
//! lease-count quota covering a lease, if any, which then counts and inserts its row as one step.
//!
//! - [`matching`] — which quota governs a request (pure logic);
//! - [`rate_limit`] — the per-node request counters;
//! - [`lease_count`] — the cross-node count-and-insert;
//! - [`config`] — `sys/quotas/config`;
//! - [`paths`] — the `sys/quotas/*` handlers.

pub mod config;
pub mod lease_count;
pub mod matching;
pub mod paths;
pub mod rate_limit;

use std::sync::{Arc, RwLock};

use config::QuotaConfig;
use lease_count::LeaseCountQuota;
use rate_limit::{Limiter, RateLimitQuota};

use super::api::ApiRequest;
use super::Core;
use crate::error::{Error, Result};
use crate::lease::engine::{AdmissionCheck, LeaseAdmission};
use crate::lease::LeaseRecord;
use crate::storage::sealed::SealedKv;
use crate::storage::Storage;

/// Storage prefix of everything quota.
const PREFIX: &str = "core/quotas/";
const CONFIG_KEY: &str = "core/quotas/config";
/// Rate-limit quotas, by name.
pub const RATE_LIMIT_PREFIX: &str = "core/quotas/rate-limit/";
/// Lease-count quotas, by name.
pub const LEASE_COUNT_PREFIX: &str = "core/quotas/lease-count/";

/// Every quota, as last loaded.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    /// `sys/quotas/config`.
    pub config: QuotaConfig,
    /// Rate-limit quotas.
    pub rate_limits: Vec<RateLimitQuota>,
    /// Lease-count quotas (shared with the admissions of issues in flight).
    pub lease_counts: Vec<Arc<LeaseCountQuota>>,
}

/// The quota store and the rate limiter's counters.
pub struct Quotas {
    kv: SealedKv,
    loaded: RwLock<Arc<Loaded>>,
    /// Serializes reloads, so the last one to finish read the latest storage.
    reloading: tokio::sync::Mutex<()>,
    limiter: Limiter,
}

/// What the rate limit decided for one request.
#[derive(Debug, Default)]
pub struct RateLimited {
    /// Headers for the answer, whatever it is.
    pub headers: Vec<(&'static str, String)>,
    /// The refusal (429), if refused.
    pub refused: Option<Error>,
}

impl Quotas {
    /// Load every quota from `kv`.
    pub async fn load(kv: SealedKv) -> Result<Arc<Self>> {
        let quotas = Arc::new(Self {
            kv,
            loaded: RwLock::new(Arc::new(Loaded::default())),
            reloading: tokio::sync::Mutex::new(()),
            limiter: Limiter::default(),
        });
        quotas.reload().await?;
        Ok(quotas)
    }

    /// True for storage keys that hold quotas.
    pub fn owns_key(key: &str) -> bool {
        key.starts_with(PREFIX)
    }

    /// What is loaded now.
    pub fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Read every quota from storage again; counters start over.
    pub async fn reload(&self) -> Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let config = match self.kv.get(CONFIG_KEY).await? {
            Some(bytes) => decode(CONFIG_KEY, &bytes)?,
            None => QuotaConfig::default(),
        };
        let mut loaded = Loaded {
            config,
            ..Loaded::default()
        };
        for name in self.kv.list(RATE_LIMIT_PREFIX).await? {
            let key = format!("{RATE_LIMIT_PREFIX}{name}");
            if let Some(bytes) = self.kv.get(&key).await? {
                loaded.rate_limits.push(decode(&key, &bytes)?);
            }
        }
        for name in self.kv.list(LEASE_COUNT_PREFIX).await? {
            let key = format!("{LEASE_COUNT_PREFIX}{name}");
            if let Some(bytes) = self.kv.get(&key).await? {
                loaded.lease_counts.push(Arc::new(decode(&key, &bytes)?));
            }
        }
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        self.limiter.reset();
        Ok(())
    }

    /// Store `value` at `key` (a quota or the config) and reload.
    pub(crate) async fn put(&self, key: &str, value: &impl serde::Serialize) -> Result<()> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::Internal(format!("cannot encode quota: {e}")))?;
        self.kv.put(key, &bytes).await?;
        self.reload().await
    }

    /// Delete the quota at `key` and reload.
    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        self.kv.delete(key).await?;
        self.reload().await
    }

    /// The storage the lease table lives in.
    fn storage(&self) -> &Arc<dyn Storage> {
        self.kv.storage()
    }

    /// The rate-limit decision for a request on `path` from `client`.
    pub fn check_rate(
        &self,
        path: &str,
        role: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> RateLimited {
        let loaded = self.current();
        if loaded.rate_limits.is_empty()
            || matching::exempt(path, &loaded.config.rate_limit_exempt_paths)
        {
            return RateLimited::default();
        }
        let Some(quota) = matching::most_specific(
            loaded
                .rate_limits
                .iter()
                .map(|q| (&q.scope, q.role.as_deref())),
            path,
            role,
        )
        .and_then(|i| loaded.rate_limits.get(i)) else {
            return RateLimited::default();
        };
        let verdict = self.limiter.take(quota, client, std::time::Instant::now());
        let mut headers = verdict.headers();
        if !loaded.config.enable_rate_limit_response_headers {
            // Retry-After goes with every refusal anyway (RFC 6585 asks for it; Vault sends it
            // only with the other headers enabled): a client told when to come back retries less.
            headers.retain(|(name, _)| *name == "retry-after");
        }
        RateLimited {
            headers,
            refused: (!verdict.allowed).then(|| Error::RateLimitQuotaExceeded {
                path: path.to_owned(),
            }),
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("stored {key}: {e}")))
}

/// A lease-count quota found for one issue, with the storage it admits into.
struct QuotaCheck {
    quota: Arc<LeaseCountQuota>,
    storage: Arc<dyn Storage>,
}

impl LeaseAdmission for Quotas {
    /// The most specific lease-count quota covering the lease, if any.
    fn check_for(&self, request_path: &str, role: &str) -> Option<Arc<dyn AdmissionCheck>> {
        let loaded = self.current();
        let quota = matching::most_specific(
            loaded
                .lease_counts
                .iter()
                .map(|q| (&q.scope, q.role.as_deref())),
            request_path,
            Some(role),
        )
        .and_then(|i| loaded.lease_counts.get(i))?;
        Some(Arc::new(QuotaCheck {
            quota: Arc::clone(quota),
            storage: Arc::clone(self.storage()),
        }))
    }
}

#[async_trait::async_trait]
impl AdmissionCheck for QuotaCheck {
    async fn insert(&self, request_path: &str, lease: &LeaseRecord) -> Result<()> {
        self.quota.admit(&self.storage, request_path, lease).await
    }
}

impl Core {
    /// Apply rate-limit quotas to a request before it is served. A refusal is audited when
    /// `enable_rate_limit_audit_logging` is set.
    pub async fn rate_limit(&self, req: &ApiRequest) -> RateLimited {
        let path = req.route_path();
        // Only a role quota needs the login's role, and resolving it may read storage.
        let role_quotas = self
            .quotas
            .current()
            .rate_limits
            .iter()
            .any(|q| q.role.is_some());
        let role = if role_quotas {
            self.login_role(req).await
        } else {
            None
        };
        let limited = self
            .quotas
            .check_rate(path, role.as_deref(), req.remote_addr);
        if limited.refused.is_some()
            && self.quotas.current().config.enable_rate_limit_audit_logging
            && self.audit_request(req, None).await.is_ok()
        {
            let refusal = Err(Error::RateLimitQuotaExceeded {
                path: path.to_owned(),
            });
            let _ = self.audit_response(req, None, refusal).await;
        }
        limited
    }
}
