//! The `sys/quotas/*` handlers: `config`, `rate-limit[/:name]`, `lease-count[/:name]`. Like
//! Vault, they are ordinary ACL paths (no `sudo`). Unknown fields are refused, not ignored: a
//! misspelt `max_leases` must not leave a quota without its cap.

use serde_json::{json, Map, Value};

use super::config::QuotaConfig;
use super::lease_count::LeaseCountQuota;
use super::matching::Scope;
use super::rate_limit::RateLimitQuota;
use super::{LEASE_COUNT_PREFIX, RATE_LIMIT_PREFIX};
use crate::core::api::{ApiRequest, ApiResponse, Method};
use crate::core::{keys, Core};
use crate::error::{Error, Result};
use crate::http::path::below;

/// Serve `sys/quotas/<rest>`.
pub async fn handle(core: &Core, req: &ApiRequest, rest: &str) -> Result<ApiResponse> {
    if rest == "config" {
        return config(core, req).await;
    }
    if let Some(name) = below(rest, "rate-limit") {
        return rate_limit(core, req, name).await;
    }
    if let Some(name) = below(rest, "lease-count") {
        return lease_count(core, req, name).await;
    }
    Err(Error::NoRoute(format!("sys/quotas/{rest}")))
}

async fn config(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    let current = core.quotas.current().config.clone();
    match req.method {
        Method::Get => Ok(ApiResponse::data("system", object(json!(current)))),
        Method::Write => {
            let d = &req.data;
            only(
                d,
                &[
                    "rate_limit_exempt_paths",
                    "enable_rate_limit_audit_logging",
                    "enable_rate_limit_response_headers",
                ],
            )?;
            // Vault updates only the fields sent.
            let config = QuotaConfig {
                rate_limit_exempt_paths: match d.get("rate_limit_exempt_paths") {
                    Some(v) => strings(v, "rate_limit_exempt_paths")?,
                    None => current.rate_limit_exempt_paths,
                },
                enable_rate_limit_audit_logging: boolean(d, "enable_rate_limit_audit_logging")?
                    .unwrap_or(current.enable_rate_limit_audit_logging),
                enable_rate_limit_response_headers: boolean(
                    d,
                    "enable_rate_limit_response_headers",
                )?
                .unwrap_or(current.enable_rate_limit_response_headers),
            };
            core.quotas.put(super::CONFIG_KEY, &config).await?;
            Ok(ApiResponse::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn rate_limit(core: &Core, req: &ApiRequest, name: &str) -> Result<ApiResponse> {
    let loaded = core.quotas.current();
    if name.is_empty() {
        return list(req, loaded.rate_limits.iter().map(|q| q.name.clone()));
    }
    let name = quota_name(name)?;
    let existing = loaded.rate_limits.iter().find(|q| q.name == name);
    match req.method {
        Method::Get => {
            let q = existing.ok_or(Error::NotFound)?;
            Ok(ApiResponse::data(
                "system",
                object(json!({
                    "name": q.name,
                    "type": "rate-limit",
                    "path": q.scope.display(),
                    "role": q.role.clone().unwrap_or_default(),
                    "rate": q.rate,
                    "interval": q.interval.as_secs(),
                    "block_interval": q.block_interval.as_secs(),
                    "inheritable": q.inheritable,
                })),
            ))
        }
        Method::Write => {
            let d = &req.data;
            only(
                d,
                &[
                    "name",
                    "path",
                    "role",
                    "rate",
                    "interval",
                    "block_interval",
                    "inheritable",
                ],
            )?;
            let scope = scope(core, d, existing.map(|q| &q.scope))?;
            // As Vault: a role names an auth method's role, so its logins are limited apart from
            // the rest of the method's; the path must then be that method's mount.
            let role = match d.get("role") {
                Some(Value::String(r)) if r.is_empty() => None,
                Some(Value::String(r)) => Some(r.clone()),
                Some(Value::Null) => None,
                Some(_) => return Err(Error::invalid("role must be a string")),
                None => existing.and_then(|q| q.role.clone()),
            };
            if role.is_some()
                && !matches!(&scope, Scope::Mount(m) if m.starts_with("auth/") && m != "auth/token/")
            {
                return Err(Error::invalid(
                    "role can only be set on a rate-limit quota whose path is an auth method's mount (for example \"auth/approle/\")",
                ));
            }
            let rate = match d.get("rate") {
                Some(v) => number(v, "rate")?,
                None => existing.map(|q| q.rate).unwrap_or(0.0),
            };
            if !(rate.is_finite() && rate > 0.0) {
                return Err(Error::invalid("rate must be positive"));
            }
            let interval = match d.get("interval") {
                Some(v) => duration(v, "interval")?,
                None => existing.map(|q| q.interval).unwrap_or_default(),
            };
            let interval = if interval.is_zero() {
                std::time::Duration::from_secs(1)
            } else {
                interval
            };
            let block_interval = match d.get("block_interval") {
                Some(v) => duration(v, "block_interval")?,
                None => existing.map(|q| q.block_interval).unwrap_or_default(),
            };
            let inheritable = inheritable(d, &scope, existing.map(|q| q.inheritable))?;
            if let Some(other) = loaded
                .rate_limits
                .iter()
                .find(|q| q.name != name && q.scope == scope && q.role == role)
            {
                return Err(similar(&other.name));
            }
            let quota = RateLimitQuota {
                name: name.clone(),
                role,
                scope,
                rate,
                interval,
                block_interval,
                inheritable,
            };
            core.quotas
                .put(&format!("{RATE_LIMIT_PREFIX}{name}"), &quota)
                .await?;
            Ok(ApiResponse::NoContent)
        }
        Method::Delete => {
            core.quotas
                .delete(&format!("{RATE_LIMIT_PREFIX}{name}"))
                .await?;
            Ok(ApiResponse::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn lease_count(core: &Core, req: &ApiRequest, name: &str) -> Result<ApiResponse> {
    let loaded = core.quotas.current();
    if name.is_empty() {
        return list(req, loaded.lease_counts.iter().map(|q| q.name.clone()));
    }
    let name = quota_name(name)?;
    let existing = loaded.lease_counts.iter().find(|q| q.name == name);
    match req.method {
        Method::Get => {
            let q = existing.ok_or(Error::NotFound)?;
            let counter = q.count(core.quotas.storage()).await?;
            Ok(ApiResponse::data(
                "system",
                object(json!({
                    "name": q.name,
                    "type": "lease-count",
                    "path": q.scope.display(),
                    "role": q.role.clone().unwrap_or_default(),
                    "max_leases": q.max_leases,
                    "counter": counter,
                    "inheritable": q.inheritable,
                })),
            ))
        }
        Method::Write => {
            let d = &req.data;
            only(d, &["name", "path", "role", "max_leases", "inheritable"])?;
            let scope = scope(core, d, existing.map(|q| &q.scope))?;
            let role = match d.get("role") {
                Some(Value::String(r)) if r.trim().is_empty() => None,
                Some(Value::String(r)) => Some(r.trim().to_owned()),
                Some(_) => return Err(Error::invalid("role must be a string")),
                None => existing.and_then(|q| q.role.clone()),
            };
            if role.is_some() && !matches!(scope, Scope::Mount(_)) {
                return Err(Error::invalid(
                    "role can only be set on a quota whose path is a mount (for example \"database/\")",
                ));
            }
            let max_leases = match d.get("max_leases") {
                Some(v) => integer(v, "max_leases")?,
                None => existing.map(|q| q.max_leases).unwrap_or(0),
            };
            if max_leases == 0 {
                return Err(Error::invalid("max_leases must be positive"));
            }
            let inheritable = inheritable(d, &scope, existing.map(|q| q.inheritable))?;
            if let Some(other) = loaded
                .lease_counts
                .iter()
                .find(|q| q.name != name && q.scope == scope && q.role == role)
            {
                return Err(similar(&other.name));
            }
            let quota = LeaseCountQuota {
                name: name.clone(),
                scope,
                role,
                max_leases,
                inheritable,
            };
            core.quotas
                .put(&format!("{LEASE_COUNT_PREFIX}{name}"), &quota)
                .await?;
            Ok(ApiResponse::NoContent)
        }
        Method::Delete => {
            core.quotas
                .delete(&format!("{LEASE_COUNT_PREFIX}{name}"))
                .await?;
            Ok(ApiResponse::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

fn list(req: &ApiRequest, names: impl Iterator<Item = String>) -> Result<ApiResponse> {
    if !matches!(req.method, Method::Get | Method::List) {
        return Err(Error::UnsupportedOperation);
    }
    let mut names: Vec<String> = names.collect();
    if names.is_empty() {
        return Err(Error::NotFound);
    }
    names.sort();
    Ok(ApiResponse::data("system", keys(names)))
}

fn quota_name(name: &str) -> Result<String> {
    if name.contains('/') || name.trim().is_empty() {
        return Err(Error::invalid(format!(
            "invalid quota name {name:?}: names cannot be empty or contain '/'"
        )));
    }
    Ok(name.to_owned())
}

fn similar(other: &str) -> Error {
    Error::invalid(format!(
        "quota rule with similar properties exists under the name {other:?}"
    ))
}

/// The quota's scope: `path` if sent, else the existing quota's, else global.
fn scope(core: &Core, d: &Map<String, Value>, existing: Option<&Scope>) -> Result<Scope> {
    let raw = match d.get("path") {
        Some(Value::String(p)) => p.clone(),
        Some(_) => return Err(Error::invalid("path must be a string")),
        None => return Ok(existing.cloned().unwrap_or(Scope::Global)),
    };
    Scope::parse(&raw, |p| mount_of(core, p)).map_err(Error::invalid)
}

/// The mount (as the mount table spells it) that serves `path`.
fn mount_of(core: &Core, path: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    if below(path, "sys").is_some() {
        return Some("sys/".into());
    }
    if below(path, "auth/token").is_some() {
        return Some("auth/token/".into());
    }
    if let Some(rest) = path.strip_prefix("auth/") {
        let (mount, _) = core.auth_mounts.route(&format!("{rest}/"))?;
        return Some(format!("auth/{}", mount.entry.path));
    }
    let (mount, _) = core.mounts.route(&format!("{path}/"))?;
    Some(mount.entry.path.clone())
}

fn inheritable(d: &Map<String, Value>, scope: &Scope, existing: Option<bool>) -> Result<bool> {
    let value = boolean(d, "inheritable")?
        .or(existing)
        .unwrap_or(*scope == Scope::Global);
    if value && *scope != Scope::Global {
        // Vault allows it on namespaces only; we have none, so only the global quota has
        // anything below it to inherit.
        return Err(Error::invalid(
            "inheritable can only be set on a global quota (empty path)",
        ));
    }
    Ok(value)
}

fn only(d: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match d.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::invalid(format!("unknown field {k:?}"))),
        None => Ok(()),
    }
}

fn boolean(d: &Map<String, Value>, field: &str) -> Result<Option<bool>> {
    match d.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| Error::invalid(format!("{field} must be a boolean"))),
        Some(_) => Err(Error::invalid(format!("{field} must be a boolean"))),
    }
}

fn number(v: &Value, field: &str) -> Result<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| Error::invalid(format!("{field} must be a number")))
}

fn integer(v: &Value, field: &str) -> Result<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| Error::invalid(format!("{field} must be a non-negative integer")))
}

fn duration(v: &Value, field: &str) -> Result<std::time::Duration> {
    leasehold_backend::duration::parse_duration_value(v)
        .map_err(|e| Error::invalid(format!("{field}: {e}")))
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>> {
    let bad = || Error::invalid(format!("{field} must be a list of strings"));
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.trim().trim_start_matches('/').to_owned())
                    .ok_or_else(bad)
            })
            .collect(),
        // Vault's framework also takes a comma-separated string.
        Value::String(s) => Ok(s
            .split(',')
            .map(|p| p.trim().trim_start_matches('/').to_owned())
            .filter(|p| !p.is_empty())
            .collect()),
        _ => Err(bad()),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
