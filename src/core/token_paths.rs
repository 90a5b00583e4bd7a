//! `auth/token/*`: create, lookup, renew and revoke tokens, Vault's way. Revocation answers with
//! what it did: how many tokens, and every lease (account) destroyed with them.

mod create;

use std::time::Duration;

use leasehold_backend::Fields;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::api::{ApiRequest, ApiResponse, Envelope, Method};
use super::Core;
use crate::auth::token_store::auth_block;
use crate::auth::TokenEntry;
use crate::error::{Error, Result};
use crate::http::path::redact_token;

/// Serve `auth/token/<rest>` for an authenticated caller.
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    token: &TokenEntry,
    rest: &str,
) -> Result<ApiResponse> {
    if rest.ends_with('/') {
        // Anchored, as Vault's patterns: `lookup/` is not `lookup`.
        return Err(no_route(rest));
    }
    let fields = Fields::new(req.data.clone());
    let (op, arg) = rest.split_once('/').unwrap_or((rest, ""));
    let write = req.method == Method::Write;
    match op {
        "lookup-self" if matches!(req.method, Method::Get | Method::Write) => {
            Ok(lookup(lookup_data(core, token), req.token.clone()))
        }
        "lookup" if matches!(req.method, Method::Get | Method::Write) => {
            let raw = fields
                .str("token")
                .map_err(Error::from)?
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| arg.to_owned());
            if raw.is_empty() {
                return Err(Error::invalid("missing token to look up"));
            }
            let entry = core
                .tokens
                .lookup(&raw, core.clock.now())
                .await?
                .ok_or_else(|| Error::invalid("bad token"))?;
            Ok(lookup(
                lookup_data(core, &entry),
                Some(SecretString::from(raw)),
            ))
        }
        "lookup-accessor" if write => {
            let entry = by_accessor(core, &fields, arg).await?;
            Ok(lookup(lookup_data(core, &entry), None))
        }
        "create" | "create-orphan" if write => {
            create::create(core, token, &fields, op == "create-orphan", arg).await
        }
        "renew-self" if write => renew(core, token.clone(), &fields, req.token.as_ref()).await,
        "renew" if write => {
            let raw = required_token(&fields, arg)?;
            let entry = core
                .tokens
                .lookup(raw.expose_secret(), core.clock.now())
                .await?
                .ok_or_else(|| Error::invalid("bad token"))?;
            renew(core, entry, &fields, Some(&raw)).await
        }
        "renew-accessor" if write => {
            let entry = by_accessor(core, &fields, arg).await?;
            renew(core, entry, &fields, None).await
        }
        "revoke-self" if write => revoke(core, &token.accessor, false, &fields).await,
        "revoke" if write => {
            let raw = required_token(&fields, arg)?;
            match core
                .tokens
                .lookup(raw.expose_secret(), core.clock.now())
                .await?
            {
                Some(e) => revoke(core, &e.accessor, false, &fields).await,
                None => Ok(ApiResponse::NoContent),
            }
        }
        "revoke-accessor" if write => {
            let accessor = fields
                .str("accessor")
                .map_err(Error::from)?
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| arg.to_owned());
            if accessor.is_empty() {
                return Err(Error::invalid("missing accessor"));
            }
            revoke(core, &accessor, false, &fields).await
        }
        "revoke-orphan" if write => {
            if !core
                .is_privileged(token, "auth/token/revoke-orphan")
                .await?
            {
                return Err(Error::invalid(
                    "root or sudo privileges required to revoke and orphan",
                ));
            }
            let raw = required_token(&fields, arg)?;
            match core
                .tokens
                .lookup(raw.expose_secret(), core.clock.now())
                .await?
            {
                Some(e) => revoke(core, &e.accessor, true, &fields).await,
                None => Ok(ApiResponse::NoContent),
            }
        }
        "roles" if req.is_list() || (req.method == Method::Get && arg.is_empty()) => {
            let names = core.token_role_names().await?;
            if names.is_empty() {
                return Err(Error::NotFound);
            }
            Ok(data(super::keys(names)))
        }
        "roles" => match req.method {
            Method::Get => Ok(data(
                core.token_role(arg)
                    .await?
                    .ok_or(Error::NotFound)?
                    .to_json(arg),
            )),
            Method::Write => {
                let warnings = core.write_token_role(arg, &fields).await?;
                if warnings.is_empty() {
                    return Ok(ApiResponse::NoContent);
                }
                Ok(ApiResponse::Ok(Envelope {
                    warnings,
                    mount_type: "token".into(),
                    ..Envelope::default()
                }))
            }
            Method::Delete => {
                core.delete_token_role(arg).await?;
                Ok(ApiResponse::NoContent)
            }
            _ => Err(Error::UnsupportedOperation),
        },
        "accessors" if req.is_list() => {
            let keys = core.tokens.accessors().await?;
            if keys.is_empty() {
                return Err(Error::NotFound);
            }
            Ok(data(super::keys(keys)))
        }
        "lookup-self" | "lookup" | "lookup-accessor" | "create" | "create-orphan"
        | "renew-self" | "renew" | "renew-accessor" | "revoke-self" | "revoke"
        | "revoke-accessor" | "revoke-orphan" | "accessors" => Err(Error::UnsupportedOperation),
        _ => Err(no_route(rest)),
    }
}

/// 404 for `auth/token/<rest>`; a token carried in the path is not repeated in the error (which
/// the audit log records).
fn no_route(rest: &str) -> Error {
    Error::NoRoute(redact_token(&format!("auth/token/{rest}"), |_| {
        "[redacted]".into()
    }))
}

fn data(d: Map<String, Value>) -> ApiResponse {
    ApiResponse::data("token", d)
}

/// A lookup's answer: the token's fields, and its value as `id` — kept a [`SecretString`] until
/// the response is rendered (empty when looked up by accessor).
fn lookup(d: Map<String, Value>, id: Option<SecretString>) -> ApiResponse {
    ApiResponse::Ok(Envelope {
        data: Some(d),
        secret_data: vec![("id".into(), id.unwrap_or_default())],
        mount_type: "token".into(),
        ..Envelope::default()
    })
}

fn required_token(fields: &Fields, from_url: &str) -> Result<SecretString> {
    let raw = fields
        .str("token")
        .map_err(Error::from)?
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| from_url.to_owned());
    if raw.is_empty() {
        return Err(Error::invalid("missing token"));
    }
    Ok(SecretString::from(raw))
}

async fn by_accessor(core: &Core, fields: &Fields, from_url: &str) -> Result<TokenEntry> {
    let accessor = fields
        .str("accessor")
        .map_err(Error::from)?
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| from_url.to_owned());
    if accessor.is_empty() {
        return Err(Error::invalid("missing accessor"));
    }
    let now = core.clock.now();
    match core.tokens.by_accessor(&accessor).await? {
        Some(e) if e.is_live(now) && core.tokens.ancestors_live(&e, now).await? => Ok(e),
        _ => Err(Error::invalid("invalid accessor")),
    }
}

fn duration(fields: &Fields, name: &str) -> Result<Duration> {
    Ok(fields
        .duration(name)
        .map_err(Error::from)?
        .unwrap_or(Duration::ZERO))
}

async fn renew(
    core: &Core,
    mut entry: TokenEntry,
    fields: &Fields,
    token: Option<&SecretString>,
) -> Result<ApiResponse> {
    let increment = duration(fields, "increment")?;
    let (ttl, warning) = core.renew_token(&mut entry, increment).await?;
    Ok(ApiResponse::Ok(Envelope {
        auth: Some(auth_block(&entry, ttl)),
        client_token: token.cloned(),
        warnings: warning.into_iter().collect(),
        mount_type: "token".into(),
        ..Envelope::default()
    }))
}

async fn revoke(core: &Core, accessor: &str, orphan: bool, fields: &Fields) -> Result<ApiResponse> {
    if core.tokens.by_accessor(accessor).await?.is_none() {
        return Ok(ApiResponse::NoContent);
    }
    let sync = fields.bool("sync").map_err(Error::from)?.unwrap_or(true);
    let report = core.revoke_token(accessor, orphan, sync).await?;
    Ok(report.into_response("token"))
}

/// Vault's token lookup fields (plus `workload`), less `id` (see [`lookup`]).
pub fn lookup_data(core: &Core, t: &TokenEntry) -> Map<String, Value> {
    let now = core.clock.now();
    let ttl = t
        .expire_time
        .map(|e| (e - now).num_seconds().max(0))
        .unwrap_or(0);
    let mut m = Map::new();
    m.insert("accessor".into(), json!(t.accessor));
    m.insert("policies".into(), json!(t.policies));
    m.insert("path".into(), json!(t.path));
    m.insert(
        "meta".into(),
        if t.meta.is_empty() {
            Value::Null
        } else {
            json!(t.meta)
        },
    );
    m.insert("display_name".into(), json!(t.display_name));
    m.insert("num_uses".into(), json!(t.num_uses));
    m.insert("orphan".into(), json!(t.orphan));
    m.insert("creation_time".into(), json!(t.creation_time.timestamp()));
    m.insert("creation_ttl".into(), json!(t.creation_ttl));
    m.insert(
        "expire_time".into(),
        json!(t.expire_time.map(|e| e.to_rfc3339())),
    );
    m.insert("ttl".into(), json!(ttl));
    m.insert("explicit_max_ttl".into(), json!(t.explicit_max_ttl));
    m.insert(
        "period".into(),
        if t.period > 0 {
            json!(t.period)
        } else {
            Value::Null
        },
    );
    m.insert("entity_id".into(), json!(""));
    m.insert("type".into(), json!("service"));
    m.insert("renewable".into(), json!(t.renewable));
    m.insert("issue_time".into(), json!(t.creation_time.to_rfc3339()));
    m.insert(
        "last_renewal".into(),
        json!(t.last_renewal.map(|r| r.to_rfc3339())),
    );
    m.insert("bound_cidrs".into(), json!(t.bound_cidrs));
    if let Some(role) = t.role() {
        m.insert("role".into(), json!(role));
    }
    m.insert("workload".into(), json!(t.workload));
    m
}
