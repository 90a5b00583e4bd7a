//! The shape of audit entries: one `request` and one `response` entry per call, joined by the
//! request id, and a `lease` entry per lifecycle event, joined to the calls by lease id. Secret
//! values are hashed with the device's key ([`super::hash`]); ids, paths, accessors and account
//! names stay readable, because the trail must say who asked and what was created.

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use super::hash::{hash, hash_strings};
use crate::auth::TokenEntry;
use crate::core::api::{ApiRequest, ApiResponse, Method, WrapInfo};
use crate::http::path::redact_token;
use crate::lease::events::LeaseEvent;

/// Keys left readable inside hashed data.
const KEEP: &[&str] = &[
    "lease_id", "username", "account", "accessor", "workload", "purpose", "ticket", "keys", "arn",
];

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn operation(req: &ApiRequest) -> &'static str {
    match req.method {
        Method::Get | Method::Head => "read",
        Method::List => "list",
        Method::Write => "update",
        Method::Delete => "delete",
    }
}

fn auth_json(key: &[u8], token: Option<&TokenEntry>, req: &ApiRequest) -> Value {
    match token {
        None => Value::Null,
        Some(t) => json!({
            "client_token": req.token.as_ref().map(|s| hash(key, s.expose_secret())),
            "accessor": t.accessor,
            "display_name": t.display_name,
            "policies": t.policies,
            "metadata": t.meta,
            "workload": t.workload,
        }),
    }
}

fn request_json(key: &[u8], req: &ApiRequest, request_id: &str) -> Value {
    let mut data = Value::Object(req.data.clone());
    hash_strings(key, &mut data, KEEP);
    json!({
        "id": request_id,
        "operation": operation(req),
        // A token carried in the path (`auth/token/lookup/<token>`) is hashed like any other.
        "path": redact_token(&req.path, |t| hash(key, t)),
        "remote_address": req.remote_addr.map(|a| a.to_string()),
        "data": data,
        "wrap_ttl": req.wrap_ttl.map_or(0, |t| t.as_secs()),
    })
}

/// The `request` entry, written before the request is served.
pub fn request(
    key: &[u8],
    at: DateTime<Utc>,
    req: &ApiRequest,
    request_id: &str,
    token: Option<&TokenEntry>,
) -> Value {
    json!({
        "time": ts(at),
        "type": "request",
        "auth": auth_json(key, token, req),
        "request": request_json(key, req, request_id),
    })
}

/// The `response` entry, written after the request was served (or refused).
pub fn response(
    key: &[u8],
    at: DateTime<Utc>,
    req: &ApiRequest,
    request_id: &str,
    token: Option<&TokenEntry>,
    result: Result<&ApiResponse, String>,
) -> Value {
    let (resp, error) = match result {
        Err(e) => (Value::Null, Value::String(e.clone())),
        Ok(r) => (response_json(key, r), Value::Null),
    };
    json!({
        "time": ts(at),
        "type": "response",
        "auth": auth_json(key, token, req),
        "request": request_json(key, req, request_id),
        "response": resp,
        "error": error,
    })
}

/// A wrapped response as Vault logs it: the wrapping token HMAC'd, the rest readable.
fn wrap_info_json(key: &[u8], wrap: &WrapInfo) -> Value {
    json!({
        "token": hash(key, wrap.token.expose_secret()),
        "accessor": wrap.accessor,
        "ttl": wrap.ttl,
        "creation_time": ts(wrap.creation_time),
        "creation_path": wrap.creation_path,
        "wrapped_accessor": wrap.wrapped_accessor,
    })
}

fn response_json(key: &[u8], r: &ApiResponse) -> Value {
    match r {
        ApiResponse::Ok(env) | ApiResponse::AcceptedEnvelope(env) => {
            let mut data: Map<String, Value> = env.data.clone().unwrap_or_default();
            for (k, v) in &env.secret_data {
                data.insert(k.clone(), Value::String(v.expose_secret().to_owned()));
            }
            let mut data = Value::Object(data);
            hash_strings(key, &mut data, KEEP);
            let mut auth = env.auth.clone().unwrap_or(Value::Null);
            if let Some(token) = auth.get_mut("client_token") {
                let plain = env.client_token.as_ref().map(ExposeSecret::expose_secret);
                if let Some(t) = plain.or(token.as_str()) {
                    *token = Value::String(hash(key, t));
                }
            }
            json!({
                "lease_id": env.lease_id,
                "lease_duration": env.lease_duration,
                "renewable": env.renewable,
                "data": data,
                "auth": auth,
                "warnings": env.warnings,
                "wrap_info": env.wrap_info.as_ref().map(|w| wrap_info_json(key, w)),
            })
        }
        ApiResponse::NoContent => json!({"status": 204}),
        ApiResponse::Accepted => json!({"status": 202}),
        ApiResponse::Raw { status, .. } => json!({"status": status}),
        ApiResponse::Redirect(_) => json!({"status": 308}),
        ApiResponse::Text { .. } => json!({"status": 200}),
    }
}

/// A `lease` entry for a lifecycle event, whether or not a request caused it.
pub fn lease_event(at: DateTime<Utc>, event: &LeaseEvent<'_>) -> Value {
    let mut e = json!({"time": ts(at), "type": "lease", "event": event.name()});
    let lease = match event {
        LeaseEvent::Issued { lease, .. }
        | LeaseEvent::IssueFailed { lease, .. }
        | LeaseEvent::Renewed { lease }
        | LeaseEvent::Expired { lease }
        | LeaseEvent::DestroyAttempt { lease, .. }
        | LeaseEvent::Destroyed { lease, .. }
        | LeaseEvent::Irrevocable { lease }
        | LeaseEvent::ForceRemoved { lease, .. }
        | LeaseEvent::Tampered { lease, .. } => Some(*lease),
        LeaseEvent::Orphan { .. } => None,
    };
    if let (Some(l), Some(obj)) = (lease, e.as_object_mut()) {
        obj.insert(
            "lease".into(),
            json!({
                "lease_id": l.id, "mount": l.mount_path, "role": l.role, "account": l.account,
                "token_accessor": l.token_accessor, "workload": l.workload, "state": l.state.as_str(),
                "issue_time": ts(l.issue_time), "expire_time": ts(l.expire_time),
                "revoked_time": l.revoked_time.map(ts), "attempts": l.attempts, "purpose": l.purpose, "ticket": l.ticket,
            }),
        );
    }
    if let Some(obj) = e.as_object_mut() {
        match event {
            LeaseEvent::Issued { latency, .. } => {
                obj.insert("latency_ms".into(), json!(latency.as_millis()));
            }
            LeaseEvent::IssueFailed { error, .. } | LeaseEvent::ForceRemoved { error, .. } => {
                obj.insert("error".into(), json!(error));
            }
            LeaseEvent::DestroyAttempt { error, lease } => {
                obj.insert(
                    "result".into(),
                    json!(if error.is_some() {
                        "failed"
                    } else {
                        "destroyed"
                    }),
                );
                obj.insert("error".into(), json!(error));
                obj.insert("next_attempt".into(), json!(lease.due_at.map(ts)));
            }
            LeaseEvent::Destroyed {
                privilege,
                overstay,
                sessions_terminated,
                receipt,
                ..
            } => {
                obj.insert("privilege_seconds".into(), json!(privilege.as_secs_f64()));
                obj.insert("overstay_seconds".into(), json!(overstay.as_secs_f64()));
                // null: the target cannot tell (see `LeaseEvent::Destroyed`).
                obj.insert("sessions_terminated".into(), json!(sessions_terminated));
                // The destruction receipt: "proved gone at T" (null when nothing was asked).
                obj.insert(
                    "verified".into(),
                    json!(receipt.map(|r| json!({"check": r.check, "at": ts(r.at)}))),
                );
            }
            LeaseEvent::Tampered { action, .. } => {
                obj.insert("refused_action".into(), json!(action));
                obj.insert(
                    "error".into(),
                    json!("lease row failed its integrity check: edited in storage; not acted on"),
                );
            }
            LeaseEvent::Orphan {
                mount,
                account,
                destroyed,
            } => {
                obj.insert("mount".into(), json!(mount));
                obj.insert("account".into(), json!(account));
                obj.insert("destroyed".into(), json!(destroyed.map(|r| r.is_ok())));
                obj.insert("error".into(), json!(destroyed.and_then(|r| r.err())));
            }
            _ => {}
        }
    }
    e
}
