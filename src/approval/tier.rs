//! An approval tier: what a role that names it (`approval_tier`) must get before its credential
//! is issued. Tiers are the operator's (`sys/approval/tiers/:name`); roles only choose one, so the
//! same rules serve every engine and a role cannot weaken its tier.
//!
//! A tier says who approves (factors: N distinct approvers named by a policy they hold or by
//! their workload), how long a request may wait (`approval_ttl`), which requests need no person
//! (auto-approval rules, [`super::rules`]), and whether an emergency bypass is allowed
//! (break-glass, with a shorter TTL).

use std::time::Duration;

use leasehold_backend::duration::parse_duration_value;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::rules::AutoRule;
use super::selector::Selector;

/// The default time a request may wait for its approvals.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(3600);
/// The default TTL (and max TTL) of a break-glass credential.
pub const DEFAULT_BREAK_GLASS_TTL: Duration = Duration::from_secs(900);

/// One set of approvers: `approvals` distinct approvers matching `approvers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// Names the factor in answers and audit entries.
    pub name: String,
    /// Who may approve.
    #[serde(flatten)]
    pub approvers: Selector,
    /// Distinct approvers needed (at least 1).
    pub approvals: u32,
}

/// A stored tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    /// How long a request waits for approval (and then collection) before it expires.
    pub approval_ttl_secs: u64,
    /// Every factor must be satisfied. Empty only when the tier approves by rule alone.
    pub factors: Vec<Factor>,
    /// Rules that approve a request without a person; the first that holds decides.
    #[serde(default)]
    pub auto_approve: Vec<AutoRule>,
    /// Whether a requester may bypass approval in an emergency (`break_glass=true`).
    #[serde(default)]
    pub break_glass: bool,
    /// TTL and max TTL of a break-glass credential.
    #[serde(default)]
    pub break_glass_ttl_secs: u64,
}

impl Tier {
    /// How long a request waits.
    pub fn approval_ttl(&self) -> Duration {
        Duration::from_secs(self.approval_ttl_secs)
    }

    /// The cap on a break-glass credential's life.
    pub fn break_glass_ttl(&self) -> Duration {
        Duration::from_secs(self.break_glass_ttl_secs)
    }

    /// Build from a write's fields, over `current` when updating. Unknown fields are refused:
    /// a misspelt `approvals` must not quietly leave a tier easier to pass than meant.
    pub fn from_fields(current: Option<Tier>, fields: &Map<String, Value>) -> Result<Tier, String> {
        const KNOWN: &[&str] = &[
            "name",
            "approval_ttl",
            "factors",
            "auto_approve",
            "break_glass",
            "break_glass_ttl",
        ];
        if let Some(unknown) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!(
                "unknown field {unknown:?} (expected one of {})",
                KNOWN.iter().skip(1).copied().collect::<Vec<_>>().join(", ")
            ));
        }
        let mut tier = current.unwrap_or(Tier {
            approval_ttl_secs: DEFAULT_APPROVAL_TTL.as_secs(),
            factors: Vec::new(),
            auto_approve: Vec::new(),
            break_glass: false,
            break_glass_ttl_secs: DEFAULT_BREAK_GLASS_TTL.as_secs(),
        });
        if let Some(v) = fields.get("approval_ttl") {
            tier.approval_ttl_secs = positive_secs(v, "approval_ttl")?;
        }
        if let Some(v) = fields.get("break_glass_ttl") {
            tier.break_glass_ttl_secs = positive_secs(v, "break_glass_ttl")?;
        }
        if let Some(v) = fields.get("break_glass") {
            tier.break_glass = match v {
                Value::Bool(b) => *b,
                Value::String(s) => s
                    .parse()
                    .map_err(|_| format!("break_glass: {s:?} is not true or false"))?,
                _ => return Err("break_glass must be true or false".into()),
            };
        }
        if let Some(v) = fields.get("factors") {
            tier.factors = parse_factors(decode_list(v, "factors")?)?;
        }
        if let Some(v) = fields.get("auto_approve") {
            tier.auto_approve = decode_list(v, "auto_approve")?
                .iter()
                .enumerate()
                .map(|(i, rule)| {
                    AutoRule::parse(rule).map_err(|e| format!("auto_approve[{i}]: {e}"))
                })
                .collect::<Result<_, _>>()?;
            let names: std::collections::BTreeSet<&str> =
                tier.auto_approve.iter().map(|r| r.name.as_str()).collect();
            if names.len() != tier.auto_approve.len() {
                return Err("auto_approve: rule names must be distinct".into());
            }
        }
        if tier.factors.is_empty() && tier.auto_approve.is_empty() {
            return Err(
                "a tier needs at least one factor (who approves) or one auto_approve rule".into(),
            );
        }
        Ok(tier)
    }

    /// The `data` of a read.
    pub fn to_data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert("approval_ttl".into(), json!(self.approval_ttl_secs));
        data.insert("factors".into(), json!(self.factors));
        data.insert(
            "auto_approve".into(),
            Value::Array(self.auto_approve.iter().map(AutoRule::to_json).collect()),
        );
        data.insert("break_glass".into(), json!(self.break_glass));
        data.insert("break_glass_ttl".into(), json!(self.break_glass_ttl_secs));
        data
    }
}

/// A list of objects, given as JSON or as a JSON string (how `vault write k=@file.json` and
/// form-style clients send structured values).
fn decode_list(v: &Value, field: &str) -> Result<Vec<Value>, String> {
    let parsed;
    let v = match v {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|e| format!("{field}: not a JSON list: {e}"))?;
            &parsed
        }
        other => other,
    };
    match v {
        Value::Array(items) => Ok(items.clone()),
        _ => Err(format!("{field} must be a list of objects")),
    }
}

fn parse_factors(items: Vec<Value>) -> Result<Vec<Factor>, String> {
    let mut factors: Vec<Factor> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |e: String| format!("factors[{i}]: {e}");
        let Value::Object(obj) = item else {
            return Err(at("must be an object".into()));
        };
        const KNOWN: &[&str] = &["name", "approvals", "policies", "workloads"];
        if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            let hint = if k == "group_names" || k == "group_ids" || k == "identity" {
                " (leasehold has no identity groups: name approvers by \"policies\" or \"workloads\")"
            } else {
                ""
            };
            return Err(at(format!(
                "unknown key {k:?}{hint}; expected one of {}",
                KNOWN.join(", ")
            )));
        }
        let name = match obj.get("name") {
            Some(Value::String(s)) if leasehold_backend::name::is_valid(s) => s.clone(),
            Some(Value::String(s)) => return Err(at(format!("invalid name {s:?}"))),
            None => format!("factor{}", i + 1),
            Some(_) => return Err(at("name must be a string".into())),
        };
        if factors.iter().any(|f| f.name == name) {
            return Err(at(format!("name {name:?} is used twice")));
        }
        let approvals = match obj.get("approvals") {
            None => 1,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| at("approvals must be a whole number from 1 to 100".into()))?
                as u32,
        };
        let approvers = Selector::parse(obj).map_err(at)?;
        if approvers.is_empty() {
            return Err(at(
                "name its approvers with \"policies\" (tokens holding one of them) or \"workloads\""
                    .into(),
            ));
        }
        factors.push(Factor {
            name,
            approvers,
            approvals,
        });
    }
    Ok(factors)
}

fn positive_secs(v: &Value, field: &str) -> Result<u64, String> {
    let d = parse_duration_value(v).map_err(|e| format!("{field}: {e}"))?;
    if d.as_secs() == 0 {
        return Err(format!("{field} must be at least one second"));
    }
    Ok(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(v: Value) -> Result<Tier, String> {
        Tier::from_fields(None, v.as_object().unwrap())
    }

    #[test]
    fn a_human_tier_with_defaults() {
        let t =
            tier(json!({"factors": [{"name": "ops", "policies": ["approver"], "approvals": 2}]}))
                .unwrap();
        assert_eq!(t.approval_ttl(), DEFAULT_APPROVAL_TTL);
        assert_eq!(t.factors[0].approvals, 2);
        assert!(!t.break_glass);
        assert_eq!(t.break_glass_ttl(), DEFAULT_BREAK_GLASS_TTL);
        let back = t.to_data();
        assert_eq!(back["factors"][0]["policies"], json!(["approver"]));
    }

    #[test]
    fn factors_as_a_json_string_and_updates_keep_the_rest() {
        let t = tier(json!({"factors": "[{\"workloads\": [\"auth/approle/role/lead\"]}]", "approval_ttl": "30m"}))
            .unwrap();
        assert_eq!(t.factors[0].name, "factor1");
        assert_eq!(t.approval_ttl_secs, 1800);
        let t2 = Tier::from_fields(
            Some(t.clone()),
            json!({"break_glass": true}).as_object().unwrap(),
        )
        .unwrap();
        assert!(t2.break_glass);
        assert_eq!(t2.factors, t.factors);
    }

    #[test]
    fn refusals_name_the_problem() {
        for (body, needle) in [
            (json!({}), "at least one factor"),
            (
                json!({"factors": [{"policies": ["a"]}], "aprovals": 2}),
                "unknown field \"aprovals\"",
            ),
            (
                json!({"factors": [{"group_names": ["x"]}]}),
                "no identity groups",
            ),
            (
                json!({"factors": [{"policies": ["a"], "approvals": 0}]}),
                "approvals",
            ),
            (json!({"factors": [{}]}), "name its approvers"),
            (
                json!({"factors": [{"policies": ["a"], "name": "x"}, {"policies": ["b"], "name": "x"}]}),
                "used twice",
            ),
            (
                json!({"factors": [{"policies": ["a"]}], "approval_ttl": "0s"}),
                "approval_ttl",
            ),
            (
                json!({"factors": [{"policies": ["a"]}], "break_glass": "maybe"}),
                "break_glass",
            ),
            (json!({"factors": "nope"}), "factors"),
        ] {
            let e = tier(body.clone()).unwrap_err();
            assert!(e.contains(needle), "{body}: {e}");
        }
    }
}
