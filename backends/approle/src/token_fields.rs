//! The `token_*` fields of a role (Vault's tokenutil set) and their deprecated aliases
//! (`policies`, `ttl`, `max_ttl`, `period`, `num_uses`, `bound_cidrs`): what a login's token
//! will be like. When both spellings are sent the `token_` one wins.
//!
//! Only service tokens exist in leasehold, so `token_type` accepts `default` and `service`
//! (and `default-service`) and refuses the batch types rather than silently ignoring them.

use std::time::Duration;

use leasehold_backend::{AuthGrant, BackendError, Fields};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::AppRoleError;
use leasehold_backend::cidr;

/// Every field name this module reads, for the unknown-field warning.
pub(super) const FIELD_NAMES: &[&str] = &[
    "token_policies",
    "policies",
    "token_bound_cidrs",
    "bound_cidrs",
    "token_ttl",
    "ttl",
    "token_max_ttl",
    "max_ttl",
    "token_explicit_max_ttl",
    "token_period",
    "period",
    "token_num_uses",
    "num_uses",
    "token_no_default_policy",
    "token_type",
];

/// The token a role's logins get.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct TokenSettings {
    /// Policies besides `default`; lower-cased, sorted, without duplicates.
    pub policies: Vec<String>,
    /// Where the token may be used from; empty for anywhere.
    pub bound_cidrs: Vec<String>,
    /// Zero: the auth mount's default.
    pub ttl_secs: u64,
    /// Zero: the auth mount's max.
    pub max_ttl_secs: u64,
    /// A hard cap regardless of the mount; zero for none.
    pub explicit_max_ttl_secs: u64,
    /// Zero: not periodic.
    pub period_secs: u64,
    /// Zero: unlimited.
    pub num_uses: u32,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// As written: `default` or `service`.
    pub token_type: String,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            policies: Vec::new(),
            bound_cidrs: Vec::new(),
            ttl_secs: 0,
            max_ttl_secs: 0,
            explicit_max_ttl_secs: 0,
            period_secs: 0,
            num_uses: 0,
            no_default_policy: false,
            token_type: "default".into(),
        }
    }
}

/// The name to read: the `token_` field if given, else its deprecated alias if given.
fn pick<'a>(fields: &Fields, name: &'a str, alias: &'a str) -> &'a str {
    if fields.has(name) || !fields.has(alias) {
        name
    } else {
        alias
    }
}

fn secs(fields: &Fields, name: &str) -> Result<Option<u64>, BackendError> {
    Ok(fields.duration(name)?.map(|d| d.as_secs()))
}

/// `token_type` as stored: `default` or `service`. Batch tokens do not exist here.
fn parse_token_type(value: &str) -> Result<String, AppRoleError> {
    match value.trim() {
        "" | "default" | "default-service" => Ok("default".into()),
        "service" => Ok("service".into()),
        "batch" | "default-batch" => Err(AppRoleError::field(
            "token_type",
            "batch tokens are not supported; use \"service\" or \"default\"",
        )),
        other => Err(AppRoleError::field(
            "token_type",
            format!("unknown type {other:?}"),
        )),
    }
}

impl TokenSettings {
    /// Overlay the fields given in `fields`; the rest keep their values.
    pub(super) fn apply(&mut self, fields: &Fields) -> Result<(), BackendError> {
        if let Some(list) = fields.comma_list(pick(fields, "token_policies", "policies"))? {
            let mut list: Vec<String> = list.iter().map(|p| p.to_lowercase()).collect();
            list.sort();
            list.dedup();
            self.policies = list;
        }
        let name = pick(fields, "token_bound_cidrs", "bound_cidrs");
        if let Some(list) = fields.comma_list(name)? {
            self.bound_cidrs = cidr::validate("token_bound_cidrs", list)?;
        }
        if let Some(v) = secs(fields, pick(fields, "token_ttl", "ttl"))? {
            self.ttl_secs = v;
        }
        if let Some(v) = secs(fields, pick(fields, "token_max_ttl", "max_ttl"))? {
            self.max_ttl_secs = v;
        }
        if let Some(v) = secs(fields, "token_explicit_max_ttl")? {
            self.explicit_max_ttl_secs = v;
        }
        if let Some(v) = secs(fields, pick(fields, "token_period", "period"))? {
            self.period_secs = v;
        }
        let name = pick(fields, "token_num_uses", "num_uses");
        if let Some(v) = fields.int(name)? {
            self.num_uses = u32::try_from(v).map_err(|_| {
                AppRoleError::field("token_num_uses", "must be between 0 and 4294967295")
            })?;
        }
        if let Some(v) = fields.bool("token_no_default_policy")? {
            self.no_default_policy = v;
        }
        if let Some(v) = fields.str("token_type")? {
            self.token_type = parse_token_type(&v)?;
        }
        if self.max_ttl_secs != 0 && self.ttl_secs > self.max_ttl_secs {
            let (ttl, max) = (self.ttl_secs, self.max_ttl_secs);
            let reason = format!("{ttl}s is longer than token_max_ttl ({max}s)");
            return Err(AppRoleError::field("token_ttl", reason).into());
        }
        Ok(())
    }

    /// The `token_*` keys of a role read, plus the deprecated `policies` and `period` that Vault
    /// still reports.
    pub(super) fn write_read_data(&self, data: &mut Map<String, Value>) {
        data.insert("token_policies".into(), json!(self.policies));
        data.insert("policies".into(), json!(self.policies));
        data.insert("token_bound_cidrs".into(), json!(self.bound_cidrs));
        data.insert("token_ttl".into(), json!(self.ttl_secs));
        data.insert("token_max_ttl".into(), json!(self.max_ttl_secs));
        data.insert(
            "token_explicit_max_ttl".into(),
            json!(self.explicit_max_ttl_secs),
        );
        data.insert("token_period".into(), json!(self.period_secs));
        data.insert("period".into(), json!(self.period_secs));
        data.insert("token_num_uses".into(), json!(self.num_uses));
        data.insert(
            "token_no_default_policy".into(),
            json!(self.no_default_policy),
        );
        data.insert("token_type".into(), json!(self.token_type));
    }

    /// A grant carrying these settings; the caller fills in identity and metadata.
    ///
    /// `AuthGrant` has one max TTL, so the explicit max (a cap whatever the mount says) and the
    /// max (a cap below the mount's) are folded into the smaller of the two.
    pub(super) fn grant(&self) -> AuthGrant {
        let max_ttl = match (self.max_ttl_secs, self.explicit_max_ttl_secs) {
            (0, e) => e,
            (m, 0) => m,
            (m, e) => m.min(e),
        };
        AuthGrant {
            policies: self.policies.clone(),
            no_default_policy: self.no_default_policy,
            ttl: Duration::from_secs(self.ttl_secs),
            max_ttl: Duration::from_secs(max_ttl),
            period: Duration::from_secs(self.period_secs),
            num_uses: self.num_uses,
            bound_cidrs: self.bound_cidrs.clone(),
            ..AuthGrant::default()
        }
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
    fn aliases_and_precedence() {
        let mut t = TokenSettings::default();
        t.apply(&fields(json!({
            "policies": "B,a, a", "ttl": "1h", "max_ttl": 7200, "period": "0",
            "num_uses": "3", "bound_cidrs": "10.0.0.0/8",
        })))
        .unwrap();
        assert_eq!(t.policies, vec!["a", "b"]);
        assert_eq!((t.ttl_secs, t.max_ttl_secs, t.num_uses), (3600, 7200, 3));
        assert_eq!(t.bound_cidrs, vec!["10.0.0.0/8"]);
        t.apply(&fields(
            json!({"token_policies": ["x"], "policies": "y", "token_ttl": 60, "ttl": 90}),
        ))
        .unwrap();
        assert_eq!(t.policies, vec!["x"]);
        assert_eq!(t.ttl_secs, 60);
    }

    #[test]
    fn refusals_name_the_field() {
        for (body, field) in [
            (
                json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
                "token_ttl",
            ),
            (json!({"token_num_uses": -1}), "token_num_uses"),
            (json!({"token_type": "batch"}), "token_type"),
            (json!({"token_bound_cidrs": "nope"}), "token_bound_cidrs"),
            (json!({"token_period": "soon"}), "token_period"),
        ] {
            let err = TokenSettings::default()
                .apply(&fields(body.clone()))
                .unwrap_err();
            assert!(matches!(err, BackendError::InvalidRequest(_)), "{body}");
            assert!(err.to_string().contains(field), "{body}: {err}");
        }
    }

    #[test]
    fn grant_folds_the_two_maxima() {
        let t = TokenSettings {
            max_ttl_secs: 600,
            explicit_max_ttl_secs: 300,
            ..TokenSettings::default()
        };
        assert_eq!(t.grant().max_ttl, Duration::from_secs(300));
        let t = TokenSettings {
            explicit_max_ttl_secs: 300,
            ..TokenSettings::default()
        };
        assert_eq!(t.grant().max_ttl, Duration::from_secs(300));
    }
}
