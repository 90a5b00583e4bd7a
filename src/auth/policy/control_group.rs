//! `control_group` in a path rule (Vault's stanza): requests the rule allows are held for
//! approval instead of served. leasehold has no identity groups, so a factor names its approvers
//! by the policies their tokens hold or by their workloads:
//!
//! ```hcl
//! path "database/creds/admin" {
//!   capabilities = ["read"]
//!   control_group {
//!     ttl = "4h"
//!     factor "dba" {
//!       identity {
//!         policy_names = ["dba-approver"]
//!         approvals    = 2
//!       }
//!       controlled_capabilities = ["read"]
//!     }
//!   }
//! }
//! ```
//!
//! (The JSON form is `"control_group": {"ttl": "4h", "factor": {"dba": {"identity": {...}}}}`.)
//! `group_names`/`group_ids` are refused with a pointer to the selectors leasehold has, never
//! ignored. Merged rules (one path in several policies) need every factor of each.

use std::time::Duration;

use leasehold_backend::duration::parse_duration_value;
use serde_json::{Map, Value};

use super::capability::{CapSet, Capability};
use crate::approval::selector::Selector;
use crate::approval::tier::Factor;

/// A rule's control group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ControlGroup {
    /// How long a held request waits (`None`: the default approval TTL).
    pub ttl: Option<Duration>,
    /// Every factor that applies must be met.
    pub factors: Vec<ControlFactor>,
}

/// One factor and the operations it governs.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlFactor {
    /// Who approves, and how many.
    pub factor: Factor,
    /// `controlled_capabilities`: the factor applies only to these (`None`: to all).
    pub controlled: Option<CapSet>,
}

impl ControlGroup {
    /// Parse the stanza of a rule granting `granted`.
    pub fn parse(v: &Value, granted: CapSet) -> Result<ControlGroup, String> {
        let Value::Object(obj) = v else {
            return Err("control_group must be a block".into());
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["ttl", "factor"].contains(&k.as_str()))
        {
            return Err(format!(
                "control_group: unknown key {k:?} (expected ttl, factor)"
            ));
        }
        let ttl = match obj.get("ttl") {
            None => None,
            Some(v) => Some(parse_duration_value(v).map_err(|e| format!("control_group ttl: {e}")))
                .transpose()?
                .filter(|d| !d.is_zero()),
        };
        let mut named: Vec<(String, &Value)> = Vec::new();
        match obj.get("factor") {
            Some(Value::Object(m)) => named.extend(m.iter().map(|(k, v)| (k.clone(), v))),
            // HCL1's JSON: a list of single-key objects.
            Some(Value::Array(items)) => {
                for item in items {
                    let Value::Object(m) = item else {
                        return Err("control_group: factor must be named blocks".into());
                    };
                    named.extend(m.iter().map(|(k, v)| (k.clone(), v)));
                }
            }
            _ => {
                return Err(
                    "control_group needs at least one factor \"name\" { identity { ... } }".into(),
                )
            }
        }
        if named.is_empty() {
            return Err("control_group needs at least one factor".into());
        }
        let mut factors = Vec::new();
        for (name, body) in named {
            factors.push(
                parse_factor(&name, body, granted)
                    .map_err(|e| format!("control_group factor {name:?}: {e}"))?,
            );
        }
        Ok(ControlGroup { ttl, factors })
    }

    /// Fold in the control group of another rule for the same path: every factor of both, the
    /// shorter wait.
    pub fn merge(&mut self, other: &ControlGroup) {
        for f in &other.factors {
            if !self.factors.contains(f) {
                self.factors.push(f.clone());
            }
        }
        self.ttl = match (self.ttl, other.ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The factors that govern a request needing `needed` (empty: it is not held).
    pub fn factors_for(&self, needed: Capability) -> Vec<Factor> {
        self.factors
            .iter()
            .filter(|f| f.controlled.is_none_or(|c| c.contains(needed)))
            .map(|f| f.factor.clone())
            .collect()
    }
}

fn parse_factor(name: &str, body: &Value, granted: CapSet) -> Result<ControlFactor, String> {
    if !leasehold_backend::name::is_valid(name) {
        return Err("invalid factor name".into());
    }
    let Value::Object(obj) = body else {
        return Err("must be a block".into());
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["identity", "controlled_capabilities"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown key {k:?} (expected identity, controlled_capabilities)"
        ));
    }
    let Some(Value::Object(identity)) = obj.get("identity") else {
        return Err("needs an identity { policy_names = [...], approvals = N } block".into());
    };
    let approvers = parse_identity(identity)?;
    let approvals = match identity.get("approvals") {
        None => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=100).contains(n))
            .ok_or("approvals must be a whole number from 1 to 100")? as u32,
    };
    let controlled = match obj.get("controlled_capabilities") {
        None => None,
        Some(Value::Array(items)) => {
            let mut caps = CapSet::empty();
            for item in items {
                let word = item
                    .as_str()
                    .ok_or("controlled_capabilities must be strings")?;
                let cap: Capability = word.parse().map_err(|e| format!("{e}"))?;
                if !granted.contains(cap) {
                    return Err(format!(
                        "controlled capability {word:?} is not among the rule's capabilities"
                    ));
                }
                caps.insert(cap);
            }
            Some(caps)
        }
        Some(_) => return Err("controlled_capabilities must be a list".into()),
    };
    Ok(ControlFactor {
        factor: Factor {
            name: name.to_owned(),
            approvers,
            approvals,
        },
        controlled,
    })
}

fn parse_identity(identity: &Map<String, Value>) -> Result<Selector, String> {
    for k in identity.keys() {
        match k.as_str() {
            "policy_names" | "workloads" | "approvals" => {}
            "group_names" | "group_ids" => {
                return Err(format!(
                    "identity {k:?}: leasehold has no identity groups; name approvers with policy_names (policies their tokens hold) or workloads"
                ))
            }
            other => {
                return Err(format!(
                    "identity: unknown key {other:?} (expected policy_names, workloads, approvals)"
                ))
            }
        }
    }
    let mut fields = Map::new();
    if let Some(v) = identity.get("policy_names") {
        fields.insert("policies".into(), v.clone());
    }
    if let Some(v) = identity.get("workloads") {
        fields.insert("workloads".into(), v.clone());
    }
    let selector = Selector::parse(&fields)?;
    if selector.is_empty() {
        return Err("identity names no approvers: set policy_names or workloads".into());
    }
    Ok(selector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caps(words: &[&str]) -> CapSet {
        words
            .iter()
            .map(|w| w.parse::<Capability>().unwrap())
            .collect()
    }

    #[test]
    fn a_factor_by_policy_for_reads() {
        let cg = ControlGroup::parse(
            &json!({"ttl": "4h", "factor": {"dba": {"identity": {"policy_names": ["dba"], "approvals": 2}, "controlled_capabilities": ["read"]}}}),
            caps(&["read", "update"]),
        )
        .unwrap();
        assert_eq!(cg.ttl, Some(Duration::from_secs(4 * 3600)));
        assert_eq!(cg.factors_for(Capability::Read).len(), 1);
        assert_eq!(cg.factors_for(Capability::Read)[0].approvals, 2);
        assert!(cg.factors_for(Capability::Update).is_empty());
    }

    #[test]
    fn refusals() {
        for (v, needle) in [
            (
                json!({"factor": {"a": {"identity": {"group_names": ["m"]}}}}),
                "no identity groups",
            ),
            (
                json!({"factor": {"a": {"identity": {}}}}),
                "names no approvers",
            ),
            (json!({"factor": {}}), "at least one factor"),
            (json!({"ttl": "1h"}), "factor"),
            (
                json!({"factor": {"a": {"identity": {"policy_names": ["x"]}, "controlled_capabilities": ["delete"]}}}),
                "not among",
            ),
            (
                json!({"factor": {"a": {"identity": {"policy_names": ["x"], "approvals": 0}}}}),
                "approvals",
            ),
            (json!({"factors": {}}), "unknown key"),
        ] {
            let e = ControlGroup::parse(&v, caps(&["read"])).unwrap_err();
            assert!(e.contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn hcl_blocks_and_json_read_the_same() {
        let hcl = r#"
path "database/creds/admin" {
  capabilities = ["read"]
  control_group {
    ttl = "4h"
    factor "dba" {
      identity {
        policy_names = ["dba-approver"]
        approvals = 2
      }
    }
  }
}
"#;
        let json = r#"{"path": {"database/creds/admin": {"capabilities": ["read"], "control_group": {"ttl": "4h", "factor": {"dba": {"identity": {"policy_names": ["dba-approver"], "approvals": 2}}}}}}}"#;
        let a = crate::auth::policy::parse("p", hcl).unwrap();
        let b = crate::auth::policy::parse("p", json).unwrap();
        let cg =
            |p: &crate::auth::policy::Policy| p.rules()[0].permissions().control_group().cloned();
        assert_eq!(cg(&a), cg(&b));
        let cg = cg(&a).unwrap();
        assert_eq!(cg.factors[0].factor.approvers.policies, ["dba-approver"]);
        assert_eq!(cg.factors[0].factor.approvals, 2);
        // Vault's group selectors are refused with a pointer, never ignored.
        let e = crate::auth::policy::parse("p", &hcl.replace("policy_names", "group_names"))
            .unwrap_err();
        assert!(e.to_string().contains("no identity groups"), "{e}");
    }

    #[test]
    fn merging_needs_both() {
        let a = ControlGroup::parse(
            &json!({"ttl": "2h", "factor": {"a": {"identity": {"policy_names": ["x"]}}}}),
            caps(&["read"]),
        )
        .unwrap();
        let mut b = ControlGroup::parse(
            &json!({"factor": {"b": {"identity": {"workloads": ["auth/jwt/role/lead"]}}}}),
            caps(&["read"]),
        )
        .unwrap();
        b.merge(&a);
        assert_eq!(b.factors_for(Capability::Read).len(), 2);
        assert_eq!(b.ttl, Some(Duration::from_secs(7200)));
    }
}
