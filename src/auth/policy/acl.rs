//! The `Acl`: a token's policies compiled into one lookup table, and the question every request
//! asks of it — may this path be used with this capability?
//!
//! Rules for the same path string are merged across (and within) policies first, so the lookup
//! only ever chooses between different strings: an exact string beats every pattern, and among
//! patterns the most specific wins ([`super::matcher`]). Lists get two extra chances because
//! their request path ends in `/` (§5.4): exact with the slash, exact without, patterns with,
//! patterns without.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::capability::{CapSet, Capability};
use super::matcher::PathPattern;
use super::permissions::Permissions;
use super::Policy;

/// The compiled access rules of one token. Cheap to build per request for a handful of policies;
/// immutable once built.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, Permissions>,
    /// Keyed by pattern text so that rules for the same string merge.
    patterns: BTreeMap<String, (PathPattern, Permissions)>,
}

impl Acl {
    /// Compile `policies`. If any of them is [`super::root_policy`], the ACL allows everything
    /// and the others are irrelevant. Duplicate policies are harmless (merging is idempotent).
    pub fn new<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Acl {
        let mut acl = Acl::default();
        for policy in policies {
            acl.root |= policy.is_root();
            for rule in policy.rules() {
                acl.insert(&rule.pattern, &rule.permissions);
            }
        }
        acl
    }

    fn insert(&mut self, pattern: &PathPattern, permissions: &Permissions) {
        let text = pattern.text().to_owned();
        if pattern.is_exact() {
            match self.exact.get_mut(&text) {
                Some(existing) => existing.merge(permissions),
                None => {
                    self.exact.insert(text, permissions.clone());
                }
            }
        } else {
            match self.patterns.get_mut(&text) {
                Some((_, existing)) => existing.merge(permissions),
                None => {
                    self.patterns
                        .insert(text, (pattern.clone(), permissions.clone()));
                }
            }
        }
    }

    /// True if the token holds the `root` policy, which bypasses every check.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The merged rule that governs `path` for a request needing `needed` (a leading `/` is
    /// ignored; list requests get the trailing-slash fallbacks), or `None` if no rule matches.
    /// This is where the parameter and wrapping constraints of the deciding rule can be read.
    /// Root tokens have no rule: check [`Acl::is_root`] first.
    pub fn rule_for(&self, path: &str, needed: Capability) -> Option<&Permissions> {
        self.lookup(path, needed == Capability::List)
    }

    fn lookup(&self, path: &str, list: bool) -> Option<&Permissions> {
        let path = path.trim_start_matches('/');
        let without_slash = path.strip_suffix('/').filter(|_| list);
        self.exact
            .get(path)
            .or_else(|| without_slash.and_then(|p| self.exact.get(p)))
            .or_else(|| self.best_pattern(path))
            .or_else(|| without_slash.and_then(|p| self.best_pattern(p)))
    }

    fn best_pattern(&self, path: &str) -> Option<&Permissions> {
        self.patterns
            .values()
            .filter(|(pattern, _)| pattern.matches(path))
            .max_by(|(a, _), (b, _)| a.priority().cmp(&b.priority()))
            .map(|(_, permissions)| permissions)
    }

    /// The capabilities the token holds on `path`, as `sys/capabilities-self` reports them:
    /// looked up like a list (so `secret/` also finds a rule for `secret`), every grant for root,
    /// `{deny}` for a refused path, empty when nothing matches.
    pub fn capabilities(&self, path: &str) -> CapSet {
        if self.root {
            return CapSet::all_grants();
        }
        self.lookup(path, true)
            .map(Permissions::capabilities)
            .unwrap_or_default()
    }

    /// The words `sys/capabilities-self` answers for `path`: `["root"]` for a root token,
    /// `["deny"]` when the path is refused or nothing matches, otherwise the granted
    /// capabilities sorted alphabetically.
    pub fn capability_names(&self, path: &str) -> Vec<&'static str> {
        if self.root {
            return vec!["root"];
        }
        let caps = self.capabilities(path);
        if caps.is_empty() || caps.is_deny() {
            return vec![Capability::Deny.as_str()];
        }
        let mut names: Vec<_> = caps.iter().map(Capability::as_str).collect();
        names.sort_unstable();
        names
    }

    /// May a request needing `needed` on `path` proceed? `sudo_path` says whether the path is
    /// root-protected (pass [`super::requires_sudo`]`(path)`, or a backend's own list), in which
    /// case the rule must grant `sudo` too. Root is always allowed. Refused when no rule matches,
    /// the rule holds `deny`, or `needed` is `Deny` itself. Parameter and wrapping constraints
    /// are not looked at here: see [`Acl::check_parameters`] and [`Acl::check_wrapping`], which
    /// every request must pass as well.
    pub fn allows(&self, path: &str, needed: Capability, sudo_path: bool) -> bool {
        if self.root {
            return true;
        }
        let Some(rule) = self.rule_for(path, needed) else {
            return false;
        };
        let caps = rule.capabilities();
        !caps.is_deny()
            && needed != Capability::Deny
            && caps.contains(needed)
            && (!sudo_path || caps.contains(Capability::Sudo))
    }

    /// Does a request needing `needed` on `path`, response-wrapped with `wrap_ttl` (`None`: not
    /// wrapped), meet the `min_wrapping_ttl`/`max_wrapping_ttl` of the rule deciding the path?
    /// Meant to be called after [`Acl::allows`] returned true. Root passes (Vault's root skips
    /// every ACL check); a path no rule matches fails, as it does in `allows`.
    pub fn check_wrapping(
        &self,
        path: &str,
        needed: Capability,
        wrap_ttl: Option<std::time::Duration>,
    ) -> bool {
        if self.root {
            return true;
        }
        self.rule_for(path, needed)
            .is_some_and(|rule| rule.admits_wrap_ttl(wrap_ttl))
    }

    /// Do the request's `fields` (body merged over query) satisfy the `allowed_parameters`,
    /// `denied_parameters` and `required_parameters` of the rule deciding `path`? Meant to be
    /// called after [`Acl::allows`] returned true. Root passes; a path no rule matches fails,
    /// as it does in `allows`.
    pub fn check_parameters(
        &self,
        path: &str,
        needed: Capability,
        fields: &Map<String, Value>,
    ) -> bool {
        if self.root {
            return true;
        }
        self.rule_for(path, needed)
            .is_some_and(|rule| rule.check_parameters(needed, fields))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{parse, root_policy};
    use super::*;
    use Capability::*;

    fn acl(texts: &[&str]) -> Acl {
        let policies: Vec<Policy> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| parse(&format!("p{i}"), t).unwrap())
            .collect();
        Acl::new(&policies)
    }

    fn caps(list: &[Capability]) -> CapSet {
        list.iter().copied().collect()
    }

    #[test]
    fn no_policies_allow_nothing() {
        let acl = Acl::new(&[]);
        assert!(!acl.is_root());
        assert!(!acl.allows("sys/leases/renew", Update, false));
        assert_eq!(acl.capability_names("anything"), ["deny"]);
        assert!(acl.capabilities("anything").is_empty());
    }

    #[test]
    fn root_bypasses_everything() {
        let deny_all = parse("d", r#"path "*" { capabilities = ["deny"] }"#).unwrap();
        let acl = Acl::new([&deny_all, &root_policy()]);
        assert!(acl.is_root());
        assert!(acl.allows("sys/raw/x", Delete, true));
        assert_eq!(acl.capability_names("x"), ["root"]);
        assert!(acl.capabilities("x").contains(Sudo));
        assert!(acl.check_parameters("x", Update, &Map::new()));
    }

    #[test]
    fn exact_beats_glob() {
        let acl = acl(&[r#"
path "secret/*"         { capabilities = ["read", "list"] }
path "secret/admin"     { capabilities = ["deny"] }
path "secret/admin/ok"  { capabilities = ["update"] }
"#]);
        assert!(acl.allows("secret/app", Read, false));
        assert!(!acl.allows("secret/admin", Read, false));
        // The exact rule decides alone: it does not inherit `read` from `secret/*`.
        assert!(acl.allows("secret/admin/ok", Update, false));
        assert!(!acl.allows("secret/admin/ok", Read, false));
        // A deny on an exact path does not reach below it.
        assert!(acl.allows("secret/admin/other", Read, false));
    }

    #[test]
    fn most_specific_glob_wins() {
        let acl = acl(&[r#"
path "database/*"          { capabilities = ["read"] }
path "database/creds/*"    { capabilities = ["update"] }
path "database/creds/+"    { capabilities = ["list"] }
path "database/+/admin"    { capabilities = ["delete"] }
"#]);
        assert_eq!(acl.capabilities("database/config/x"), caps(&[Read]));
        assert_eq!(acl.capabilities("database/creds/a/b"), caps(&[Update]));
        // `database/creds/+` has no trailing `*`, so it beats `database/creds/*` (same position).
        assert_eq!(acl.capabilities("database/creds/ro"), caps(&[List]));
        // `database/creds/*` puts its glob later than `database/+/admin` puts its `+`.
        assert_eq!(acl.capabilities("database/creds/admin"), caps(&[List]));
        assert_eq!(acl.capabilities("database/roles/admin"), caps(&[Delete]));
        assert!(acl.capabilities("aws/creds/x").is_empty());
    }

    #[test]
    fn plus_segments() {
        let acl = acl(&[r#"path "aws/creds/+" { capabilities = ["read", "update"] }"#]);
        assert!(acl.allows("aws/creds/deploy", Read, false));
        assert!(acl.allows("/aws/creds/deploy", Update, false));
        assert!(!acl.allows("aws/creds/deploy/extra", Read, false));
        assert!(!acl.allows("aws/creds", Read, false));
        assert!(!acl.allows("aws/sts/deploy", Read, false));
    }

    #[test]
    fn same_path_merges_across_policies_and_deny_wins() {
        let acl1 = acl(&[
            r#"path "db/creds/ro" { capabilities = ["read"] }"#,
            r#"path "db/creds/ro" { capabilities = ["update"] }"#,
        ]);
        assert_eq!(acl1.capabilities("db/creds/ro"), caps(&[Read, Update]));

        let acl2 = acl(&[
            r#"path "db/*" { capabilities = ["read", "list"] }"#,
            r#"path "db/*" { capabilities = ["deny"] }"#,
            r#"path "db/*" { capabilities = ["update"] }"#,
        ]);
        assert!(!acl2.allows("db/creds/ro", Read, false));
        assert_eq!(acl2.capability_names("db/x"), ["deny"]);

        // Within one policy, too.
        let acl3 = acl(&[r#"
path "a" { capabilities = ["read"] }
path "a" { capabilities = ["list"] }
"#]);
        assert_eq!(acl3.capabilities("a"), caps(&[Read, List]));
    }

    #[test]
    fn deny_on_a_more_specific_pattern_overrides_a_broader_grant() {
        let acl = acl(&[
            r#"path "database/*" { capabilities = ["read", "update"] }"#,
            r#"path "database/config/*" { capabilities = ["deny"] }"#,
        ]);
        assert!(acl.allows("database/creds/ro", Read, false));
        assert!(!acl.allows("database/config/pg", Read, false));
        assert!(!acl.allows("database/config/pg", Update, false));
    }

    #[test]
    fn list_requests_fall_back_to_the_path_without_slash() {
        let exact_without = acl(&[r#"path "database/roles" { capabilities = ["list"] }"#]);
        assert!(exact_without.allows("database/roles/", List, false));
        // The fallback is for lists only.
        assert!(!exact_without.allows("database/roles/", Read, false));

        let exact_with = acl(&[r#"path "database/roles/" { capabilities = ["list"] }"#]);
        assert!(exact_with.allows("database/roles/", List, false));

        let glob = acl(&[r#"path "database/rol*" { capabilities = ["list"] }"#]);
        assert!(glob.allows("database/roles/", List, false));

        // `+` needs a non-empty segment, so only the slash-less fallback can match it.
        let plus = acl(&[r#"path "+/roles" { capabilities = ["list"] }"#]);
        assert!(plus.allows("database/roles/", List, false));
        assert!(!plus.allows("database/roles/", Read, false));
        let plus_child = acl(&[r#"path "database/roles/+" { capabilities = ["list"] }"#]);
        assert!(!plus_child.allows("database/roles/", List, false));
    }

    #[test]
    fn list_lookup_order() {
        // Exact with slash, then exact without, then patterns with, then patterns without.
        let acl = acl(&[r#"
path "kv/"   { capabilities = ["list"] }
path "kv"    { capabilities = ["deny"] }
path "kv*"   { capabilities = ["read"] }
path "x"     { capabilities = ["list"] }
path "x/*"   { capabilities = ["deny"] }
path "y/+"   { capabilities = ["list"] }
"#]);
        assert!(acl.allows("kv/", List, false));
        assert!(
            acl.allows("x/", List, false),
            "exact without slash beats any pattern"
        );
        assert!(!acl.allows("y/", List, false));
        assert!(
            acl.allows("y/a/", List, false),
            "`y/+` found via the slash-less fallback"
        );
    }

    #[test]
    fn capabilities_use_the_list_fallback() {
        let acl = acl(&[r#"path "database/roles" { capabilities = ["list", "read"] }"#]);
        assert_eq!(acl.capability_names("database/roles/"), ["list", "read"]);
    }

    #[test]
    fn sudo_paths_need_sudo_as_well() {
        let acl = acl(&[r#"
path "sys/leases/revoke-prefix/*" { capabilities = ["update", "sudo"] }
path "sys/leases/revoke-force/*"  { capabilities = ["update"] }
path "auth/token/accessors"       { capabilities = ["sudo"] }
"#]);
        assert!(acl.allows("sys/leases/revoke-prefix/db/creds", Update, true));
        assert!(!acl.allows("sys/leases/revoke-force/db/creds", Update, true));
        assert!(acl.allows("sys/leases/revoke-force/db/creds", Update, false));
        // Sudo alone is not list.
        assert!(!acl.allows("auth/token/accessors/", List, true));
        assert!(acl.allows("auth/token/accessors", Sudo, false));
    }

    #[test]
    fn asking_for_deny_is_never_allowed() {
        let acl = acl(&[r#"path "a" { capabilities = ["deny"] }"#]);
        assert!(!acl.allows("a", Deny, false));
    }

    #[test]
    fn wrapping_rules_are_checked_apart_from_capabilities() {
        let acl = acl(&[r#"
path "a" {
  capabilities = ["read"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "5m"
}
path "b" { capabilities = ["read"] }
"#]);
        let secs = |n| Some(std::time::Duration::from_secs(n));
        assert!(acl.allows("a", Read, false));
        assert!(!acl.check_wrapping("a", Read, None), "must be wrapped");
        assert!(!acl.check_wrapping("a", Read, secs(30)));
        assert!(acl.check_wrapping("a", Read, secs(60)));
        assert!(acl.check_wrapping("a", Read, secs(300)));
        assert!(!acl.check_wrapping("a", Read, secs(301)));
        assert!(acl.check_wrapping("b", Read, None));
        assert!(acl.check_wrapping("b", Read, secs(3600)));
        assert!(!acl.check_wrapping("nothing/matches", Read, secs(60)));
        assert!(Acl::new(&[root_policy()]).check_wrapping("a", Read, None));
        assert_eq!(
            acl.rule_for("a", Read).unwrap().max_wrapping_ttl(),
            Some(std::time::Duration::from_secs(300))
        );
    }

    #[test]
    fn parameters_are_checked_on_the_deciding_rule() {
        let acl = acl(&[r#"
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { policies = ["web"], ttl = [] }
}
"#]);
        let fields = |v: Value| v.as_object().unwrap().clone();
        let path = "auth/token/create";
        assert!(acl.allows(path, Update, false));
        assert!(acl.check_parameters(path, Update, &fields(json!({"policies": "web"}))));
        assert!(!acl.check_parameters(path, Update, &fields(json!({"policies": "root"}))));
        assert!(!acl.check_parameters(path, Update, &fields(json!({"no_parent": true}))));
        assert!(!acl.check_parameters("elsewhere", Update, &Map::new()));
    }
}
