//! The lease API: `sys/leases/{lookup,renew,revoke,revoke-prefix,revoke-force,tidy,count}`,
//! `sys/leases/list` (filtered and paged, `lease_list.rs`), `sys/leases/counts` (`lease_counts.rs`),
//! `sys/leases/durations` (`lease_durations.rs`), `sys/leases/workload-tokens` (`workload_tokens.rs`),
//! `sys/leases/history` and `sys/leases/history/summary` (`lease_history.rs`),
//! `sys/leases?type=irrevocable`, and the legacy `sys/{renew,revoke,revoke-prefix,revoke-force}`.

use std::time::Duration;

use leasehold_backend::duration::parse_duration_value;
use leasehold_backend::request::parse_bool;
use serde_json::{json, Map, Value};

use crate::core::api::{ApiRequest, ApiResponse, Envelope, Method};
use crate::core::{keys, Core};
use crate::error::{Error, LeaseProblem, Result};
use crate::lease::id::{child_key, normalize_prefix};
use crate::lease::{LeaseRecord, TOKEN_LEASE_KIND};

/// Serve a lease path. `rest` is below `sys/leases/` (or the legacy name: `renew/<id>`), as
/// routed: a trailing `/` is left only on a revoke-prefix/revoke-force prefix, where it counts.
pub async fn handle(core: &Core, req: &ApiRequest, rest: &str) -> Result<ApiResponse> {
    let trailing = rest.ends_with('/');
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (op, arg) = match rest.split_once('/') {
        Some((op, arg)) => (op, arg),
        None => (rest, ""),
    };
    let write = req.method == Method::Write;
    match op {
        "" if matches!(req.method, Method::Get | Method::List) => irrevocable(core, req).await,
        "lookup" if req.is_list() => {
            let prefix = if arg.is_empty() {
                String::new()
            } else {
                format!("{arg}/")
            };
            list(core, &prefix).await
        }
        "lookup" if write => lookup(core, &lease_id(req, arg)?).await,
        "renew" if write => renew(core, req, &lease_id(req, arg)?).await,
        "revoke" if write => {
            let id = lease_id(req, arg)?;
            let sync = sync_flag(req)?;
            core.leases.revoke(&id, sync).await?;
            Ok(if sync {
                ApiResponse::NoContent
            } else {
                ApiResponse::Accepted
            })
        }
        "revoke-prefix" if write => {
            let prefix = prefix_arg(req, arg, trailing)?;
            let sync = sync_flag(req)?;
            core.leases.revoke_prefix(&prefix, sync).await?;
            Ok(if sync {
                ApiResponse::NoContent
            } else {
                ApiResponse::Accepted
            })
        }
        "revoke-force" if write => {
            let prefix = prefix_arg(req, arg, trailing)?;
            let warnings = core.leases.revoke_force(&prefix).await?;
            if warnings.is_empty() {
                Ok(ApiResponse::NoContent)
            } else {
                Ok(ApiResponse::Ok(Envelope {
                    warnings,
                    mount_type: "system".into(),
                    ..Envelope::default()
                }))
            }
        }
        "tidy" if write => tidy(core),
        "revoke-workload" if write => revoke_workload(core, req, arg).await,
        "reconcile" if matches!(req.method, Method::Get | Method::Write) => {
            let mount = req
                .data
                .get("mount")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mount = mount.or_else(|| (!arg.is_empty()).then(|| arg.to_owned()));
            let destroy = match req.data.get("destroy") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => {
                    parse_bool(s).ok_or_else(|| Error::invalid("invalid value for \"destroy\""))?
                }
                Some(_) => return Err(Error::invalid("field \"destroy\" must be a boolean")),
            };
            if destroy && req.method != Method::Write {
                return Err(Error::invalid("destroy=true needs PUT or POST"));
            }
            let report = core.reconcile(mount.as_deref(), destroy).await?;
            Ok(ApiResponse::data("system", report.to_json()))
        }
        "count" if req.method == Method::Get => count(core, req).await,
        "list" if arg.is_empty() && matches!(req.method, Method::Get | Method::List) => {
            super::lease_list::handle(core, req).await
        }
        "history" if arg.is_empty() && matches!(req.method, Method::Get | Method::List) => {
            super::lease_history::handle(core, req).await
        }
        "history" if arg == "summary" && req.method == Method::Get => {
            super::lease_history_summary::handle(core, req).await
        }
        "counts" if arg.is_empty() && req.method == Method::Get => {
            super::lease_counts::handle(core, req).await
        }
        "durations" if arg.is_empty() && req.method == Method::Get => {
            super::lease_durations::handle(core, req)
        }
        "workload-tokens" if arg.is_empty() && req.method == Method::Get => {
            super::workload_tokens::handle(core, req).await
        }
        "lookup" | "renew" | "revoke" | "revoke-prefix" | "revoke-force" | "tidy" | "count"
        | "revoke-workload" | "reconcile" | "list" | "counts" | "durations" | "workload-tokens"
        | "history" | "" => Err(Error::UnsupportedOperation),
        _ => Err(Error::NoRoute(format!("sys/leases/{rest}"))),
    }
}

/// `sys/leases/revoke-workload`: everything a workload holds, in one call (leasehold's own).
async fn revoke_workload(core: &Core, req: &ApiRequest, from_url: &str) -> Result<ApiResponse> {
    let workload = req
        .data
        .get("workload")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| from_url.to_owned());
    let report = core.revoke_workload(&workload, sync_flag(req)?).await?;
    Ok(report.into_response("system"))
}

/// The lease id from the body (which wins, as in Vault) or the URL.
fn lease_id(req: &ApiRequest, from_url: &str) -> Result<String> {
    match req.data.get("lease_id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.trim_start_matches('/').to_owned()),
        Some(Value::String(_)) | None if !from_url.is_empty() => Ok(from_url.to_owned()),
        _ => Err(Error::Lease(LeaseProblem::MissingId)),
    }
}

/// The prefix for revoke-prefix/force: from the URL (hvac strips the trailing slash and repeats the
/// original in the body as `prefix`; node-vault sends `path_prefix`).
fn prefix_arg(req: &ApiRequest, from_url: &str, trailing: bool) -> Result<String> {
    let from_body = ["prefix", "path_prefix"]
        .iter()
        .find_map(|k| req.data.get(*k).and_then(Value::as_str))
        .filter(|s| s.trim_end_matches('/') == from_url);
    let raw = match from_body {
        Some(body) => body.to_owned(),
        None if trailing => format!("{from_url}/"),
        None => from_url.to_owned(),
    };
    let prefix = normalize_prefix(&raw);
    if prefix.is_empty() {
        return Err(Error::invalid("prefix is required"));
    }
    Ok(prefix)
}

fn sync_flag(req: &ApiRequest) -> Result<bool> {
    match req.data.get("sync") {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => parse_bool(s)
            .ok_or_else(|| Error::invalid(format!("invalid value for \"sync\": {s:?}"))),
        Some(_) => Err(Error::invalid("field \"sync\" must be a boolean")),
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

async fn lookup(core: &Core, id: &str) -> Result<ApiResponse> {
    let lease = match core.leases.get(id).await? {
        Some(l) if l.state != crate::lease::LeaseState::Revoked => l,
        // Vault answers "invalid lease" for a lease that is over; a tombstone of a failed issue
        // also says why it ended (nothing created, or whatever was made destroyed).
        Some(l) => {
            return Err(Error::Lease(match l.issue_failure() {
                Some(reason) => LeaseProblem::EndedByFailedIssue {
                    reason: reason.to_owned(),
                },
                None => LeaseProblem::Invalid,
            }))
        }
        None => return Err(Error::Lease(LeaseProblem::Invalid)),
    };
    Ok(ApiResponse::data("system", lookup_data(core, &lease)))
}

/// Vault's lookup fields plus ours: where the lease is in its life and why destruction failed.
fn lookup_data(core: &Core, l: &LeaseRecord) -> Map<String, Value> {
    let now = core.clock.now();
    let ttl = (l.expire_time - now).num_seconds().max(0);
    let irrevocable = l.attempts >= core.leases.settings().irrevocable_after
        && l.state == crate::lease::LeaseState::Revoking;
    let mut m = Map::new();
    m.insert("id".into(), json!(l.id));
    m.insert("issue_time".into(), json!(rfc3339(l.issue_time)));
    m.insert("expire_time".into(), json!(rfc3339(l.expire_time)));
    m.insert("last_renewal".into(), json!(l.last_renewal.map(rfc3339)));
    m.insert(
        "renewable".into(),
        json!(l.renewable && l.state == crate::lease::LeaseState::Active),
    );
    m.insert("ttl".into(), json!(ttl));
    m.insert("state".into(), json!(l.state.as_str()));
    m.insert("mount".into(), json!(l.mount_path));
    m.insert("role".into(), json!(l.role));
    m.insert("account".into(), json!(l.account));
    m.insert("workload".into(), json!(l.workload));
    m.insert("purpose".into(), json!(l.purpose));
    m.insert("ticket".into(), json!(l.ticket));
    m.insert("token_accessor".into(), json!(l.token_accessor));
    m.insert("revoke_attempts".into(), json!(l.attempts));
    m.insert("revoke_error".into(), json!(l.last_error));
    m.insert("irrevocable".into(), json!(irrevocable));
    let next = (l.state == crate::lease::LeaseState::Revoking)
        .then(|| l.due_at.map(rfc3339))
        .flatten();
    m.insert("next_revoke_attempt".into(), json!(next));
    // Checked now, not read from the flag: a row edited since the engine last touched it shows
    // here before the worker finds it. `failed` means no column of this answer can be trusted.
    let intact = core.leases.verify_row(l);
    m.insert(
        "integrity".into(),
        json!(if intact { "ok" } else { "failed" }),
    );
    m.insert("tampered_at".into(), json!(l.tampered_at.map(rfc3339)));
    m
}

async fn list(core: &Core, prefix: &str) -> Result<ApiResponse> {
    let mut out: Vec<String> = Vec::new();
    for lease in core.leases.list_live(prefix).await? {
        if let Some(k) = child_key(prefix, &lease.id) {
            if out.last() != Some(&k) && !out.contains(&k) {
                out.push(k);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::NotFound);
    }
    Ok(ApiResponse::data("system", keys(out)))
}

async fn renew(core: &Core, req: &ApiRequest, id: &str) -> Result<ApiResponse> {
    let increment = match req.data.get("increment") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(v) => parse_duration_value(v)
            .map_err(|e| Error::invalid(format!("invalid value for \"increment\": {e}")))?,
    };
    // A token's row in the lease table is its reaper: renewing it here would push back the
    // revocation of the token's children and every account they obtained, while the token
    // itself still expires on time. Tokens renew through `auth/token/renew*`, which moves both.
    // (Vault refuses the same; revoking a token lease here stays allowed.)
    if core
        .leases
        .get(id)
        .await?
        .is_some_and(|lease| lease.kind == TOKEN_LEASE_KIND)
    {
        return Err(Error::invalid(
            "tokens cannot be renewed through this endpoint",
        ));
    }
    let renewed = core.leases.renew(id, increment).await?;
    Ok(ApiResponse::Ok(Envelope {
        lease_id: renewed.lease.id,
        renewable: true,
        lease_duration: renewed.ttl.as_secs(),
        warnings: renewed.warning.into_iter().collect(),
        mount_type: "system".into(),
        ..Envelope::default()
    }))
}

fn tidy(core: &Core) -> Result<ApiResponse> {
    let engine = core.leases.clone();
    tokio::spawn(async move { crate::core::tidy_sweep::tidy(&engine).await });
    Ok(ApiResponse::AcceptedEnvelope(Envelope {
        warnings: vec!["Tidy operation successfully started. Any information from the operation will be printed to leasehold's server logs.".into()],
        mount_type: "system".into(),
        ..Envelope::default()
    }))
}

fn wants_irrevocable(req: &ApiRequest) -> bool {
    req.data
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("irrevocable"))
}

async fn count(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if !wants_irrevocable(req) {
        return Err(Error::invalid("type must be \"irrevocable\""));
    }
    let leases = core.leases.irrevocable(usize::MAX >> 1).await?;
    let mut counts: Map<String, Value> = Map::new();
    for l in &leases {
        let accessor = mount_accessor(core, l);
        let n = counts.get(&accessor).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(accessor, json!(n + 1));
    }
    let mut data = Map::new();
    data.insert("lease_count".into(), json!(leases.len()));
    data.insert("counts".into(), Value::Object(counts));
    Ok(ApiResponse::data("system", data))
}

fn mount_accessor(core: &Core, l: &LeaseRecord) -> String {
    core.mounts
        .get(&l.mount_path)
        .filter(|m| m.entry.uuid == l.mount_uuid)
        .map(|m| m.entry.accessor)
        .unwrap_or_else(|| l.mount_uuid.clone())
}

async fn irrevocable(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if !wants_irrevocable(req) {
        return Err(Error::invalid("type must be \"irrevocable\""));
    }
    let limit = match req.data.get("limit") {
        None | Some(Value::Null) => 10_000usize,
        Some(Value::String(s)) if s == "none" => usize::MAX >> 1,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Error::invalid("limit must be a number or \"none\""))?,
    };
    let leases = core.leases.irrevocable(limit.saturating_add(1)).await?;
    let truncated = leases.len() > limit;
    let list: Vec<Value> = leases
        .iter()
        .take(limit)
        .map(|l| {
            let tampered = l.tampered_at.is_some() || !core.leases.verify_row(l);
            let error = if tampered {
                Some(
                    "lease row failed its integrity check (edited in storage); not acted on"
                        .to_owned(),
                )
            } else {
                l.last_error.clone()
            };
            json!({"lease_id": l.id, "mount_id": mount_accessor(core, l), "error": error,
                "attempts": l.attempts, "tampered": tampered})
        })
        .collect();
    let mut data = Map::new();
    data.insert("lease_count".into(), json!(list.len()));
    data.insert("leases".into(), Value::Array(list));
    let warnings = if truncated {
        vec![format!(
            "more than {limit} irrevocable leases; rerun with limit=none to see all"
        )]
    } else {
        Vec::new()
    };
    Ok(ApiResponse::Ok(Envelope {
        data: Some(data),
        warnings,
        mount_type: "system".into(),
        ..Envelope::default()
    }))
}
