//! `auth/<mount>/role/:name`: what a JWT must carry to log in under a role, and what token it
//! gets.
//!
//! A write to an existing role changes only the fields given; a write that creates one starts
//! from Vault's defaults. Vault defaults `role_type` to `oidc`, the browser flow we do not
//! implement, so creating a role without `role_type: "jwt"` is refused with a hint rather than
//! stored as a role no login could use. Every jwt role must bind the token to something
//! (audience, subject or claims): otherwise any token the issuer ever minted, for any service,
//! would log in. `token_bound_cidrs` is not accepted (it would need enforcement on every token
//! use), so it does not count as a binding here.
//!
//! The file runs past 400 lines only because of its tests; the model and its parsing are about
//! 400.

use std::collections::BTreeMap;
use std::time::Duration;

use leasehold_backend::Fields;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::config::{field, non_empty};
use super::error::JwtError;

/// The kind of login a role serves. Only machine-to-machine JWT login exists here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleType {
    /// `POST auth/<mount>/login` with a signed JWT.
    #[default]
    Jwt,
}

/// How `bound_claims` values are compared with the token's claim values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoundClaimsType {
    /// Exact string equality.
    #[default]
    String,
    /// `*` matches any run of characters (including none); everything else is literal.
    Glob,
}

/// The allowed values of one bound claim, kept in the shape the caller wrote it so reads
/// return it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BoundClaimValues {
    /// A single allowed value.
    One(String),
    /// Any of these values.
    AnyOf(Vec<String>),
}

impl BoundClaimValues {
    /// The allowed values as a slice.
    pub fn values(&self) -> &[String] {
        match self {
            BoundClaimValues::One(v) => std::slice::from_ref(v),
            BoundClaimValues::AnyOf(vs) => vs,
        }
    }
}

/// Vault's default for `clock_skew_leeway`, seconds.
pub const DEFAULT_CLOCK_SKEW_LEEWAY: i64 = 60;
/// Vault's default for `expiration_leeway` and `not_before_leeway`, seconds.
pub const DEFAULT_EXP_NBF_LEEWAY: i64 = 150;

/// A stored JWT role. Built only by [`JwtRole::from_fields`] (or read back from storage), so it
/// always has a user claim and at least one bound constraint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtRole {
    /// Always [`RoleType::Jwt`].
    pub role_type: RoleType,
    /// The claim whose value names the user (display name `jwt-<value>`, entity alias).
    pub user_claim: String,
    /// When true, `user_claim` is a JSON pointer (`/a/b`) rather than a top-level claim name.
    pub user_claim_json_pointer: bool,
    /// The token's `aud` must contain one of these; when empty, a token with any `aud` is refused.
    pub bound_audiences: Vec<String>,
    /// Required `sub`, if set.
    pub bound_subject: Option<String>,
    /// Claim (name, or JSON pointer when it starts with `/`) → allowed values; all must match.
    pub bound_claims: BTreeMap<String, BoundClaimValues>,
    /// How `bound_claims` values are compared.
    pub bound_claims_type: BoundClaimsType,
    /// Claim (name or JSON pointer) → token metadata key.
    pub claim_mappings: BTreeMap<String, String>,
    /// Seconds added to `exp`, `nbf` and `iat` checks; 0 = default (60), negative = none.
    pub clock_skew_leeway: i64,
    /// Seconds `exp` may lie in the past; 0 = default (150), negative = none.
    pub expiration_leeway: i64,
    /// Seconds `nbf` may lie in the future; 0 = default (150), negative = none.
    pub not_before_leeway: i64,
    /// Longest time since the user last authenticated (`auth_time`); zero = not checked.
    #[serde(with = "secs")]
    pub max_age: Duration,
    /// Policies of the issued token (lower-cased, sorted, deduplicated).
    pub token_policies: Vec<String>,
    /// TTL of the issued token; zero = the mount's default.
    #[serde(with = "secs")]
    pub token_ttl: Duration,
    /// Max TTL of the issued token; zero = the mount's default.
    #[serde(with = "secs")]
    pub token_max_ttl: Duration,
    /// Uses of the issued token; 0 = unlimited.
    pub token_num_uses: u64,
}

impl Default for JwtRole {
    /// Vault's defaults for a new role, before the required fields are set.
    fn default() -> Self {
        Self {
            role_type: RoleType::Jwt,
            user_claim: String::new(),
            user_claim_json_pointer: false,
            bound_audiences: Vec::new(),
            bound_subject: None,
            bound_claims: BTreeMap::new(),
            bound_claims_type: BoundClaimsType::String,
            claim_mappings: BTreeMap::new(),
            clock_skew_leeway: DEFAULT_CLOCK_SKEW_LEEWAY,
            expiration_leeway: DEFAULT_EXP_NBF_LEEWAY,
            not_before_leeway: DEFAULT_EXP_NBF_LEEWAY,
            max_age: Duration::ZERO,
            token_policies: Vec::new(),
            token_ttl: Duration::ZERO,
            token_max_ttl: Duration::ZERO,
            token_num_uses: 0,
        }
    }
}

/// The leeway in force for a stored value: Vault reads 0 as "use the default" and a negative
/// value as "no leeway".
pub(crate) fn effective_leeway(stored: i64, default: i64) -> i64 {
    match stored {
        0 => default,
        s if s < 0 => 0,
        s => s,
    }
}

impl JwtRole {
    /// The field names a role write understands; the HTTP layer warns about any others.
    pub const FIELDS: &'static [&'static str] = &[
        "role_type",
        "user_claim",
        "user_claim_json_pointer",
        "bound_audiences",
        "bound_subject",
        "bound_claims",
        "bound_claims_type",
        "claim_mappings",
        "clock_skew_leeway",
        "expiration_leeway",
        "not_before_leeway",
        "max_age",
        "token_policies",
        "policies",
        "token_ttl",
        "ttl",
        "token_max_ttl",
        "max_ttl",
        "token_num_uses",
        "num_uses",
    ];

    /// Parse a role write. `existing` is the stored role when the write updates one (only the
    /// given fields change) and `None` when it creates one (Vault's defaults apply). The result
    /// is fully checked; errors name the field.
    pub fn from_fields(fields: &Fields, existing: Option<&JwtRole>) -> Result<Self, JwtError> {
        let mut role = existing.cloned().unwrap_or_default();
        match (non_empty(fields, "role_type")?.as_deref(), existing) {
            (Some("jwt"), _) | (None, Some(_)) => {}
            (Some("oidc"), _) => return Err(invalid(
                "role_type \"oidc\" is not supported yet: only \"jwt\" roles can be created",
            )),
            (None, None) => return Err(invalid(
                "role_type defaults to \"oidc\", which is not supported yet: set role_type to \"jwt\"",
            )),
            (Some(other), _) => {
                return Err(invalid(format!("invalid role_type {other:?}: use \"jwt\"")))
            }
        }
        if let Some(claim) = field(fields.str("user_claim"))? {
            role.user_claim = claim.trim().to_owned();
        }
        if let Some(pointer) = field(fields.bool("user_claim_json_pointer"))? {
            role.user_claim_json_pointer = pointer;
        }
        if let Some(auds) = field(fields.comma_list("bound_audiences"))? {
            role.bound_audiences = auds;
        }
        if fields.has("bound_subject") {
            role.bound_subject = non_empty(fields, "bound_subject")?;
        }
        if let Some(kind) = non_empty(fields, "bound_claims_type")? {
            role.bound_claims_type = match kind.as_str() {
                "string" => BoundClaimsType::String,
                "glob" => BoundClaimsType::Glob,
                other => {
                    return Err(invalid(format!(
                        "invalid bound_claims_type {other:?}: use \"string\" or \"glob\""
                    )))
                }
            };
        }
        if let Some(raw) = fields.raw("bound_claims") {
            role.bound_claims = parse_bound_claims(raw)?;
        }
        if let Some(raw) = fields.raw("claim_mappings") {
            role.claim_mappings = parse_claim_mappings(raw)?;
        }
        for (name, slot) in [
            ("clock_skew_leeway", &mut role.clock_skew_leeway),
            ("expiration_leeway", &mut role.expiration_leeway),
            ("not_before_leeway", &mut role.not_before_leeway),
        ] {
            if let Some(secs) = parse_leeway(fields, name)? {
                *slot = secs;
            }
        }
        if let Some(max_age) = field(fields.duration("max_age"))? {
            role.max_age = max_age;
        }
        apply_token_fields(fields, &mut role)?;
        role.check()?;
        Ok(role)
    }

    /// The invariants every stored role satisfies.
    fn check(&self) -> Result<(), JwtError> {
        if self.user_claim.is_empty() {
            return Err(invalid("a user claim must be defined on the role"));
        }
        if self.bound_audiences.is_empty()
            && self.bound_subject.is_none()
            && self.bound_claims.is_empty()
        {
            return Err(invalid(
                "jwt roles must have at least one bound constraint: \
                 bound_audiences, bound_subject or bound_claims",
            ));
        }
        if !self.token_max_ttl.is_zero() && self.token_ttl > self.token_max_ttl {
            return Err(invalid("token_ttl must not be greater than token_max_ttl"));
        }
        Ok(())
    }

    /// The `data` of a role read, in Vault's shape: durations and leeways in seconds, the
    /// deprecated aliases (`policies`, `ttl`, `max_ttl`, `num_uses`) mirroring the `token_*`
    /// fields, and the OIDC and token fields we do not support present with their defaults.
    pub fn to_read_json(&self) -> Value {
        let policies = &self.token_policies;
        let (ttl, max_ttl) = (self.token_ttl.as_secs(), self.token_max_ttl.as_secs());
        json!({
            "role_type": "jwt",
            "user_claim": self.user_claim,
            "user_claim_json_pointer": self.user_claim_json_pointer,
            "bound_audiences": self.bound_audiences,
            "bound_subject": self.bound_subject.clone().unwrap_or_default(),
            "bound_claims": self.bound_claims,
            "bound_claims_type": self.bound_claims_type,
            "claim_mappings": self.claim_mappings,
            "clock_skew_leeway": self.clock_skew_leeway,
            "expiration_leeway": self.expiration_leeway,
            "not_before_leeway": self.not_before_leeway,
            "groups_claim": "",
            "oidc_scopes": [],
            "allowed_redirect_uris": [],
            "verbose_oidc_logging": false,
            "max_age": self.max_age.as_secs(),
            "token_policies": policies,
            "policies": policies,
            "token_ttl": ttl,
            "ttl": ttl,
            "token_max_ttl": max_ttl,
            "max_ttl": max_ttl,
            "token_num_uses": self.token_num_uses,
            "num_uses": self.token_num_uses,
            "token_bound_cidrs": [],
            "token_explicit_max_ttl": 0,
            "token_no_default_policy": false,
            "token_period": 0,
            "token_type": "default",
        })
    }
}

fn invalid(msg: impl Into<String>) -> JwtError {
    JwtError::InvalidParameter(msg.into())
}

/// `token_*` fields, falling back to their deprecated aliases when only those are given.
fn apply_token_fields(fields: &Fields, role: &mut JwtRole) -> Result<(), JwtError> {
    let name = |new: &'static str, old: &'static str| if fields.has(new) { new } else { old };
    if let Some(list) = field(fields.comma_list(name("token_policies", "policies")))? {
        let mut policies: Vec<String> = list.iter().map(|p| p.to_lowercase()).collect();
        policies.sort();
        policies.dedup();
        role.token_policies = policies;
    }
    if let Some(ttl) = field(fields.duration(name("token_ttl", "ttl")))? {
        role.token_ttl = ttl;
    }
    if let Some(max) = field(fields.duration(name("token_max_ttl", "max_ttl")))? {
        role.token_max_ttl = max;
    }
    let uses_name = name("token_num_uses", "num_uses");
    if let Some(uses) = field(fields.int(uses_name))? {
        role.token_num_uses =
            u64::try_from(uses).map_err(|_| invalid(format!("{uses_name} cannot be negative")))?;
    }
    Ok(())
}

/// A leeway in seconds: an integer (`-1` disables) or a duration string (`"2m"`).
fn parse_leeway(fields: &Fields, name: &str) -> Result<Option<i64>, JwtError> {
    if let Ok(Some(secs)) = fields.int(name) {
        return Ok(Some(secs));
    }
    let duration = field(fields.duration(name))?;
    duration
        .map(|d| i64::try_from(d.as_secs()).map_err(|_| invalid(format!("{name} is too large"))))
        .transpose()
}

/// A map field given as a JSON object or as a string holding one; `""` means empty.
fn object_field<'a>(
    raw: &'a Value,
    name: &str,
) -> Result<std::borrow::Cow<'a, Map<String, Value>>, JwtError> {
    let bad = || invalid(format!("{name} must be a JSON object"));
    match raw {
        Value::Object(map) => Ok(std::borrow::Cow::Borrowed(map)),
        Value::String(s) if s.trim().is_empty() => Ok(std::borrow::Cow::Owned(Map::new())),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(map)) => Ok(std::borrow::Cow::Owned(map)),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// A scalar as the string it is compared as: strings as-is, numbers and booleans printed.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_bound_claims(raw: &Value) -> Result<BTreeMap<String, BoundClaimValues>, JwtError> {
    let map = object_field(raw, "bound_claims")?;
    let mut out = BTreeMap::new();
    for (claim, value) in map.iter() {
        if claim.is_empty() {
            return Err(invalid("bound_claims: claim names must not be empty"));
        }
        let bad = || {
            invalid(format!(
                "bound_claims[{claim:?}] must be a string or a non-empty list of strings"
            ))
        };
        let values = match value {
            Value::Array(items) if !items.is_empty() => BoundClaimValues::AnyOf(
                items
                    .iter()
                    .map(scalar_text)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad)?,
            ),
            scalar => BoundClaimValues::One(scalar_text(scalar).ok_or_else(bad)?),
        };
        out.insert(claim.clone(), values);
    }
    Ok(out)
}

fn parse_claim_mappings(raw: &Value) -> Result<BTreeMap<String, String>, JwtError> {
    let map = object_field(raw, "claim_mappings")?;
    let mut out = BTreeMap::new();
    let mut targets = std::collections::BTreeSet::new();
    for (claim, target) in map.iter() {
        let target = match target {
            Value::String(t) if !t.is_empty() && !claim.is_empty() => t,
            _ => {
                return Err(invalid(format!(
                    "claim_mappings[{claim:?}] must name a non-empty metadata key"
                )))
            }
        };
        if target == "role" {
            return Err(invalid(
                "claim_mappings: metadata key \"role\" is reserved for the role name",
            ));
        }
        if !targets.insert(target.clone()) {
            return Err(invalid(format!(
                "claim_mappings: more than one claim maps to metadata key {target:?}"
            )));
        }
        out.insert(claim.clone(), target.clone());
    }
    Ok(out)
}

/// Durations stored as whole seconds.
mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testing::fields;

    fn create(v: Value) -> Result<JwtRole, JwtError> {
        JwtRole::from_fields(&fields(v), None)
    }

    fn refused(v: Value) -> String {
        create(v).unwrap_err().to_string()
    }

    #[test]
    fn role_type_must_be_jwt() {
        let base = json!({"user_claim": "sub", "bound_audiences": "ci"});
        let mut oidc = base.clone();
        oidc["role_type"] = json!("oidc");
        assert!(refused(oidc).contains("not supported yet"));
        let err = refused(base.clone());
        assert!(err.contains("set role_type to \"jwt\""), "{err}");
        let mut bogus = base.clone();
        bogus["role_type"] = json!("saml");
        assert!(refused(bogus).contains("invalid role_type"));
        let mut ok = base;
        ok["role_type"] = json!("jwt");
        assert_eq!(create(ok).unwrap().role_type, RoleType::Jwt);
    }

    #[test]
    fn user_claim_and_a_binding_are_required() {
        assert_eq!(
            refused(json!({"role_type": "jwt", "bound_audiences": "ci"})),
            "a user claim must be defined on the role"
        );
        let err = refused(json!({"role_type": "jwt", "user_claim": "sub"}));
        assert!(err.contains("at least one bound constraint"), "{err}");
        // token_bound_cidrs is not accepted, so it cannot stand in for a binding.
        let err = refused(
            json!({"role_type": "jwt", "user_claim": "sub", "token_bound_cidrs": ["10.0.0.0/8"]}),
        );
        assert!(err.contains("at least one bound constraint"), "{err}");
        for binding in [
            json!({"bound_subject": "repo:acme/app"}),
            json!({"bound_claims": {"repo": "acme/app"}}),
            json!({"bound_audiences": ["a", "b"]}),
        ] {
            let mut v = binding;
            v["role_type"] = json!("jwt");
            v["user_claim"] = json!("sub");
            create(v).unwrap();
        }
    }

    #[test]
    fn defaults_aliases_and_read_shape() {
        let role = create(json!({
            "role_type": "jwt", "user_claim": "email", "bound_audiences": "ci,deploy",
            "policies": "Deploy,read,deploy", "ttl": "10m", "max_ttl": 3600, "num_uses": "3",
        }))
        .unwrap();
        assert_eq!(role.clock_skew_leeway, 60);
        assert_eq!(role.expiration_leeway, 150);
        assert_eq!(role.not_before_leeway, 150);
        assert_eq!(role.token_policies, vec!["deploy", "read"]);
        assert_eq!(role.token_ttl, Duration::from_secs(600));
        assert_eq!(role.token_num_uses, 3);
        let read = role.to_read_json();
        assert_eq!(read["role_type"], "jwt");
        assert_eq!(read["token_ttl"], 600);
        assert_eq!(read["ttl"], 600);
        assert_eq!(read["token_max_ttl"], 3600);
        assert_eq!(read["policies"], json!(["deploy", "read"]));
        assert_eq!(read["bound_audiences"], json!(["ci", "deploy"]));
        assert_eq!(read["bound_claims_type"], "string");

        // New names win over the deprecated ones.
        let role = create(json!({
            "role_type": "jwt", "user_claim": "sub", "bound_subject": "x",
            "token_policies": ["a"], "policies": ["b"],
        }))
        .unwrap();
        assert_eq!(role.token_policies, vec!["a"]);

        let stored = serde_json::to_vec(&role).unwrap();
        assert_eq!(serde_json::from_slice::<JwtRole>(&stored).unwrap(), role);
    }

    #[test]
    fn updates_change_only_given_fields() {
        let role = create(json!({
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": "ci",
            "token_policies": "a", "clock_skew_leeway": -1,
        }))
        .unwrap();
        assert_eq!(role.clock_skew_leeway, -1);
        let updated =
            JwtRole::from_fields(&fields(json!({"token_ttl": "1h"})), Some(&role)).unwrap();
        assert_eq!(updated.bound_audiences, vec!["ci"]);
        assert_eq!(updated.token_policies, vec!["a"]);
        assert_eq!(updated.token_ttl, Duration::from_secs(3600));
        assert_eq!(updated.clock_skew_leeway, -1);
        // Removing the only binding is refused.
        let err = JwtRole::from_fields(&fields(json!({"bound_audiences": []})), Some(&role))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one bound constraint"), "{err}");
    }

    #[test]
    fn ttls_leeways_and_uses_are_checked() {
        let base = || json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "x"});
        let mut v = base();
        v["token_ttl"] = json!("2h");
        v["token_max_ttl"] = json!("1h");
        assert!(refused(v).contains("token_ttl must not be greater than token_max_ttl"));
        let mut v = base();
        v["token_num_uses"] = json!(-1);
        assert!(refused(v).contains("token_num_uses cannot be negative"));
        let mut v = base();
        v["expiration_leeway"] = json!("2m");
        v["not_before_leeway"] = json!("-1");
        let role = create(v).unwrap();
        assert_eq!(role.expiration_leeway, 120);
        assert_eq!(role.not_before_leeway, -1);
        let mut v = base();
        v["clock_skew_leeway"] = json!("soon");
        assert!(refused(v).contains("clock_skew_leeway"));
        for bad in [json!(true), json!([1]), json!("1x")] {
            let mut v = base();
            v["expiration_leeway"] = bad.clone();
            assert!(refused(v).contains("expiration_leeway"), "{bad}");
        }

        // max_age: a duration, never negative; read back in seconds; 0 (the default) = unchecked.
        assert_eq!(create(base()).unwrap().max_age, Duration::ZERO);
        let mut v = base();
        v["max_age"] = json!("15m");
        let role = create(v).unwrap();
        assert_eq!(role.max_age, Duration::from_secs(900));
        assert_eq!(role.to_read_json()["max_age"], 900);
        let stored = serde_json::to_vec(&role).unwrap();
        assert_eq!(serde_json::from_slice::<JwtRole>(&stored).unwrap(), role);
        for bad in [json!(-5), json!("soon"), json!({"s": 1})] {
            let mut v = base();
            v["max_age"] = bad.clone();
            assert!(refused(v).contains("max_age"), "{bad}");
        }

        assert_eq!(effective_leeway(0, 60), 60);
        assert_eq!(effective_leeway(-1, 60), 0);
        assert_eq!(effective_leeway(5, 60), 5);
    }

    #[test]
    fn bound_claims_and_mappings_are_checked() {
        let base = || json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "x"});
        let mut v = base();
        v["bound_claims"] = json!({"repo": "acme/*", "/ns/team": ["a", "b"], "n": 7});
        v["bound_claims_type"] = json!("glob");
        let role = create(v).unwrap();
        assert_eq!(role.bound_claims_type, BoundClaimsType::Glob);
        assert_eq!(
            role.bound_claims.get("/ns/team"),
            Some(&BoundClaimValues::AnyOf(vec!["a".into(), "b".into()]))
        );
        assert_eq!(role.bound_claims.get("n").unwrap().values(), ["7"]);
        assert_eq!(role.to_read_json()["bound_claims"]["repo"], "acme/*");

        // hvac and the CLI may send the map as a JSON string.
        let mut v = base();
        v["bound_claims"] = json!("{\"repo\": [\"acme/app\"]}");
        assert!(create(v).is_ok());

        for bad in [
            json!({"repo": {"nested": 1}}),
            json!({"repo": []}),
            json!("[1]"),
        ] {
            let mut v = base();
            v["bound_claims"] = bad;
            assert!(refused(v).contains("bound_claims"));
        }
        let mut v = base();
        v["bound_claims_type"] = json!("regex");
        assert!(refused(v).contains("bound_claims_type"));

        let mut v = base();
        v["claim_mappings"] = json!({"email": "role"});
        assert!(refused(v).contains("reserved"));
        let mut v = base();
        v["claim_mappings"] = json!({"email": "who", "upn": "who"});
        assert!(refused(v).contains("more than one claim"));
        let mut v = base();
        v["claim_mappings"] = json!({"email": "who", "/ns/team": "team"});
        assert_eq!(create(v).unwrap().claim_mappings.len(), 2);
    }
}
