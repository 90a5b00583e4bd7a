//! What one path rule grants: its capabilities plus the optional parameter and response-wrapping
//! constraints, how two rules for the same path string merge, and how a request's fields are
//! checked against the parameter constraints.
//!
//! Merging follows Vault: capabilities are unioned, a `deny` on either side wipes everything
//! else, parameter value lists are concatenated (an empty list, meaning "any value", absorbs the
//! other side), required parameters are unioned, and the smaller wrapping TTL of each kind is
//! kept.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::capability::{CapSet, Capability};
use super::control_group::ControlGroup;

/// Parameter name → values allowed (or denied). An empty list means "any value".
pub type ParameterValues = BTreeMap<String, Vec<Value>>;

/// The grant of one rule, or of all rules for one path string merged across a token's policies.
///
/// Invariant: if the capabilities hold `deny` they hold nothing else and every constraint is
/// empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Permissions {
    capabilities: CapSet,
    allowed_parameters: ParameterValues,
    denied_parameters: ParameterValues,
    required_parameters: Vec<String>,
    min_wrapping_ttl: Option<Duration>,
    max_wrapping_ttl: Option<Duration>,
    control_group: Option<ControlGroup>,
}

/// The parameter and wrapping constraints of a rule, as parsed (keys already lowercased).
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Constraints {
    pub(super) allowed_parameters: ParameterValues,
    pub(super) denied_parameters: ParameterValues,
    pub(super) required_parameters: Vec<String>,
    pub(super) min_wrapping_ttl: Option<Duration>,
    pub(super) max_wrapping_ttl: Option<Duration>,
    pub(super) control_group: Option<ControlGroup>,
}

impl Permissions {
    /// Build from parsed parts; a set holding `deny` drops everything else.
    pub(super) fn new(capabilities: CapSet, constraints: Constraints) -> Permissions {
        if capabilities.is_deny() {
            return Permissions::deny();
        }
        let Constraints {
            allowed_parameters,
            denied_parameters,
            required_parameters,
            min_wrapping_ttl,
            max_wrapping_ttl,
            control_group,
        } = constraints;
        Permissions {
            capabilities,
            allowed_parameters,
            denied_parameters,
            required_parameters,
            min_wrapping_ttl,
            max_wrapping_ttl,
            control_group,
        }
    }

    fn deny() -> Permissions {
        Permissions {
            capabilities: [Capability::Deny].into_iter().collect(),
            ..Permissions::default()
        }
    }

    /// The capabilities granted (just `{deny}` for a refused path).
    pub fn capabilities(&self) -> CapSet {
        self.capabilities
    }

    /// `allowed_parameters`: if non-empty, only these fields may be sent (`"*"` allows any
    /// field), each with one of its listed values (glob `*` at either end of a string).
    pub fn allowed_parameters(&self) -> &ParameterValues {
        &self.allowed_parameters
    }

    /// `denied_parameters`: fields that must not be sent with one of the listed values (an empty
    /// list denies the field whatever its value; the key `"*"` denies every field).
    pub fn denied_parameters(&self) -> &ParameterValues {
        &self.denied_parameters
    }

    /// `required_parameters`: fields that must be present, lowercased.
    pub fn required_parameters(&self) -> &[String] {
        &self.required_parameters
    }

    /// `min_wrapping_ttl`, if set and non-zero.
    pub fn min_wrapping_ttl(&self) -> Option<Duration> {
        self.min_wrapping_ttl
    }

    /// `max_wrapping_ttl`, if set and non-zero.
    pub fn max_wrapping_ttl(&self) -> Option<Duration> {
        self.max_wrapping_ttl
    }

    /// The rule's control group: requests it allows are held for approval.
    pub fn control_group(&self) -> Option<&ControlGroup> {
        self.control_group.as_ref()
    }

    /// True if the rule only admits response-wrapped requests.
    pub fn requires_wrapping(&self) -> bool {
        self.min_wrapping_ttl.is_some() || self.max_wrapping_ttl.is_some()
    }

    /// Does a request wrapped with `wrap_ttl` (`None`: not wrapped) meet the rule's
    /// `min_wrapping_ttl`/`max_wrapping_ttl`? As in Vault: either bound demands wrapping, the
    /// TTL must lie within the bounds set, and a merge that left max below min admits nothing.
    pub fn admits_wrap_ttl(&self, wrap_ttl: Option<Duration>) -> bool {
        if !self.requires_wrapping() {
            return true;
        }
        let Some(ttl) = wrap_ttl else {
            return false;
        };
        let above_min = self.min_wrapping_ttl.is_none_or(|min| ttl >= min);
        let below_max = self.max_wrapping_ttl.is_none_or(|max| ttl <= max);
        let bounds_agree = match (self.min_wrapping_ttl, self.max_wrapping_ttl) {
            (Some(min), Some(max)) => max >= min,
            _ => true,
        };
        above_min && below_max && bounds_agree
    }

    /// Fold `other` (a rule for the same path string) into `self`.
    pub(super) fn merge(&mut self, other: &Permissions) {
        if self.capabilities.is_deny() {
            return;
        }
        if other.capabilities.is_deny() {
            *self = Permissions::deny();
            return;
        }
        self.capabilities = self.capabilities.union(other.capabilities);
        merge_values(&mut self.allowed_parameters, &other.allowed_parameters);
        merge_values(&mut self.denied_parameters, &other.denied_parameters);
        for name in &other.required_parameters {
            if !self.required_parameters.contains(name) {
                self.required_parameters.push(name.clone());
            }
        }
        self.min_wrapping_ttl = smaller(self.min_wrapping_ttl, other.min_wrapping_ttl);
        self.max_wrapping_ttl = smaller(self.max_wrapping_ttl, other.max_wrapping_ttl);
        match (&mut self.control_group, &other.control_group) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.control_group = Some(theirs.clone()),
            _ => {}
        }
    }

    /// True if a request needing `needed` and carrying `fields` satisfies the parameter
    /// constraints. Only reads and writes are constrained (as in Vault); list and delete pass.
    /// Field names compare case-insensitively.
    pub fn check_parameters(&self, needed: Capability, fields: &Map<String, Value>) -> bool {
        if !matches!(
            needed,
            Capability::Read | Capability::Create | Capability::Update | Capability::Patch
        ) {
            return true;
        }
        let present = |name: &str| fields.keys().any(|k| k.eq_ignore_ascii_case(name));
        if !self.required_parameters.iter().all(|r| present(r)) {
            return false;
        }
        if fields.is_empty() {
            return true;
        }
        if self.denied_parameters.contains_key("*") {
            return false;
        }
        for (name, value) in fields {
            let name = name.to_ascii_lowercase();
            if let Some(values) = self.denied_parameters.get(&name) {
                if value_denied(value, values) {
                    return false;
                }
            }
        }
        if self.allowed_parameters.is_empty() {
            return true;
        }
        let any_field = self.allowed_parameters.contains_key("*");
        fields.iter().all(|(name, value)| {
            match self.allowed_parameters.get(&name.to_ascii_lowercase()) {
                Some(values) => value_allowed(value, values),
                None => any_field,
            }
        })
    }
}

fn merge_values(into: &mut ParameterValues, from: &ParameterValues) {
    for (name, values) in from {
        match into.get_mut(name) {
            None => {
                into.insert(name.clone(), values.clone());
            }
            // An empty list means "any value": it absorbs whatever the other side lists.
            Some(existing) if existing.is_empty() => {}
            Some(existing) if values.is_empty() => existing.clear(),
            Some(existing) => existing.extend(values.iter().cloned()),
        }
    }
}

fn smaller(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// True if `value` is one of `listed`; an empty list lists everything.
fn value_listed(value: &Value, listed: &[Value]) -> bool {
    listed.is_empty()
        || listed.iter().any(|item| match (item, value) {
            (Value::String(pattern), Value::String(s)) => glob_match(pattern, s),
            (item, value) => item == value,
        })
}

/// The parts a weakly typed field may be read as: the elements of an array, the items of a
/// comma-separated string (Vault's comma-string-slice fields take `"a,b"` for `["a","b"]`).
fn parts(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items.clone()),
        Value::String(s) if s.contains(',') => Some(
            s.split(',')
                .map(|p| Value::String(p.trim().to_owned()))
                .collect(),
        ),
        _ => None,
    }
}

/// `allowed_parameters`: the value as a whole is listed, or every part of it is. Vault compares
/// the whole value only, so `["web"]` sent as a list fails against `policies = ["web"]`; reading
/// the parts accepts it and still refuses `"web,root"` or `["web","root"]`.
fn value_allowed(value: &Value, listed: &[Value]) -> bool {
    value_listed(value, listed)
        || parts(value).is_some_and(|p| !p.is_empty() && p.iter().all(|v| value_listed(v, listed)))
}

/// `denied_parameters`: the value as a whole is listed, or any part of it is. Vault compares the
/// whole value only, which lets `"web,root"` past a denied `root` on a field the backend splits
/// on commas; we refuse it.
fn value_denied(value: &Value, listed: &[Value]) -> bool {
    value_listed(value, listed)
        || parts(value).is_some_and(|p| p.iter().any(|v| value_listed(v, listed)))
}

/// `*x*` contains, `*x` ends with, `x*` starts with, anything else (including a lone `*`) equals.
fn glob_match(pattern: &str, s: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == s;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), Some(_)) => rest.strip_suffix('*').is_some_and(|mid| s.contains(mid)),
        (Some(suffix), None) => s.ends_with(suffix),
        (None, Some(prefix)) => s.starts_with(prefix),
        (None, None) => s == pattern,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn caps(list: &[Capability]) -> CapSet {
        list.iter().copied().collect()
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn with(
        list: &[Capability],
        allowed: &[(&str, Value)],
        denied: &[(&str, Value)],
        required: &[&str],
    ) -> Permissions {
        let map = |kv: &[(&str, Value)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.as_array().unwrap().clone()))
                .collect()
        };
        Permissions::new(
            caps(list),
            Constraints {
                allowed_parameters: map(allowed),
                denied_parameters: map(denied),
                required_parameters: required.iter().map(|s| s.to_string()).collect(),
                ..Constraints::default()
            },
        )
    }

    #[test]
    fn deny_drops_everything_else() {
        let p = with(
            &[Capability::Read, Capability::Deny],
            &[("a", json!([]))],
            &[],
            &["a"],
        );
        assert_eq!(p.capabilities(), caps(&[Capability::Deny]));
        assert!(p.allowed_parameters().is_empty());
        assert!(p.required_parameters().is_empty());
    }

    #[test]
    fn merge_unions_and_deny_wins_either_way() {
        let mut a = with(&[Capability::Read], &[], &[], &[]);
        a.merge(&with(&[Capability::List], &[], &[], &[]));
        assert_eq!(
            a.capabilities(),
            caps(&[Capability::Read, Capability::List])
        );

        a.merge(&with(&[Capability::Deny], &[], &[], &[]));
        assert_eq!(a.capabilities(), caps(&[Capability::Deny]));
        a.merge(&with(&[Capability::Update], &[], &[], &[]));
        assert_eq!(a.capabilities(), caps(&[Capability::Deny]));
    }

    #[test]
    fn merge_parameter_lists() {
        let mut a = with(
            &[Capability::Update],
            &[("ttl", json!(["1h"])), ("any", json!([]))],
            &[],
            &["x"],
        );
        a.merge(&with(
            &[Capability::Update],
            &[
                ("ttl", json!(["2h"])),
                ("any", json!(["v"])),
                ("new", json!([1])),
            ],
            &[],
            &["x", "y"],
        ));
        assert_eq!(
            a.allowed_parameters()["ttl"],
            vec![json!("1h"), json!("2h")]
        );
        assert!(a.allowed_parameters()["any"].is_empty());
        assert_eq!(a.allowed_parameters()["new"], vec![json!(1)]);
        assert_eq!(a.required_parameters(), ["x", "y"]);

        let mut b = with(&[Capability::Update], &[("k", json!(["a"]))], &[], &[]);
        b.merge(&with(&[Capability::Update], &[("k", json!([]))], &[], &[]));
        assert!(b.allowed_parameters()["k"].is_empty());
    }

    #[test]
    fn merge_keeps_smaller_wrapping_ttls() {
        let ttl = |min: Option<u64>, max: Option<u64>| {
            Permissions::new(
                caps(&[Capability::Read]),
                Constraints {
                    min_wrapping_ttl: min.map(Duration::from_secs),
                    max_wrapping_ttl: max.map(Duration::from_secs),
                    ..Constraints::default()
                },
            )
        };
        let mut a = ttl(Some(60), None);
        assert!(a.requires_wrapping());
        a.merge(&ttl(Some(30), Some(300)));
        assert_eq!(a.min_wrapping_ttl(), Some(Duration::from_secs(30)));
        assert_eq!(a.max_wrapping_ttl(), Some(Duration::from_secs(300)));
        assert!(!ttl(None, None).requires_wrapping());
    }

    #[test]
    fn wrap_ttl_bounds_as_vault() {
        let rule = |min: Option<u64>, max: Option<u64>| Permissions {
            min_wrapping_ttl: min.map(Duration::from_secs),
            max_wrapping_ttl: max.map(Duration::from_secs),
            ..Permissions::default()
        };
        let s = |n| Some(Duration::from_secs(n));
        assert!(rule(None, None).admits_wrap_ttl(None));
        assert!(rule(None, None).admits_wrap_ttl(s(5)));
        let both = rule(Some(60), Some(300));
        assert!(!both.admits_wrap_ttl(None), "unwrapped is refused");
        assert!(!both.admits_wrap_ttl(s(59)));
        assert!(both.admits_wrap_ttl(s(60)));
        assert!(both.admits_wrap_ttl(s(300)));
        assert!(!both.admits_wrap_ttl(s(301)));
        assert!(!rule(None, Some(10)).admits_wrap_ttl(None));
        assert!(rule(None, Some(10)).admits_wrap_ttl(s(1)));
        assert!(rule(Some(10), None).admits_wrap_ttl(s(86_400)));
        // Merging can leave max below min: nothing fits.
        assert!(!rule(Some(300), Some(60)).admits_wrap_ttl(s(100)));
    }

    #[test]
    fn required_parameters_must_be_present() {
        let p = with(&[Capability::Update], &[], &[], &["ttl"]);
        assert!(!p.check_parameters(Capability::Update, &fields(json!({}))));
        assert!(p.check_parameters(Capability::Update, &fields(json!({"TTL": "1h"}))));
        // Lists and deletes are not constrained.
        assert!(p.check_parameters(Capability::List, &fields(json!({}))));
        assert!(p.check_parameters(Capability::Delete, &fields(json!({}))));
    }

    #[test]
    fn denied_parameters() {
        let p = with(
            &[Capability::Update],
            &[],
            &[
                ("policies", json!(["root", "admin-*"])),
                ("period", json!([])),
            ],
            &[],
        );
        let ok = |v| p.check_parameters(Capability::Update, &fields(v));
        assert!(ok(json!({})));
        assert!(ok(json!({"policies": "web"})));
        assert!(!ok(json!({"policies": "root"})));
        assert!(!ok(json!({"policies": "admin-ops"})));
        assert!(!ok(json!({"Period": 5})));
        // A list, or a comma-separated string, is refused when any part is denied.
        assert!(!ok(json!({"policies": ["web", "root"]})));
        assert!(!ok(json!({"policies": "web, root"})));
        assert!(!ok(json!({"policies": "web,admin-x"})));
        assert!(ok(json!({"policies": ["web", "db"]})));

        let all = with(&[Capability::Update], &[], &[("*", json!([]))], &[]);
        assert!(all.check_parameters(Capability::Update, &fields(json!({}))));
        assert!(!all.check_parameters(Capability::Update, &fields(json!({"a": 1}))));
    }

    #[test]
    fn allowed_parameters() {
        let p = with(
            &[Capability::Update],
            &[("ttl", json!(["1h", "*m"])), ("name", json!([]))],
            &[],
            &[],
        );
        let ok = |v| p.check_parameters(Capability::Update, &fields(v));
        assert!(ok(json!({"ttl": "1h", "name": "anything"})));
        assert!(ok(json!({"ttl": "30m"})));
        assert!(!ok(json!({"ttl": "2h"})));
        assert!(!ok(json!({"other": 1})));
        // Every part of a list, or of a comma-separated string, must be allowed.
        assert!(ok(json!({"ttl": ["1h", "5m"]})));
        assert!(ok(json!({"ttl": "1h,5m"})));
        assert!(!ok(json!({"ttl": ["1h", "2h"]})));
        assert!(!ok(json!({"ttl": "1h,2h"})));
        assert!(!ok(json!({"ttl": []})));

        let star = with(
            &[Capability::Update],
            &[("*", json!([])), ("ttl", json!(["1h"]))],
            &[],
            &[],
        );
        assert!(star.check_parameters(Capability::Update, &fields(json!({"other": 1}))));
        assert!(!star.check_parameters(Capability::Update, &fields(json!({"ttl": "9h"}))));
    }

    #[test]
    fn globs() {
        assert!(glob_match("abc", "abc"));
        assert!(!glob_match("abc", "abcd"));
        assert!(glob_match("ab*", "abcd"));
        assert!(glob_match("*cd", "abcd"));
        assert!(glob_match("*bc*", "abcd"));
        assert!(!glob_match("*x*", "abcd"));
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "abc"));
        assert!(glob_match("**", "abc"));
    }
}
