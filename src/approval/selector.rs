//! Who a factor names, and who a rule trusts: tokens holding one of some policies, or tokens of
//! some workloads. A workload pattern is exact, or ends in `*` to take every workload below a
//! prefix (`auth/approle/role/deploy-*`); `*` alone is refused, as it would name everyone.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::TokenEntry;

/// Policies and workload patterns; a token matches when it holds one of the policies or its
/// workload matches one of the patterns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Selector {
    /// Policy names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Workload patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<String>,
}

impl Selector {
    /// `policies` and `workloads` of `obj` (other keys are the caller's to check).
    pub fn parse(obj: &Map<String, Value>) -> Result<Selector, String> {
        let policies = strings(obj.get("policies"), "policies")?;
        if policies.iter().any(|p| p == "root") {
            // Root bypasses every check already; naming it would let any root token approve.
            return Err("policies: \"root\" cannot name approvers".into());
        }
        let workloads = strings(obj.get("workloads"), "workloads")?;
        for w in &workloads {
            workload_pattern_ok(w)?;
        }
        Ok(Selector {
            policies,
            workloads,
        })
    }

    /// Names nobody.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.workloads.is_empty()
    }

    /// Whether `token` is one of those named.
    pub fn matches(&self, token: &TokenEntry) -> bool {
        token.policies.iter().any(|p| self.policies.contains(p))
            || self.matches_workload(&token.workload)
    }

    /// Whether `workload` matches a pattern (an empty workload matches none).
    pub fn matches_workload(&self, workload: &str) -> bool {
        !workload.is_empty()
            && self
                .workloads
                .iter()
                .any(|pattern| workload_matches(pattern, workload))
    }
}

/// A pattern is exact, or a non-empty prefix followed by `*`.
fn workload_pattern_ok(pattern: &str) -> Result<(), String> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if body.is_empty() {
        return Err(format!(
            "workloads: {pattern:?} would match every workload; name a prefix"
        ));
    }
    if body.contains('*') {
        return Err(format!(
            "workloads: {pattern:?}: '*' is only allowed at the end"
        ));
    }
    Ok(())
}

fn workload_matches(pattern: &str, workload: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => workload.starts_with(prefix),
        None => pattern == workload,
    }
}

/// A list of non-empty strings (a comma-separated string is accepted too, as Vault's fields are).
pub fn strings(v: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.trim().to_owned())
                    .ok_or_else(|| format!("{field} must be a list of strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{field} must be a list of strings")),
    };
    if items.iter().any(String::is_empty) {
        return Err(format!("{field}: empty entry"));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: Value) -> Result<Selector, String> {
        Selector::parse(v.as_object().unwrap())
    }

    fn token(policies: &[&str], workload: &str) -> TokenEntry {
        TokenEntry {
            policies: policies.iter().map(|p| p.to_string()).collect(),
            workload: workload.into(),
            ..TokenEntry::default()
        }
    }

    #[test]
    fn policies_or_workloads() {
        let s = sel(json!({"policies": ["approver"], "workloads": ["auth/approle/role/lead", "auth/jwt/role/ops-*"]}))
            .unwrap();
        assert!(s.matches(&token(&["default", "approver"], "")));
        assert!(s.matches(&token(&["default"], "auth/approle/role/lead")));
        assert!(s.matches(&token(&["default"], "auth/jwt/role/ops-night")));
        assert!(!s.matches(&token(&["default"], "auth/approle/role/lead2")));
        assert!(!s.matches(&token(&["default"], "auth/jwt/role/op")));
        assert!(!s.matches(&token(&["approverx"], "")));
        assert!(!s.matches_workload(""));
    }

    #[test]
    fn refused_patterns() {
        for bad in [
            json!({"workloads": ["*"]}),
            json!({"workloads": ["a*b"]}),
            json!({"policies": ["root"]}),
            json!({"policies": [""]}),
            json!({"policies": 3}),
        ] {
            assert!(sel(bad.clone()).is_err(), "{bad}");
        }
        assert_eq!(
            sel(json!({"policies": "a, b"})).unwrap().policies,
            ["a", "b"]
        );
    }
}
