//! The `sys/` paths: health and seal status, the mount table, the lease API, and response
//! wrapping (served by `core::wrapping`).

pub mod audit;
pub mod health;
pub mod leases;
pub mod metrics;
pub mod mounts;
pub mod policies;

use super::api::{ApiRequest, ApiResponse};
use super::Core;
use crate::auth::TokenEntry;
use crate::core::mounts::MountKind;
use crate::error::{Error, Result};

/// Paths that answer without a token.
pub async fn handle_unauthenticated(
    core: &Core,
    req: &ApiRequest,
    path: &str,
) -> Result<ApiResponse> {
    match path {
        "sys/health" => health::health(core, req),
        "sys/seal-status" => health::seal_status(core, req),
        "sys/leader" => health::leader(core, req).await,
        "sys/init" => health::init(req),
        "sys/wrapping/lookup" => crate::core::wrapping::lookup(core, req).await,
        // Only reached with telemetry.unauthenticated_metrics_access (see Core::handle).
        "sys/metrics" => metrics::read(core, req).await,
        _ => Err(Error::NoRoute(path.to_owned())),
    }
}

/// Authenticated `sys/` paths.
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    token: &TokenEntry,
    path: &str,
) -> Result<ApiResponse> {
    let bare = path.trim_end_matches('/');
    if let Some(rest) = bare.strip_prefix("sys/wrapping/") {
        return crate::core::wrapping::handle(core, req, token, rest).await;
    }
    if bare == "sys/mounts" || bare.starts_with("sys/mounts/") {
        return mounts::handle(core, req, bare, MountKind::Secrets).await;
    }
    if let Some(rest) = bare.strip_prefix("sys/audit-hash") {
        return audit::hash(core, req, rest.trim_start_matches('/'));
    }
    if bare == "sys/audit" || bare.starts_with("sys/audit/") {
        return audit::handle(
            core,
            req,
            bare.trim_start_matches("sys/audit").trim_start_matches('/'),
        )
        .await;
    }
    if bare == "sys/auth" || bare.starts_with("sys/auth/") {
        return mounts::handle(core, req, bare, MountKind::Auth).await;
    }
    if let Some(rest) = bare.strip_prefix("sys/policies/acl") {
        return policies::handle(core, req, rest.trim_start_matches('/'), false).await;
    }
    if let Some(rest) = bare.strip_prefix("sys/policy") {
        if rest.is_empty() || rest.starts_with('/') {
            return policies::handle(core, req, rest.trim_start_matches('/'), true).await;
        }
    }
    if bare == "sys/metrics" {
        return metrics::read(core, req).await;
    }
    if bare == "sys/ha-status" {
        return health::ha_status(core, req).await;
    }
    if let Some(rest) = bare.strip_prefix("sys/leases") {
        return leases::handle(core, req, rest.trim_start_matches('/'), path.ends_with('/')).await;
    }
    // Vault's legacy aliases: sys/renew, sys/revoke, sys/revoke-prefix, sys/revoke-force.
    for legacy in ["renew", "revoke", "revoke-prefix", "revoke-force"] {
        let base = format!("sys/{legacy}");
        if bare == base || bare.starts_with(&format!("{base}/")) {
            let rest = bare.strip_prefix("sys/").unwrap_or(bare);
            return leases::handle(core, req, rest, path.ends_with('/')).await;
        }
    }
    Err(Error::NoRoute(bare.to_owned()))
}
