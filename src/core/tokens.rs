//! Token life: creation (from `auth/token/create` or an auth method's login), renewal, and
//! revocation of a token with its descendants and **every lease obtained with them**.
//!
//! A token with a TTL gets a row in the lease table (`<creation path>/<accessor>`), so tokens
//! expire through the same queue, worker and retrying destruction path as secrets; the
//! [`TokenReaper`] is the "backend" of those rows.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_backend::duration::format_duration;
use leasehold_backend::{Backend, BackendError, Credentials, Request, Response, SecretContext};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::Core;
use crate::auth::token::{generate_accessor, generate_token, PlainToken, TokenEntry};
use crate::error::{Error, Result};

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

/// What a token revocation did.
#[derive(Debug, Default)]
pub struct RevokeReport {
    /// Tokens revoked (the token and its descendants).
    pub tokens: usize,
    /// Leases whose accounts were destroyed (or queued, when not sync).
    pub leases: Vec<RevokedLease>,
    /// Leases whose destruction failed; they stay `revoking` and are retried.
    pub failures: Vec<(String, String)>,
}

/// One lease revoked with a token or workload.
#[derive(Debug, Clone)]
pub struct RevokedLease {
    /// Lease id.
    pub lease_id: String,
    /// Account on the target.
    pub account: String,
    /// Mount.
    pub mount: String,
}

impl RevokeReport {
    /// The 200 answer of a revoke call: the report as data, a warning per lease still live.
    pub fn into_response(self, mount_type: &str) -> super::api::ApiResponse {
        let warnings = self
            .failures
            .iter()
            .map(|(id, e)| {
                format!("lease {id} could not be destroyed yet and will be retried: {e}")
            })
            .collect();
        super::api::ApiResponse::Ok(super::api::Envelope {
            data: Some(self.to_json()),
            warnings,
            mount_type: mount_type.into(),
            ..super::api::Envelope::default()
        })
    }

    /// The report as response data.
    pub fn to_json(&self) -> Map<String, Value> {
        let failed: std::collections::HashMap<&str, &str> = self
            .failures
            .iter()
            .map(|(id, e)| (id.as_str(), e.as_str()))
            .collect();
        let mut m = Map::new();
        m.insert("revoked_tokens".into(), json!(self.tokens));
        m.insert(
            "revoked_leases".into(),
            json!(self.leases.len() - self.failures.len().min(self.leases.len())),
        );
        m.insert("failed_leases".into(), json!(self.failures.len()));
        let leases: Vec<Value> = self
            .leases
            .iter()
            .map(|l| {
                json!({
                    "lease_id": l.lease_id, "account": l.account, "mount": l.mount,
                    "destroyed": !failed.contains_key(l.lease_id.as_str()),
                    "error": failed.get(l.lease_id.as_str()),
                })
            })
            .collect();
        m.insert("leases".into(), Value::Array(leases));
        m
    }
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Core {
    /// Mint a token. The caller has already checked what the requester may ask for.
    pub async fn create_token(&self, spec: TokenSpec) -> Result<(PlainToken, TokenEntry)> {
        let now = self.leases.now_ms();
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
        let system = self.mounts.system_ttls();
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
        self.tokens.insert(&token, &entry).await?;
        if let Some(expire) = expire_time {
            let max = max_expire.unwrap_or(DateTime::<Utc>::MAX_UTC);
            self.leases
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

    /// Vault's `auth` block for a token just created or renewed.
    pub fn auth_block(
        &self,
        token: Option<&SecretString>,
        entry: &TokenEntry,
        lease_duration: u64,
    ) -> Value {
        json!({
            "client_token": token.map(|t| t.expose_secret().to_owned()).unwrap_or_default(),
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

    /// Renew a token: TTL from now = increment, else its period, else its creation TTL; capped at
    /// its max with Vault's warning. Returns the new TTL and the warning.
    pub async fn renew_token(
        &self,
        entry: &mut TokenEntry,
        increment: Duration,
    ) -> Result<(u64, Option<String>)> {
        let now = self.leases.now_ms();
        if !entry.renewable || entry.expire_time.is_none() {
            return Err(Error::invalid("token is not renewable"));
        }
        if entry.expire_time.is_some_and(|e| e <= now) {
            return Err(Error::PermissionDenied);
        }
        self.check_login_role_exists(entry).await?;
        // As Vault: a token made from a token role renews only while that role exists.
        if let Some(role) = entry.role() {
            if self.token_role(role).await?.is_none() {
                return Err(Error::invalid(format!(
                    "original token role {role:?} could not be found, not renewing"
                )));
            }
        }
        let proposed = if !increment.is_zero() {
            increment
        } else if entry.period > 0 {
            Duration::from_secs(entry.period)
        } else {
            Duration::from_secs(entry.creation_ttl)
        };
        let mut ttl = proposed;
        let mut warning = None;
        if let Some(max) = entry.max_expire_time {
            let remaining =
                Duration::from_secs(u64::try_from((max - now).num_seconds()).unwrap_or(0));
            if remaining.is_zero() {
                return Err(Error::invalid("past the max TTL, cannot renew"));
            }
            if proposed > remaining {
                ttl = remaining;
                warning = Some(format!(
                    "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
                    format_duration(proposed),
                    format_duration(remaining)
                ));
            }
        }
        let expire = now + chrono_dur(ttl);
        entry.expire_time = Some(expire);
        entry.last_renewal = Some(now);
        self.tokens
            .record_renewal(&entry.accessor, expire, now)
            .await?;
        self.leases.set_expiry(&entry.lease_id(), expire).await?;
        Ok((ttl.as_secs(), warning))
    }

    /// A token from an auth method's login renews only while its role exists (as Vault checks):
    /// deleting an AppRole or JWT role stops its tokens from being extended.
    async fn check_login_role_exists(&self, entry: &TokenEntry) -> Result<()> {
        let Some(rest) = entry.workload.strip_prefix("auth/") else {
            return Ok(());
        };
        let Some((mount, below)) = self.auth_mounts.route(rest) else {
            return Err(Error::invalid(
                "the auth method that issued this token is gone; it cannot be renewed",
            ));
        };
        let Some(role) = below
            .trim_matches('/')
            .strip_prefix("role/")
            .and_then(|r| r.split('/').next())
        else {
            return Ok(());
        };
        let req = leasehold_backend::Request {
            operation: leasehold_backend::Operation::Read,
            path: format!("role/{role}"),
            fields: leasehold_backend::Fields::default(),
            storage: mount.view.clone(),
            mount_path: mount.entry.path.clone(),
            display_name: entry.display_name.clone(),
            remote_addr: None,
        };
        match mount.backend.handle(req).await? {
            Some(_) => Ok(()),
            None => Err(Error::invalid(format!(
                "role {role:?} no longer exists; the token cannot be renewed"
            ))),
        }
    }

    /// Revoke a token and, unless `orphan_children`, all its descendants; every lease obtained with
    /// any of them is destroyed (`sync`) or queued for destruction. The tokens stop working first.
    pub async fn revoke_token(
        &self,
        accessor: &str,
        orphan_children: bool,
        sync: bool,
    ) -> Result<RevokeReport> {
        let own_rows: Vec<String> = self
            .leases
            .list_by_token(accessor)
            .await?
            .into_iter()
            .filter(|l| l.kind == crate::lease::TOKEN_LEASE_KIND)
            .map(|l| l.id)
            .collect();
        let report = self
            .revoke_token_tree(accessor, orphan_children, sync)
            .await?;
        // The token's own expiry row: its reaper finds nothing left to do.
        self.leases.destroy_many(own_rows).await;
        Ok(report)
    }

    /// The work behind [`Core::revoke_token`], without touching the token's own expiry row (the
    /// reaper calls this while holding that row).
    pub(crate) async fn revoke_token_tree(
        &self,
        accessor: &str,
        orphan_children: bool,
        sync: bool,
    ) -> Result<RevokeReport> {
        let tree = if orphan_children {
            self.tokens.orphan_children(accessor).await?;
            vec![accessor.to_owned()]
        } else {
            self.tokens.tree(accessor).await?
        };
        // Unusable first, so nothing new can be obtained while the accounts are destroyed.
        for acc in tree.iter().rev() {
            self.tokens.delete(acc).await?;
        }
        // A wrapping token's response dies with it (expiry, revocation or unwrap). Wrapping
        // tokens are orphans without children, so only the root of a tree can be one.
        self.forget_wrapped(accessor).await?;
        let mut report = RevokeReport {
            tokens: tree.len(),
            ..RevokeReport::default()
        };
        let mut token_rows = Vec::new();
        for acc in &tree {
            for lease in self.leases.list_by_token(acc).await? {
                if lease.kind == crate::lease::TOKEN_LEASE_KIND {
                    if acc != accessor {
                        token_rows.push(lease.id);
                    }
                    continue;
                }
                report.leases.push(RevokedLease {
                    lease_id: lease.id,
                    account: lease.account,
                    mount: lease.mount_path,
                });
            }
        }
        let ids: Vec<String> = report.leases.iter().map(|l| l.lease_id.clone()).collect();
        if sync {
            report.failures = self.leases.destroy_many(ids).await;
        } else {
            for id in &ids {
                self.leases.revoke(id, false).await?;
            }
        }
        // Descendants' expiry rows: nothing left for them to do but be closed.
        self.leases.destroy_many(token_rows).await;
        for l in &report.leases {
            info!(token.accessor = %accessor, lease.id = %l.lease_id, account = %l.account, "revoked lease {} with token {accessor}", l.lease_id);
        }
        for (id, e) in &report.failures {
            warn!(lease.id = %id, error = %e, "lease {id} of a revoked token could not be destroyed yet; retrying");
        }
        Ok(report)
    }
}

/// The "backend" of token expiry rows: destroying one revokes the token tree and its leases.
#[derive(Default)]
pub struct TokenReaper {
    core: OnceLock<Weak<Core>>,
}

impl TokenReaper {
    /// Point the reaper at the core once it exists.
    pub fn attach(&self, core: &Arc<Core>) {
        let _ = self.core.set(Arc::downgrade(core));
    }
}

#[async_trait]
impl Backend for TokenReaper {
    fn mount_type(&self) -> &'static str {
        "token"
    }
    async fn handle(&self, _req: Request) -> Result<Option<Response>, BackendError> {
        Err(BackendError::UnsupportedPath)
    }
    async fn create(&self, _ctx: &SecretContext) -> Result<Credentials, BackendError> {
        Err(BackendError::UnsupportedOperation)
    }
    async fn renew(&self, _ctx: &SecretContext) -> Result<(), BackendError> {
        Ok(())
    }
    async fn revoke(&self, ctx: &SecretContext) -> Result<(), BackendError> {
        let accessor = ctx
            .internal
            .get("accessor")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let core = self
            .core
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| BackendError::Internal("server is shutting down".into()))?;
        let report = core
            .revoke_token_tree(&accessor, false, true)
            .await
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        match report.failures.first() {
            None => Ok(()),
            Some((id, e)) => Err(BackendError::Target(format!(
                "{} lease(s) of token {accessor} not destroyed yet, e.g. {id}: {e}",
                report.failures.len()
            ))),
        }
    }
}
