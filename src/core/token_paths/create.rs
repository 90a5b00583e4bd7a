//! `auth/token/create`, `create-orphan` and `create/:role`: who the new token's parent is,
//! which policies it holds (the rules are in [`crate::core::token_roles::policies`]), and what a
//! token role fixes beyond them — TTLs, uses, CIDRs, creation path.

use std::collections::BTreeMap;
use std::time::Duration;

use leasehold_backend::Fields;
use secrecy::SecretString;
use serde_json::Value;

use super::duration;
use crate::auth::token::MAX_TOKEN_DEPTH;
use crate::auth::token_store::{auth_block, TokenSpec};
use crate::auth::{cidr, TokenEntry};
use crate::core::api::{ApiResponse, Envelope};
use crate::core::token_roles::{policies, TokenRole};
use crate::core::Core;
use crate::error::{Error, Result};

/// Mint a token for `parent` (the caller) from the create request `fields`.
pub(super) async fn create(
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
    let orphan = orphan(fields, role.as_ref(), role_name, privileged, orphan_path)?;
    let (period, id) = privileged_fields(fields, parent, privileged)?;
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
    // As Vault: a root token that never expires must not come from one that does (as an
    // orphan it would outlive its maker for good).
    let never_expires =
        spec.ttl.is_zero() && spec.period.is_zero() && spec.explicit_max_ttl.is_zero();
    if never_expires && parent.expire_time.is_some() && spec.policies.iter().any(|p| p == "root") {
        return Err(Error::invalid(
            "expiring root tokens cannot create non-expiring root tokens",
        ));
    }
    if spec.parent.is_some() {
        // A child one level below the deepest chain a request may walk would never work.
        let depth = core
            .tokens
            .depth_of_live_chain(parent, core.clock.now())
            .await?;
        if depth.is_none_or(|d| d + 1 > MAX_TOKEN_DEPTH) {
            return Err(Error::invalid(format!(
                "token chains are limited to {MAX_TOKEN_DEPTH} ancestors; create an orphan instead"
            )));
        }
    }
    let (token, entry) = core.create_token(spec).await?;
    Ok(ApiResponse::Ok(Envelope {
        auth: Some(auth_block(&entry, entry.creation_ttl)),
        client_token: Some(token.0),
        warnings,
        mount_type: "token".into(),
        ..Envelope::default()
    }))
}

/// Whether the new token is an orphan: the role decides when there is one, else `no_parent`
/// (root or sudo only) or the `create-orphan` path.
fn orphan(
    fields: &Fields,
    role: Option<&TokenRole>,
    role_name: &str,
    privileged: bool,
    orphan_path: bool,
) -> Result<bool> {
    let no_parent = fields
        .bool("no_parent")
        .map_err(Error::from)?
        .unwrap_or(false);
    match role {
        // Vault ignores no_parent when a role is used; refused here so nobody believes they
        // made an orphan.
        Some(r) if no_parent && !r.orphan => Err(Error::invalid(format!(
            "role {role_name:?} creates child tokens (orphan=false); no_parent cannot override it"
        ))),
        Some(r) => Ok(r.orphan),
        None if no_parent && !privileged => Err(Error::invalid(
            "root or sudo privileges required to create orphan token",
        )),
        None => Ok(no_parent || orphan_path),
    }
}

/// `period` (root or sudo) and `id` (root) when given.
fn privileged_fields(
    fields: &Fields,
    parent: &TokenEntry,
    privileged: bool,
) -> Result<(Duration, Option<String>)> {
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
    Ok((period, id))
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
