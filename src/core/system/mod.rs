//! The `sys/` paths: health and seal status, the mount table, the lease API, and response
//! wrapping (served by `core::wrapping`).

pub mod audit;
pub mod capabilities;
pub mod health;
pub mod history_export;
pub mod keys;
pub mod lease_counts;
pub mod lease_durations;
pub mod lease_history;
pub mod lease_history_summary;
pub mod lease_list;
pub mod leases;
pub mod metrics;
pub mod mounts;
pub mod policies;
pub mod workload_tokens;

use super::api::{ApiRequest, ApiResponse};
use super::Core;
use crate::auth::TokenEntry;
use crate::core::mounts::MountKind;
use crate::error::{Error, Result};
use crate::http::path::below;

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

/// Authenticated `sys/` paths. `route` is the request's route path
/// ([`ApiRequest::route_path`]): every match below is on whole segments, and a trailing `/` is
/// only forgiven where the handler takes a prefix (revoke-prefix, revoke-force).
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    token: &TokenEntry,
    route: &str,
) -> Result<ApiResponse> {
    if route.ends_with('/') && !takes_prefix(route) {
        // Vault's patterns are anchored: `sys/leases/renew/` is not `sys/leases/renew`.
        return Err(Error::NoRoute(route.to_owned()));
    }
    if let Some(rest) = below(route, "sys/control-group") {
        return crate::core::approvals::paths::control_group(core, req, token, rest).await;
    }
    if let Some(rest) = below(route, "sys/approval/tiers") {
        return crate::core::approvals::paths::tiers(core, req, rest).await;
    }
    if route == "sys/config/control-group" {
        return crate::core::approvals::paths::config(core, req).await;
    }
    if let Some(rest) = below(route, "sys/wrapping") {
        return crate::core::wrapping::handle(core, req, token, rest).await;
    }
    if below(route, "sys/mounts").is_some() {
        return mounts::handle(core, req, route, MountKind::Secrets).await;
    }
    if let Some(rest) = below(route, "sys/audit-hash") {
        return audit::hash(core, req, rest);
    }
    if let Some(rest) = below(route, "sys/audit") {
        return audit::handle(core, req, rest).await;
    }
    if below(route, "sys/auth").is_some() {
        return mounts::handle(core, req, route, MountKind::Auth).await;
    }
    if let Some(rest) = below(route, "sys/policies/acl") {
        return policies::handle(core, req, rest, false).await;
    }
    if let Some(rest) = below(route, "sys/policy") {
        return policies::handle(core, req, rest, true).await;
    }
    if let Some(rest) = below(route, "sys/quotas") {
        return crate::core::quotas::paths::handle(core, req, rest).await;
    }
    if route == "sys/metrics" {
        return metrics::read(core, req).await;
    }
    for (name, whose) in [
        ("sys/capabilities-self", capabilities::Whose::Caller),
        ("sys/capabilities", capabilities::Whose::Token),
        ("sys/capabilities-accessor", capabilities::Whose::Accessor),
    ] {
        if route == name {
            return capabilities::handle(core, req, token, whose).await;
        }
    }
    if route == "sys/rotate" {
        return keys::rotate(core, req).await;
    }
    if route == "sys/key-status" {
        return keys::status(core, req).await;
    }
    if route == "sys/ha-status" {
        return health::ha_status(core, req).await;
    }
    if let Some(rest) = below(route, "sys/leases") {
        return leases::handle(core, req, rest).await;
    }
    // Vault's legacy aliases: sys/renew, sys/revoke, sys/revoke-prefix, sys/revoke-force.
    for legacy in ["renew", "revoke", "revoke-prefix", "revoke-force"] {
        if below(route, &format!("sys/{legacy}")).is_some() {
            let rest = route.strip_prefix("sys/").unwrap_or(route);
            return leases::handle(core, req, rest).await;
        }
    }
    Err(Error::NoRoute(route.to_owned()))
}

/// The handlers whose argument is a lease prefix, where a trailing `/` is part of the argument
/// (`revoke-prefix/database/creds/` is not `revoke-prefix/database/creds`).
fn takes_prefix(route: &str) -> bool {
    [
        "sys/leases/revoke-prefix",
        "sys/leases/revoke-force",
        "sys/revoke-prefix",
        "sys/revoke-force",
    ]
    .iter()
    .any(|p| below(route, p).is_some_and(|arg| !arg.is_empty()))
}
