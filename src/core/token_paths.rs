//! `auth/token/*`: create, lookup, renew and revoke tokens, Vault's way. Revocation answers with
//! what it did: how many tokens, and every lease (account) destroyed with them.

use std::collections::BTreeMap;
use std::time::Duration;

use leasehold_backend::Fields;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::api::{ApiRequest, ApiResponse, Envelope, Method};
use super::token_roles::TokenRole;
use super::tokens::TokenSpec;
use super::Core;
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
            let id = req
                .token
                .as_ref()
                .map(|t| t.expose_secret().to_owned())
                .unwrap_or_default();
            Ok(data(lookup_data(core, token, &id)))
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
            Ok(data(lookup_data(core, &entry, &raw)))
        }
        "lookup-accessor" if write => {
            let entry = by_accessor(core, &fields, arg).await?;
            Ok(data(lookup_data(core, &entry, "")))
        }
        "create" | "create-orphan" if write => {
            create(core, token, &fields, op == "create-orphan", arg).await
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
                core.write_token_role(arg, &fields).await?;
                Ok(ApiResponse::NoContent)
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
        Some(e) if e.expire_time.is_none_or(|t| t > now) => Ok(e),
        _ => Err(Error::invalid("invalid accessor")),
    }
}

fn duration(fields: &Fields, name: &str) -> Result<Duration> {
    Ok(fields
        .duration(name)
        .map_err(Error::from)?
        .unwrap_or(Duration::ZERO))
}

async fn create(
    core: &Core,
    parent: &TokenEntry,
    fields: &Fields,
    orphan_path: bool,
    role_name: &str,
) -> Result<ApiResponse> {
    let role = if role_name.is_empty() {
        None
    } else {
        Some(
            core.token_role(role_name)
                .await?
                .ok_or_else(|| Error::invalid(format!("unknown role {role_name}")))?,
        )
    };
    let privileged = core.is_privileged(parent, "auth/token/create").await?;
    if let Some(kind) = fields.str("type").map_err(Error::from)? {
        if !matches!(kind.as_str(), "" | "service" | "default") {
            return Err(Error::invalid(format!(
                "token type {kind:?} is not supported; leasehold issues service tokens"
            )));
        }
    }
    let no_parent = fields
        .bool("no_parent")
        .map_err(Error::from)?
        .unwrap_or(false);
    if no_parent && !privileged {
        return Err(Error::invalid(
            "root or sudo privileges required to create orphan token",
        ));
    }
    let period = duration(fields, "period")?;
    if !period.is_zero() && !privileged {
        return Err(Error::invalid(
            "root or sudo privileges required to create periodic token",
        ));
    }
    let id = fields
        .str("id")
        .map_err(Error::from)?
        .filter(|s| !s.is_empty());
    if id.is_some() && !parent.is_root() {
        return Err(Error::invalid(
            "root privileges required to specify token id",
        ));
    }
    let requested = fields.comma_list("policies").map_err(Error::from)?;
    // A role, not the parent, bounds what its tokens may hold.
    let policies = match (&role, requested) {
        (Some(r), requested) => r.policies(requested)?,
        (None, requested) => match requested {
            Some(p) if !p.is_empty() => {
                let p: Vec<String> = p.into_iter().map(|x| x.to_lowercase()).collect();
                if !parent.is_root() {
                    if let Some(extra) = p
                        .iter()
                        .find(|x| *x != "default" && !parent.policies.contains(x))
                    {
                        return Err(Error::invalid(format!("child policies must be subset of parent: {extra:?} is not held by the caller")));
                    }
                }
                p
            }
            _ => parent
                .policies
                .iter()
                .filter(|p| *p != "default")
                .cloned()
                .collect(),
        },
    };
    if policies.iter().any(|p| p == "root") && !parent.is_root() {
        return Err(Error::invalid(
            "root or sudo privileges required to create a root token",
        ));
    }
    let meta: BTreeMap<String, String> = match fields.raw("meta") {
        None => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(Error::invalid(format!(
                    "meta value for {k:?} must be a string"
                ))),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(Error::invalid("meta must be a map of strings")),
    };
    let display = fields
        .str("display_name")
        .map_err(Error::from)?
        .unwrap_or_default();
    let display_name = match display.trim() {
        "" | "token" => "token".to_owned(),
        d => format!("token-{}", d.trim_start_matches("token-")),
    };
    let num_uses = fields.int("num_uses").map_err(Error::from)?.unwrap_or(0);
    let num_uses =
        u32::try_from(num_uses).map_err(|_| Error::invalid("num_uses must be zero or positive"))?;
    let mut spec = TokenSpec {
        policies,
        no_default_policy: fields
            .bool("no_default_policy")
            .map_err(Error::from)?
            .unwrap_or(false),
        meta,
        ttl: duration(fields, "ttl")?.max(duration(fields, "lease")?),
        explicit_max_ttl: duration(fields, "explicit_max_ttl")?,
        period,
        num_uses,
        renewable: fields
            .bool("renewable")
            .map_err(Error::from)?
            .unwrap_or(true),
        display_name,
        path: if orphan_path {
            "auth/token/create-orphan".into()
        } else {
            "auth/token/create".into()
        },
        parent: (!(no_parent || orphan_path)).then(|| parent.accessor.clone()),
        // A child acts for the same workload as its parent: revoking the workload reaches it.
        workload: parent.workload.clone(),
        bound_cidrs: Vec::new(),
        max_ttl: Duration::ZERO,
        id: id.map(SecretString::from),
    };
    if let Some(r) = &role {
        spec.parent = (!r.orphan).then(|| parent.accessor.clone());
        spec.renewable = spec.renewable && r.renewable;
        if spec.ttl.is_zero() {
            spec.ttl = TokenRole::dur(r.token_ttl);
        }
        spec.max_ttl = TokenRole::dur(r.token_max_ttl);
        if r.token_explicit_max_ttl > 0 {
            let cap = TokenRole::dur(r.token_explicit_max_ttl);
            spec.explicit_max_ttl = if spec.explicit_max_ttl.is_zero() {
                cap
            } else {
                spec.explicit_max_ttl.min(cap)
            };
        }
        if r.token_period > 0 {
            spec.period = TokenRole::dur(r.token_period);
        }
        if r.token_num_uses > 0 {
            spec.num_uses = r.token_num_uses;
        }
        spec.no_default_policy |= r.token_no_default_policy;
        spec.path = format!("auth/token/create/{role_name}");
    }
    let (token, entry) = core.create_token(spec).await?;
    let auth = core.auth_block(Some(&token.0), &entry, entry.creation_ttl);
    Ok(ApiResponse::Ok(Envelope {
        auth: Some(auth),
        mount_type: "token".into(),
        ..Envelope::default()
    }))
}

async fn renew(
    core: &Core,
    mut entry: TokenEntry,
    fields: &Fields,
    token: Option<&SecretString>,
) -> Result<ApiResponse> {
    let increment = duration(fields, "increment")?;
    let (ttl, warning) = core.renew_token(&mut entry, increment).await?;
    let auth = core.auth_block(token, &entry, ttl);
    Ok(ApiResponse::Ok(Envelope {
        auth: Some(auth),
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

/// Vault's token lookup fields (plus `workload`).
pub fn lookup_data(core: &Core, t: &TokenEntry, id: &str) -> Map<String, Value> {
    let now = core.clock.now();
    let ttl = t
        .expire_time
        .map(|e| (e - now).num_seconds().max(0))
        .unwrap_or(0);
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
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
    m.insert("workload".into(), json!(t.workload));
    m
}
