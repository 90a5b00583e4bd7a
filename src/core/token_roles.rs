//! Token roles (`auth/token/roles/:name`): a named template for `auth/token/create/:role` that
//! fixes which policies its tokens may hold, whether they are orphans, where they may be used
//! from and their TTLs — so a pipeline can be allowed to mint exactly one kind of token without
//! holding those policies.
//!
//! Every field Vault's token roles have is either enforced or refused with a 400; none is parsed
//! and dropped. Refused: `allowed_entity_aliases` other than empty (there is no identity store)
//! and batch token types (only service tokens exist here). Unknown fields are refused too, where
//! Vault only warns: a field a caller believes restricts tokens must not be silently ignored.
//! `token_ttl`/`token_max_ttl` (`ttl`/`max_ttl`) are leasehold's own additions.
//!
//! [`policies`] holds the rules deciding which policies a new token gets, with or without a role.
//! This file is past 400 lines because a role has fifteen fields, three of them with Vault's
//! legacy twins, and its tests check each one is kept or refused; the rules live apart.

pub mod policies;

use std::time::Duration;

use leasehold_backend::Fields;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::Core;
use crate::auth::cidr;
use crate::error::{Error, Result};

const PREFIX: &str = "token/role/";

/// Fields a role write accepts: Vault's, plus leasehold's TTL fields.
const KNOWN_FIELDS: &[&str] = &[
    "role_name",
    "allowed_policies",
    "disallowed_policies",
    "allowed_policies_glob",
    "disallowed_policies_glob",
    "orphan",
    "renewable",
    "path_suffix",
    "allowed_entity_aliases",
    "token_bound_cidrs",
    "bound_cidrs",
    "token_explicit_max_ttl",
    "explicit_max_ttl",
    "token_period",
    "period",
    "token_type",
    "token_no_default_policy",
    "token_num_uses",
    "token_ttl",
    "ttl",
    "token_max_ttl",
    "max_ttl",
];

/// The token type a role mints. Only service tokens exist here, so the batch types are refused
/// when the role is written.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RoleTokenType {
    /// The caller's `type`, else service (Vault's `default` and `default-service`).
    #[default]
    DefaultService,
    /// Always service.
    Service,
}

impl RoleTokenType {
    fn parse(raw: &Value) -> Result<Self> {
        match raw {
            Value::String(s) => match s.trim() {
                "" | "default" | "default-service" => Ok(Self::DefaultService),
                "service" => Ok(Self::Service),
                "batch" | "default-batch" => Err(Error::invalid(format!(
                    "token_type {s:?} is not supported: leasehold issues service tokens only"
                ))),
                other => Err(Error::invalid(format!(
                    "invalid 'token_type' value {other:?}"
                ))),
            },
            Value::Null => Err(Error::invalid("Invalid 'token_type' value: null")),
            _ => Err(Error::invalid("token_type must be a string")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::DefaultService => "default-service",
            Self::Service => "service",
        }
    }
}

/// A stored token role. Field names are Vault's; `period`, `explicit_max_ttl` and `bound_cidrs`
/// keep what was written under those legacy names, as Vault reads them back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TokenRole {
    /// Policies its tokens may hold. Empty (with no glob): only a subset of the caller's.
    pub allowed_policies: Vec<String>,
    /// Policies its tokens may never hold.
    pub disallowed_policies: Vec<String>,
    /// Globs (`*` anywhere) of further policies its tokens may hold.
    pub allowed_policies_glob: Vec<String>,
    /// Globs of policies its tokens may never hold.
    pub disallowed_policies_glob: Vec<String>,
    /// Tokens have no parent.
    pub orphan: bool,
    /// Tokens can be renewed.
    pub renewable: bool,
    /// Appended to the tokens' creation path: `auth/token/create/<role>/<suffix>`.
    pub path_suffix: String,
    /// CIDR blocks its tokens may be used from (narrowed further by the caller's own).
    pub token_bound_cidrs: Vec<String>,
    /// `bound_cidrs` as written under the legacy name.
    pub bound_cidrs: Vec<String>,
    /// Default TTL, seconds (leasehold's).
    pub token_ttl: u64,
    /// Max TTL, seconds (leasehold's).
    pub token_max_ttl: u64,
    /// Hard cap, seconds.
    pub token_explicit_max_ttl: u64,
    /// `explicit_max_ttl` as written under the legacy name.
    pub explicit_max_ttl: u64,
    /// Period, seconds.
    pub token_period: u64,
    /// `period` as written under the legacy name.
    pub period: u64,
    /// Uses per token (the lesser of this and the caller's, 0 = unlimited).
    pub token_num_uses: u32,
    /// Leave out the default policy.
    pub token_no_default_policy: bool,
    /// Token type.
    pub token_type: RoleTokenType,
}

fn secs(fields: &Fields, name: &str) -> Result<Option<u64>> {
    Ok(fields.duration(name)?.map(|d| d.as_secs()))
}

/// A policy list: trimmed, lower-cased, without blanks and duplicates.
fn policy_list(fields: &Fields, name: &str) -> Result<Option<Vec<String>>> {
    Ok(fields.comma_list(name)?.map(policies::sanitize))
}

/// A `*`-anywhere glob, as Vault's policy globs: `dev-*`, `*-ro`, `team-*-read`.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return pattern == value;
    };
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        // No `*` at all: an exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Vault's rule for a path suffix, anchored here (Vault matches it unanchored, so it accepts
/// nearly anything): `/`-separated segments, each a word character, then word characters, `-`
/// or `.`, then a word character; no `..`.
fn valid_path_suffix(suffix: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !suffix.contains("..")
        && suffix.split('/').all(|seg| {
            let chars: Vec<char> = seg.chars().collect();
            match (chars.first(), chars.last()) {
                (Some(&a), Some(&z)) if chars.len() >= 3 => {
                    word(a) && word(z) && chars.iter().all(|&c| word(c) || c == '-' || c == '.')
                }
                _ => false,
            }
        })
}

impl TokenRole {
    /// Apply a write over `self` (fields not given keep their value). Returns Vault's warnings.
    pub fn update(&mut self, f: &Fields) -> Result<Vec<String>> {
        let unknown = f.unknown(KNOWN_FIELDS);
        if !unknown.is_empty() {
            return Err(Error::invalid(format!(
                "unknown token role fields: {}",
                unknown.join(", ")
            )));
        }
        let mut warnings = Vec::new();
        self.orphan = f.bool("orphan")?.unwrap_or(self.orphan);
        self.renewable = f.bool("renewable")?.unwrap_or(self.renewable);
        if let Some(suffix) = f.str("path_suffix")? {
            let suffix = suffix.trim().to_owned();
            if !suffix.is_empty() && !valid_path_suffix(&suffix) {
                return Err(Error::invalid(
                    "given role path suffix contains invalid characters; each '/'-separated part must be a letter, digit or '_', then letters, digits, '_', '-' or '.', then a letter, digit or '_' (no '..')",
                ));
            }
            self.path_suffix = suffix;
        }
        if let Some(p) = policy_list(f, "allowed_policies")? {
            self.allowed_policies = p;
        }
        if let Some(p) = policy_list(f, "disallowed_policies")? {
            self.disallowed_policies = p;
        }
        if let Some(p) = policy_list(f, "allowed_policies_glob")? {
            self.allowed_policies_glob = p;
        }
        if let Some(p) = policy_list(f, "disallowed_policies_glob")? {
            self.disallowed_policies_glob = p;
        }
        if let Some(aliases) = f.comma_list("allowed_entity_aliases")? {
            if !aliases.is_empty() {
                return Err(Error::invalid(
                    "allowed_entity_aliases is not supported: leasehold has no identity store, so tokens cannot be bound to entity aliases",
                ));
            }
        }
        if let Some(raw) = f.raw("token_type") {
            self.token_type = RoleTokenType::parse(raw)?;
        }
        self.update_legacy_pairs(f, &mut warnings)?;
        if let Some(n) = f.int("token_num_uses")? {
            self.token_num_uses = u32::try_from(n)
                .map_err(|_| Error::invalid("token_num_uses must be zero or positive"))?;
        }
        self.token_no_default_policy = f
            .bool("token_no_default_policy")?
            .unwrap_or(self.token_no_default_policy);
        for (names, slot) in [
            (["token_ttl", "ttl"], &mut self.token_ttl),
            (["token_max_ttl", "max_ttl"], &mut self.token_max_ttl),
        ] {
            for n in names {
                if let Some(v) = secs(f, n)? {
                    *slot = v;
                    break;
                }
            }
        }
        if self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(Error::invalid(
                "token_ttl cannot be greater than token_max_ttl",
            ));
        }
        Ok(warnings)
    }

    /// The fields Vault renamed with a `token_` prefix: the new name wins (with Vault's warning
    /// when both are given) and clears the legacy one; the legacy name sets both.
    fn update_legacy_pairs(&mut self, f: &Fields, warnings: &mut Vec<String>) -> Result<()> {
        let both = |new: &str, old: &str| {
            format!(
                "Both '{new}' and deprecated '{old}' value supplied, ignoring the deprecated value"
            )
        };
        if let Some(v) = secs(f, "token_period")? {
            if f.has("period") {
                warnings.push(both("token_period", "period"));
            }
            self.token_period = v;
            self.period = 0;
        } else if let Some(v) = secs(f, "period")? {
            self.token_period = v;
            self.period = v;
        }
        if let Some(v) = secs(f, "token_explicit_max_ttl")? {
            if f.has("explicit_max_ttl") {
                warnings.push(both("token_explicit_max_ttl", "explicit_max_ttl"));
            }
            self.token_explicit_max_ttl = v;
            self.explicit_max_ttl = 0;
        } else if let Some(v) = secs(f, "explicit_max_ttl")? {
            self.token_explicit_max_ttl = v;
            self.explicit_max_ttl = v;
        }
        let cidrs = |name: &'static str| -> Result<Option<Vec<String>>> {
            f.comma_list(name)?
                .map(|list| cidr::validate(name, list).map_err(|e| Error::invalid(e.to_string())))
                .transpose()
        };
        if let Some(list) = cidrs("token_bound_cidrs")? {
            if f.has("bound_cidrs") {
                warnings.push(both("token_bound_cidrs", "bound_cidrs"));
            }
            self.token_bound_cidrs = list;
            self.bound_cidrs = Vec::new();
        } else if let Some(list) = cidrs("bound_cidrs")? {
            self.token_bound_cidrs = list.clone();
            self.bound_cidrs = list;
        }
        Ok(())
    }

    /// The creation path of this role's tokens.
    pub fn creation_path(&self, name: &str) -> String {
        if self.path_suffix.is_empty() {
            format!("auth/token/create/{name}")
        } else {
            format!("auth/token/create/{name}/{}", self.path_suffix)
        }
    }

    /// True when the role names policies its tokens may hold (else they hold a subset of the
    /// caller's).
    pub fn has_allowed_list(&self) -> bool {
        !self.allowed_policies.is_empty() || !self.allowed_policies_glob.is_empty()
    }

    /// True when `policy` is in `allowed_policies` or matches `allowed_policies_glob`.
    pub fn allows(&self, policy: &str) -> bool {
        self.allowed_policies.iter().any(|p| p == policy)
            || self
                .allowed_policies_glob
                .iter()
                .any(|g| glob_match(g, policy))
    }

    /// True when `policy` is in `disallowed_policies` or matches `disallowed_policies_glob`.
    pub fn disallows(&self, policy: &str) -> bool {
        self.disallowed_policies.iter().any(|p| p == policy)
            || self
                .disallowed_policies_glob
                .iter()
                .any(|g| glob_match(g, policy))
    }

    /// Read answer, with Vault's keys (`token_bound_cidrs`, `bound_cidrs` and `token_num_uses`
    /// only when set, as Vault).
    pub fn to_json(&self, name: &str) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("name", json!(name));
        put("allowed_policies", json!(self.allowed_policies));
        put("disallowed_policies", json!(self.disallowed_policies));
        put("allowed_policies_glob", json!(self.allowed_policies_glob));
        put(
            "disallowed_policies_glob",
            json!(self.disallowed_policies_glob),
        );
        put("allowed_entity_aliases", json!(Vec::<String>::new()));
        put("orphan", json!(self.orphan));
        put("renewable", json!(self.renewable));
        put("path_suffix", json!(self.path_suffix));
        put("period", json!(self.period));
        put("token_period", json!(self.token_period));
        put("explicit_max_ttl", json!(self.explicit_max_ttl));
        put("token_explicit_max_ttl", json!(self.token_explicit_max_ttl));
        put(
            "token_no_default_policy",
            json!(self.token_no_default_policy),
        );
        put("token_type", json!(self.token_type.as_str()));
        put("token_ttl", json!(self.token_ttl));
        put("token_max_ttl", json!(self.token_max_ttl));
        if !self.token_bound_cidrs.is_empty() {
            put("token_bound_cidrs", json!(self.token_bound_cidrs));
        }
        if !self.bound_cidrs.is_empty() {
            put("bound_cidrs", json!(self.bound_cidrs));
        }
        if self.token_num_uses > 0 {
            put("token_num_uses", json!(self.token_num_uses));
        }
        m
    }

    /// Seconds to a duration.
    pub fn dur(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }
}

impl Core {
    /// A token role by name.
    pub async fn token_role(&self, name: &str) -> Result<Option<TokenRole>> {
        Ok(self
            .tokens
            .kv()
            .get_json(&format!("{PREFIX}{name}"))
            .await?)
    }

    /// Create or update a token role; returns Vault's warnings.
    pub async fn write_token_role(&self, name: &str, fields: &Fields) -> Result<Vec<String>> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::invalid("invalid token role name"));
        }
        if let Some(given) = fields.str("role_name")? {
            if !given.is_empty() && given != name {
                return Err(Error::invalid(
                    "role_name in the body does not match the role in the path",
                ));
            }
        }
        let mut role = match self.token_role(name).await? {
            Some(r) => r,
            None => TokenRole {
                renewable: true,
                ..TokenRole::default()
            },
        };
        let mut warnings = role.update(fields)?;
        let system_max = self.mounts.system_ttls().max_ttl.as_secs();
        if role.token_explicit_max_ttl > system_max {
            warnings.push(format!(
                "Given explicit max TTL of {} is greater than system/mount allowed value of {system_max} seconds; tokens created against this role are capped at the system value",
                role.token_explicit_max_ttl
            ));
        }
        self.tokens
            .kv()
            .put_json(&format!("{PREFIX}{name}"), &role)
            .await?;
        Ok(warnings)
    }

    /// Delete a token role.
    pub async fn delete_token_role(&self, name: &str) -> Result<()> {
        self.tokens.kv().delete(&format!("{PREFIX}{name}")).await?;
        Ok(())
    }

    /// Names of token roles.
    pub async fn token_role_names(&self) -> Result<Vec<String>> {
        Ok(self.tokens.kv().list(PREFIX).await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => Fields::new(m),
            _ => Fields::default(),
        }
    }

    #[test]
    fn globs_match_anywhere() {
        assert!(glob_match("dev-*", "dev-db"));
        assert!(glob_match("*-ro", "app-ro"));
        assert!(glob_match("team-*-read", "team-a-read"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(!glob_match("dev-*", "prod-db"));
        assert!(!glob_match("team-*-read", "team-a-write"));
        assert!(!glob_match("a*b*c", "acb"));
    }

    #[test]
    fn path_suffixes_are_checked_whole() {
        for ok in ["v10", "rev_2", "team/v1.0", "a-b.c"] {
            assert!(valid_path_suffix(ok), "{ok}");
        }
        for bad in [
            "v1", "../x", "a..b", "x/", "/abc", "abc//def", "ab c", "-ab", "ab-",
        ] {
            assert!(!valid_path_suffix(bad), "{bad}");
        }
    }

    #[test]
    fn every_vault_field_is_kept_or_refused() {
        let mut role = TokenRole::default();
        let w = role
            .update(&fields(json!({
                "allowed_policies": "Deploy, read ",
                "disallowed_policies": ["admin"],
                "allowed_policies_glob": ["dev-*"],
                "disallowed_policies_glob": "*-admin",
                "orphan": true, "renewable": false, "path_suffix": "v100",
                "token_bound_cidrs": ["10.0.0.0/8"], "token_explicit_max_ttl": "2h",
                "token_period": "30m", "token_type": "service",
                "token_no_default_policy": true, "token_num_uses": 3,
                "allowed_entity_aliases": [],
            })))
            .unwrap();
        assert!(w.is_empty());
        assert_eq!(role.allowed_policies, ["deploy", "read"]);
        assert_eq!(role.disallowed_policies_glob, ["*-admin"]);
        assert_eq!(role.token_bound_cidrs, ["10.0.0.0/8"]);
        assert_eq!(
            (role.token_explicit_max_ttl, role.token_period),
            (7200, 1800)
        );
        assert_eq!(role.token_type, RoleTokenType::Service);
        assert_eq!(role.creation_path("ci"), "auth/token/create/ci/v100");
        let read = role.to_json("ci");
        assert_eq!(read["token_num_uses"], 3);
        assert_eq!(read["token_type"], "service");

        for bad in [
            json!({"allowed_entity_aliases": ["bob"]}),
            json!({"token_type": "batch"}),
            json!({"token_type": "default-batch"}),
            json!({"token_type": "weird"}),
            json!({"token_bound_cidrs": "10.0.0.0/33"}),
            json!({"path_suffix": "../up"}),
            json!({"token_num_uses": -1}),
            json!({"allowed_polices": "typo"}),
        ] {
            let before = role.clone();
            assert!(role.update(&fields(bad.clone())).is_err(), "{bad}");
            assert_eq!(role, before, "{bad} changed the role");
        }
    }

    #[test]
    fn legacy_names_set_both_and_new_names_win() {
        let mut role = TokenRole::default();
        role.update(&fields(
            json!({"period": "1h", "bound_cidrs": "10.1.0.0/16", "explicit_max_ttl": 60}),
        ))
        .unwrap();
        assert_eq!((role.period, role.token_period), (3600, 3600));
        assert_eq!(role.token_bound_cidrs, role.bound_cidrs);
        assert_eq!(
            (role.explicit_max_ttl, role.token_explicit_max_ttl),
            (60, 60)
        );
        let w = role
            .update(&fields(json!({"token_period": "2h", "period": "5h"})))
            .unwrap();
        assert_eq!((role.period, role.token_period), (0, 7200));
        assert_eq!(w.len(), 1);
    }
}
