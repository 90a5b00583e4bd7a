//! `auth/token/*`: create, lookup, renew and revoke tokens, Vault's way. Revocation answers with
//! what it did: how many tokens, and every lease (account) destroyed with them.

use std::collections::BTreeMap;
use std::time::Duration;

use leasehold_backend::Fields;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::api::{ApiRequest, ApiResponse, Envelope, Method};
use super::token_roles::{policies, TokenRole};
use super::tokens::TokenSpec;
use super::Core;
use crate::auth::{cidr, TokenEntry};
use crate::error::{Error, Result};

/// Serve `auth/token/<rest>` for an authenticated caller.
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    token: &TokenEntry,
    rest: &str,
) -> Result<ApiResponse> {
    let rest = rest.trim_end_matches('/');
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
        _ => Err(Error::NoRoute(format!("auth/token/{rest}"))),
    }
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
    // Vault: a use-limited token could escape its count through children.
    if parent.num_uses > 0 || parent.uses_exhausted {
        return Err(Error::invalid(
            "restricted use token cannot generate child tokens",
        ));
    }
    // As Vault, sudo is checked on the path actually requested.
    let create_path = match (role_name, orphan_path) {
        ("", true) => "auth/token/create-orphan".to_owned(),
        ("", false) => "auth/token/create".to_owned(),
        (name, _) => format!("auth/token/create/{name}"),
    };
    let privileged = core.is_privileged(parent, &create_path).await?;
    check_unsupported(fields)?;
    let no_parent = fields
        .bool("no_parent")
        .map_err(Error::from)?
        .unwrap_or(false);
    if no_parent {
        match &role {
            // Vault ignores no_parent when a role is used; refused here so nobody believes
            // they made an orphan.
            Some(r) if !r.orphan => {
                return Err(Error::invalid(format!(
                    "role {role_name:?} creates child tokens (orphan=false); no_parent cannot override it"
                )))
            }
            None if !privileged => {
                return Err(Error::invalid(
                    "root or sudo privileges required to create orphan token",
                ))
            }
            _ => {}
        }
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
    let minting = policies::Minting {
        parent,
        privileged,
        requested: policies::sanitize(
            fields
                .comma_list("policies")
                .map_err(Error::from)?
                .unwrap_or_default(),
        ),
        no_default_policy: fields
            .bool("no_default_policy")
            .map_err(Error::from)?
            .unwrap_or(false),
    };
    let policies = match &role {
        Some(r) => policies::with_role(r, &minting)?,
        None => policies::without_role(&minting)?,
    };
    let num_uses = fields.int("num_uses").map_err(Error::from)?.unwrap_or(0);
    let num_uses =
        u32::try_from(num_uses).map_err(|_| Error::invalid("number of uses cannot be negative"))?;
    let orphan = match &role {
        Some(r) => r.orphan,
        None => no_parent || orphan_path,
    };
    let mut spec = TokenSpec {
        policies,
        // The policy rules above already decided about `default`.
        no_default_policy: true,
        meta: meta(fields)?,
        ttl: duration(fields, "ttl")?.max(duration(fields, "lease")?),
        explicit_max_ttl: duration(fields, "explicit_max_ttl")?,
        period,
        num_uses,
        renewable: fields
            .bool("renewable")
            .map_err(Error::from)?
            .unwrap_or(true),
        display_name: display_name(fields)?,
        path: create_path,
        parent: (!orphan).then(|| parent.accessor.clone()),
        // A child acts for the same workload as its parent: revoking the workload reaches it.
        workload: parent.workload.clone(),
        // Bound at least as tightly as the caller, orphan or not: a token bound to a network
        // must not mint one usable from anywhere. (Vault copies the parent's list only to
        // non-orphans without a role, and lets a role replace it.)
        bound_cidrs: parent.bound_cidrs.clone(),
        max_ttl: Duration::ZERO,
        id: id.map(SecretString::from),
    };
    let mut warnings = Vec::new();
    if let Some(r) = &role {
        apply_role(r, role_name, parent, &mut spec, &mut warnings)?;
    }
    let (token, entry) = core.create_token(spec).await?;
    let auth = core.auth_block(Some(&token.0), &entry, entry.creation_ttl);
    Ok(ApiResponse::Ok(Envelope {
        auth: Some(auth),
        warnings,
        mount_type: "token".into(),
        ..Envelope::default()
    }))
}

/// Request fields naming features leasehold does not have: refused, never ignored.
fn check_unsupported(fields: &Fields) -> Result<()> {
    if let Some(kind) = fields.str("type").map_err(Error::from)? {
        if !matches!(kind.as_str(), "" | "service" | "default") {
            return Err(Error::invalid(format!(
                "token type {kind:?} is not supported; leasehold issues service tokens"
            )));
        }
    }
    if fields
        .str("entity_alias")
        .map_err(Error::from)?
        .is_some_and(|a| !a.is_empty())
    {
        return Err(Error::invalid(
            "invalid 'entity_alias' value: leasehold has no identity store, so no role allows entity aliases",
        ));
    }
    Ok(())
}

fn meta(fields: &Fields) -> Result<BTreeMap<String, String>> {
    match fields.raw("meta") {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(Error::invalid(format!(
                    "meta value for {k:?} must be a string"
                ))),
            })
            .collect(),
        Some(_) => Err(Error::invalid("meta must be a map of strings")),
    }
}

fn display_name(fields: &Fields) -> Result<String> {
    let display = fields
        .str("display_name")
        .map_err(Error::from)?
        .unwrap_or_default();
    Ok(match display.trim() {
        "" | "token" => "token".to_owned(),
        d => format!("token-{}", d.trim_start_matches("token-")),
    })
}

/// What a role fixes beyond policies: orphan-ness (decided by the caller), TTLs, uses,
/// renewability, CIDRs and the creation path. Where both the request and the role set a limit,
/// the lesser wins, with Vault's warnings.
fn apply_role(
    r: &TokenRole,
    role_name: &str,
    parent: &TokenEntry,
    spec: &mut TokenSpec,
    warnings: &mut Vec<String>,
) -> Result<()> {
    spec.renewable = spec.renewable && r.renewable;
    if spec.ttl.is_zero() {
        spec.ttl = TokenRole::dur(r.token_ttl);
    }
    spec.max_ttl = TokenRole::dur(r.token_max_ttl);
    if r.token_explicit_max_ttl > 0 {
        let cap = TokenRole::dur(r.token_explicit_max_ttl);
        if spec.explicit_max_ttl.is_zero() {
            spec.explicit_max_ttl = cap;
        } else {
            spec.explicit_max_ttl = spec.explicit_max_ttl.min(cap);
            warnings.push(format!("Explicit max TTL specified both during creation call and in role; using the lesser value of {} seconds", spec.explicit_max_ttl.as_secs()));
        }
    }
    if r.token_period > 0 {
        let role_period = TokenRole::dur(r.token_period);
        if spec.period.is_zero() {
            spec.period = role_period;
        } else {
            spec.period = spec.period.min(role_period);
            warnings.push(format!("Period specified both during creation call and in role; using the lesser value of {} seconds", spec.period.as_secs()));
        }
    }
    // Zero means unlimited, so a limit on either side wins over none.
    if r.token_num_uses > 0 && (spec.num_uses == 0 || r.token_num_uses < spec.num_uses) {
        spec.num_uses = r.token_num_uses;
    }
    spec.bound_cidrs = cidr::narrowest(&parent.bound_cidrs, &r.token_bound_cidrs);
    if spec.bound_cidrs.is_empty()
        && !(parent.bound_cidrs.is_empty() && r.token_bound_cidrs.is_empty())
    {
        return Err(Error::invalid(format!(
            "role {role_name:?} binds its tokens to CIDR blocks that share no address with the calling token's bound CIDRs"
        )));
    }
    spec.path = r.creation_path(role_name);
    Ok(())
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
    if let Some(role) = t.role() {
        m.insert("role".into(), json!(role));
    }
    m.insert("workload".into(), json!(t.workload));
    m
}
