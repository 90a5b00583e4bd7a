//! The approval endpoints, every one behind the ACL like any `sys/` path:
//! - `sys/control-group/authorize` `{accessor, comment}` (Vault's path) and
//!   `sys/control-group/deny` `{accessor, comment}`: an approver's decision;
//! - `sys/control-group/request` `{accessor}` (Vault's): the request and its approvals;
//! - `LIST sys/control-group/requests` with filters `role`, `mount`, `requester`, `min_age`,
//!   `approvable`: the open requests, for approvers;
//! - `sys/approval/tiers/:name` (read, write, delete, list): the tiers roles name;
//! - `sys/config/control-group` (read, write, delete): `max_ttl` and the webhook.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Map, Value};

use super::super::api::{ApiRequest, ApiResponse, Method};
use super::super::Core;
use super::role_label;
use crate::approval::events::{self, Subject};
use crate::approval::notify::WebhookConfig;
use crate::approval::request::{Approval, Denial, Party, RequestState};
use crate::approval::tier::Tier;
use crate::approval::{no_such_request, ApprovalConfig};
use crate::auth::TokenEntry;
use crate::error::{Error, Result};

/// `sys/control-group/<rest>`.
pub async fn control_group(
    core: &Core,
    req: &ApiRequest,
    token: &TokenEntry,
    rest: &str,
) -> Result<ApiResponse> {
    match (rest, req.method) {
        ("authorize", Method::Write) => decide(core, req, token, true).await,
        ("deny", Method::Write) => decide(core, req, token, false).await,
        ("request", Method::Write | Method::Get) => request(core, req).await,
        ("requests", Method::List | Method::Get) => list(core, req, token).await,
        ("authorize" | "deny" | "request" | "requests", _) => Err(Error::UnsupportedOperation),
        _ => Err(Error::NoRoute(format!("sys/control-group/{rest}"))),
    }
}

fn accessor_field(req: &ApiRequest) -> Result<String> {
    match req.data.get("accessor") {
        Some(Value::String(a)) if !a.trim().is_empty() => Ok(a.trim().to_owned()),
        _ => Err(Error::invalid(
            "missing \"accessor\": the request's wrapping token accessor",
        )),
    }
}

fn comment_field(req: &ApiRequest) -> Result<String> {
    match req.data.get("comment") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(c)) if c.len() <= 1024 => Ok(c.trim().to_owned()),
        Some(Value::String(_)) => Err(Error::invalid("comment: at most 1024 characters")),
        Some(_) => Err(Error::invalid("comment must be a string")),
    }
}

/// Refuse fields the endpoint does not know: a misspelt field must not be ignored.
fn only_fields(req: &ApiRequest, known: &[&str]) -> Result<()> {
    match req.data.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Error::invalid(format!(
            "unknown field {k:?} (expected {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Approve (`approve`) or deny the request named by `accessor`.
async fn decide(
    core: &Core,
    req: &ApiRequest,
    token: &TokenEntry,
    approve: bool,
) -> Result<ApiResponse> {
    only_fields(req, &["accessor", "comment"])?;
    let accessor = accessor_field(req)?;
    let comment = comment_field(req)?;
    let current = core
        .approvals
        .request(&accessor)
        .await?
        .ok_or_else(|| Error::invalid(no_such_request(&accessor)))?;
    let now = core.leases.now_ms();
    let ancestors = core.ancestors(token).await?;
    let refuse = |e: crate::approval::request::Refusal| Error::invalid(e.to_string());
    let factors = current.may_decide(token, &ancestors, now).map_err(refuse)?;
    let me = Party::of(token).identity();
    if approve
        && current
            .approvals
            .iter()
            .any(|a| a.approver.identity() == me)
    {
        // This approver approved already: nothing changes, so nothing new goes on the record.
        let mut data = Map::new();
        data.insert("approved".into(), json!(false));
        return Ok(ApiResponse::data("system", data));
    }
    // On the record before it takes effect.
    let completes = approve && {
        let mut preview = current.clone();
        preview.add_approval(Approval {
            approver: Party::of(token),
            factors: factors.clone(),
            time: now,
            comment: comment.clone(),
        });
        preview.state == RequestState::Approved
    };
    let entry = events::entry(
        now,
        if approve { "approved" } else { "denied" },
        &Subject::of(&current),
        events::fields([
            ("by", events::party(&Party::of(token))),
            ("factors", json!(factors)),
            ("comment", json!(comment)),
            ("request_approved", json!(completes)),
        ]),
    );
    core.audit.log(|_| entry.clone()).await?;
    let updated = core
        .approvals
        .update(&accessor, |r| {
            let factors = r.may_decide(token, &ancestors, now).map_err(refuse)?;
            if approve {
                Ok(r.add_approval(Approval {
                    approver: Party::of(token),
                    factors,
                    time: now,
                    comment: comment.clone(),
                }))
            } else {
                r.state = RequestState::Denied;
                r.denial = Some(Denial {
                    by: Party::of(token),
                    time: now,
                    comment: comment.clone(),
                });
                Ok(true)
            }
        })
        .await?;
    let waited = (now - updated.created).to_std().unwrap_or(Duration::ZERO);
    let label = role_label(&updated.mount_path, &updated.role);
    match updated.state {
        RequestState::Approved if current.state == RequestState::Pending => {
            core.metrics.approval_decided(&label, "approved", waited);
            core.notify("approval.approved", &entry).await;
        }
        RequestState::Denied => {
            core.metrics.approval_decided(&label, "denied", waited);
            // Nothing can be collected: the handle goes.
            let _ = core.revoke_token(&accessor, false, true).await;
            core.notify("approval.denied", &entry).await;
        }
        _ => {}
    }
    let mut data = Map::new();
    data.insert(
        "approved".into(),
        json!(updated.state == RequestState::Approved),
    );
    if !approve {
        data.insert("denied".into(), json!(true));
    }
    Ok(ApiResponse::data("system", data))
}

/// `sys/control-group/request`: the request behind `accessor`.
async fn request(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    only_fields(req, &["accessor"])?;
    let accessor = accessor_field(req)?;
    let record = core
        .approvals
        .request(&accessor)
        .await?
        .ok_or_else(|| Error::invalid(no_such_request(&accessor)))?;
    Ok(ApiResponse::data("system", record.to_data()))
}

/// `LIST sys/control-group/requests`: open requests, filtered.
async fn list(core: &Core, req: &ApiRequest, token: &TokenEntry) -> Result<ApiResponse> {
    only_fields(
        req,
        &[
            "list",
            "role",
            "mount",
            "requester",
            "min_age",
            "approvable",
        ],
    )?;
    let text = |k: &str| -> Result<Option<String>> {
        match req.data.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(Error::invalid(format!("{k} must be a string"))),
        }
    };
    let role = text("role")?;
    let mount = text("mount")?.map(|m| format!("{}/", m.trim_end_matches('/')));
    let requester = text("requester")?;
    let min_age = match req.data.get("min_age") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(v) => leasehold_backend::duration::parse_duration_value(v)
            .map_err(|e| Error::invalid(format!("min_age: {e}")))?,
    };
    let approvable = match text("approvable")?.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Error::invalid(format!(
                "approvable: {other:?} is not true or false"
            )))
        }
    };
    let now = core.leases.now_ms();
    let ancestors = if approvable {
        core.ancestors(token).await?
    } else {
        Vec::new()
    };
    let mut keys = Vec::new();
    let mut info = Map::new();
    for r in core.approvals.open_requests().await? {
        let age = (now - r.created).to_std().unwrap_or(Duration::ZERO);
        let keep = !r.is_past(now)
            && role.as_ref().is_none_or(|x| *x == r.role)
            && mount.as_ref().is_none_or(|x| *x == r.mount_path)
            && requester
                .as_ref()
                .is_none_or(|x| *x == r.requester.workload || *x == r.requester.accessor)
            && age >= min_age
            && (!approvable || r.may_decide(token, &ancestors, now).is_ok());
        if !keep {
            continue;
        }
        info.insert(
            r.accessor.clone(),
            json!({
                "state": r.state.as_str(), "path": r.path, "mount": r.mount_path, "role": r.role,
                "tier": r.tier_name, "purpose": r.purpose, "ticket": r.ticket,
                "requester_workload": r.requester.workload,
                "requester_display_name": r.requester.display_name,
                "created": r.created, "expires": r.expires, "age_seconds": age.as_secs(),
                "approvals": r.approvals.len(),
            }),
        );
        keys.push(r.accessor);
    }
    if keys.is_empty() {
        return Err(Error::NotFound);
    }
    let mut data = Map::new();
    data.insert("keys".into(), json!(keys));
    data.insert("key_info".into(), Value::Object(info));
    Ok(ApiResponse::data("system", data))
}

/// `sys/approval/tiers[/name]`.
pub async fn tiers(core: &Core, req: &ApiRequest, rest: &str) -> Result<ApiResponse> {
    if rest.is_empty() {
        return match req.method {
            Method::List | Method::Get if req.is_list() || req.method == Method::List => {
                let names = core.approvals.tier_names().await?;
                if names.is_empty() {
                    return Err(Error::NotFound);
                }
                Ok(ApiResponse::data("system", super::super::keys(names)))
            }
            _ => Err(Error::UnsupportedOperation),
        };
    }
    if !leasehold_backend::name::is_valid(rest) {
        return Err(Error::invalid(
            leasehold_backend::name::InvalidName(rest.to_owned()).to_string(),
        ));
    }
    match req.method {
        Method::Get => {
            let tier = core.approvals.tier(rest).await?.ok_or(Error::NotFound)?;
            Ok(ApiResponse::data("system", tier.to_data()))
        }
        Method::Write => {
            let current = core.approvals.tier(rest).await?;
            let tier = Tier::from_fields(current, &req.data).map_err(Error::invalid)?;
            core.approvals.put_tier(rest, &tier).await?;
            Ok(ApiResponse::NoContent)
        }
        Method::Delete => {
            core.approvals.delete_tier(rest).await?;
            Ok(ApiResponse::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// `sys/config/control-group`.
pub async fn config(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    match req.method {
        Method::Get => {
            let c = core.approvals.config().await?;
            let mut data = Map::new();
            data.insert("max_ttl".into(), json!(c.max_ttl_secs));
            data.insert("notify_url".into(), json!(c.notify_url));
            data.insert("notify_secret_set".into(), json!(c.notify_secret.is_some()));
            Ok(ApiResponse::data("system", data))
        }
        Method::Write => {
            only_fields(req, &["max_ttl", "notify_url", "notify_secret"])?;
            let mut c: ApprovalConfig = core.approvals.config().await?;
            if let Some(v) = req.data.get("max_ttl") {
                c.max_ttl_secs = leasehold_backend::duration::parse_duration_value(v)
                    .map_err(|e| Error::invalid(format!("max_ttl: {e}")))?
                    .as_secs();
            }
            if let Some(v) = req.data.get("notify_url") {
                c.notify_url = v
                    .as_str()
                    .ok_or_else(|| Error::invalid("notify_url must be a string"))?
                    .trim()
                    .to_owned();
            }
            if let Some(v) = req.data.get("notify_secret") {
                let s = v
                    .as_str()
                    .ok_or_else(|| Error::invalid("notify_secret must be a string"))?;
                c.notify_secret = (!s.is_empty()).then(|| SecretString::from(s.to_owned()));
            }
            if !c.notify_url.is_empty() {
                let secret = c.notify_secret.as_ref().ok_or_else(|| {
                    Error::invalid("notify_url needs notify_secret: every notification is signed")
                })?;
                WebhookConfig::new(
                    &c.notify_url,
                    SecretString::from(secrecy::ExposeSecret::expose_secret(secret).to_owned()),
                )
                .map_err(Error::invalid)?;
            }
            core.approvals.put_config(&c).await?;
            Ok(ApiResponse::NoContent)
        }
        Method::Delete => {
            core.approvals.delete_config().await?;
            Ok(ApiResponse::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}
