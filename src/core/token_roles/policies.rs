//! Which policies a new token gets from `auth/token/create*`: Vault's rules, as pure functions.
//!
//! - **No role, or a role without `allowed_policies`/`allowed_policies_glob`**: the new token
//!   holds a subset of the caller's policies, unless the caller is privileged (root, or `sudo` on
//!   the create path, as in Vault). Asking for nothing inherits the caller's policies. `default`
//!   is added only when the caller holds it (or is privileged), so a token created with
//!   `no_default_policy` cannot hand `default` on to its children.
//!   Vault differs for a role with only `disallowed_policies`: there it lets the caller mint any
//!   policy not disallowed. Its documentation promises "the normal semantics of tokens being a
//!   subset of the calling token's policies" when `allowed_policies` is empty, and a role that
//!   lists what it forbids is no grant of everything else, so the subset rule holds here.
//! - **A role with an allowed list**: the token holds the requested policies, each of which must
//!   be allowed (exactly or by glob), or the role's `allowed_policies` when none are requested,
//!   independent of the caller's — that is what a role is for. `default` is added unless the
//!   request or the role says not to, or the role disallows it.
//! - Then, always: `disallowed_policies`/`disallowed_policies_glob` refuse the request if any
//!   final policy matches; `no_default_policy` strips `default`; `root` needs a root caller.
//!   The list is sorted, as Vault's.

use crate::auth::TokenEntry;
use crate::error::{Error, Result};

use super::TokenRole;

/// What the caller asked for and who the caller is.
#[derive(Debug, Clone)]
pub struct Minting<'a> {
    /// The calling token, which becomes the parent (or would have, for an orphan).
    pub parent: &'a TokenEntry,
    /// Root, or `sudo` on the create path.
    pub privileged: bool,
    /// The `policies` field, sanitized with [`sanitize`]; empty when not given.
    pub requested: Vec<String>,
    /// The `no_default_policy` field.
    pub no_default_policy: bool,
}

/// Trim, lower-case, drop blanks and duplicates (keeping the first occurrence's place).
pub fn sanitize(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for p in list {
        let p = p.trim().to_lowercase();
        if !p.is_empty() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|p| p == name)
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !has(list, name) {
        list.push(name.to_owned());
    }
}

/// The final policies of a token minted without a role.
pub fn without_role(m: &Minting<'_>) -> Result<Vec<String>> {
    let policies = subset_of_parent(m, m.no_default_policy, |_| false)?;
    finish(policies, m)
}

/// The final policies of a token minted with `role`.
pub fn with_role(role: &TokenRole, m: &Minting<'_>) -> Result<Vec<String>> {
    let no_default = m.no_default_policy || role.token_no_default_policy;
    let policies = if role.has_allowed_list() {
        let add_default = !no_default && !role.disallows("default");
        let mut policies = if m.requested.is_empty() {
            role.allowed_policies.clone()
        } else {
            m.requested.clone()
        };
        if add_default {
            push_unique(&mut policies, "default");
        }
        let allowed = |p: &str| role.allows(p) || (add_default && p == "default");
        if let Some(p) = policies.iter().find(|p| !allowed(p)) {
            return Err(Error::invalid(format!(
                "token policies must be a subset of the role's allowed policies ({:?}) or glob policies ({:?}): {p:?} is not",
                role.allowed_policies, role.allowed_policies_glob
            )));
        }
        policies
    } else {
        subset_of_parent(m, no_default, |p| role.disallows(p))?
    };
    if let Some(p) = policies.iter().find(|p| role.disallows(p)) {
        return Err(Error::invalid(format!(
            "token policy {p:?} is disallowed by this role"
        )));
    }
    finish(policies, m)
}

/// Vault's "normal semantics": the caller's policies or a subset of them (anything, when
/// privileged). `default` comes along only when the caller holds it or is privileged, and not
/// when `skip_default` says the role forbids it (an inherited `default` is dropped, not refused:
/// the caller did not ask for it).
fn subset_of_parent(
    m: &Minting<'_>,
    no_default: bool,
    skip_default: impl Fn(&str) -> bool,
) -> Result<Vec<String>> {
    let parent = &m.parent.policies;
    let mut policies = if m.requested.is_empty() {
        parent
            .iter()
            .filter(|p| !(p.as_str() == "default" && (no_default || skip_default(p))))
            .cloned()
            .collect()
    } else {
        if !m.privileged {
            if let Some(extra) = m.requested.iter().find(|p| !has(parent, p)) {
                return Err(Error::invalid(format!(
                    "child policies must be subset of parent: {extra:?} is not held by the calling token"
                )));
            }
        }
        let mut policies = m.requested.clone();
        let add_default = !no_default && (m.privileged || has(parent, "default"));
        if add_default && !skip_default("default") {
            push_unique(&mut policies, "default");
        }
        policies
    };
    // A root token inherits only `root`; `default` beside it would be noise.
    if has(&policies, "root") {
        policies.retain(|p| p == "root");
    }
    Ok(policies)
}

/// Checks that hold whatever the route: the request's `no_default_policy` strips `default` (even
/// one asked for by name, as in Vault), and only a root caller can mint `root`.
fn finish(mut policies: Vec<String>, m: &Minting<'_>) -> Result<Vec<String>> {
    if m.no_default_policy {
        policies.retain(|p| p != "default");
    }
    if has(&policies, "root") && !m.parent.is_root() {
        return Err(Error::invalid(
            "root tokens may not be created without parent token being root",
        ));
    }
    // Vault answers policy lists sorted.
    policies.sort();
    Ok(policies)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn parent(policies: &[&str]) -> TokenEntry {
        TokenEntry {
            policies: list(policies),
            ..TokenEntry::default()
        }
    }

    fn mint<'a>(parent: &'a TokenEntry, requested: &[&str]) -> Minting<'a> {
        Minting {
            parent,
            privileged: parent.is_root(),
            requested: list(requested),
            no_default_policy: false,
        }
    }

    fn role(allowed: &[&str], disallowed: &[&str]) -> TokenRole {
        TokenRole {
            allowed_policies: list(allowed),
            disallowed_policies: list(disallowed),
            ..TokenRole::default()
        }
    }

    #[test]
    fn without_a_role_children_hold_a_subset() {
        let p = parent(&["default", "app"]);
        assert_eq!(without_role(&mint(&p, &[])).unwrap(), ["app", "default"]);
        assert_eq!(
            without_role(&mint(&p, &["app"])).unwrap(),
            ["app", "default"]
        );
        assert!(without_role(&mint(&p, &["ops"])).is_err());
        assert!(without_role(&mint(&p, &["root"])).is_err());
        let sudo = Minting {
            privileged: true,
            ..mint(&p, &["ops"])
        };
        assert_eq!(without_role(&sudo).unwrap(), ["default", "ops"]);
        let sudo_root = Minting {
            privileged: true,
            ..mint(&p, &["root"])
        };
        assert!(without_role(&sudo_root).is_err(), "sudo is not root");
        let r = parent(&["root"]);
        assert_eq!(without_role(&mint(&r, &[])).unwrap(), ["root"]);
        assert_eq!(
            without_role(&mint(&r, &["ops"])).unwrap(),
            ["default", "ops"]
        );
    }

    #[test]
    fn default_does_not_come_back_below_no_default_policy() {
        let p = parent(&["app"]);
        assert_eq!(without_role(&mint(&p, &[])).unwrap(), ["app"]);
        assert_eq!(without_role(&mint(&p, &["app"])).unwrap(), ["app"]);
        assert!(without_role(&mint(&p, &["default"])).is_err());
        let p = parent(&["default", "app"]);
        let m = Minting {
            no_default_policy: true,
            ..mint(&p, &["app", "default"])
        };
        assert_eq!(without_role(&m).unwrap(), ["app"]);
    }

    #[test]
    fn a_role_without_an_allowed_list_is_bounded_by_the_caller() {
        let p = parent(&["default", "app"]);
        let open = role(&[], &[]);
        assert!(with_role(&open, &mint(&p, &["ops"])).is_err());
        assert_eq!(
            with_role(&open, &mint(&p, &[])).unwrap(),
            ["app", "default"]
        );
        let only_deny = role(&[], &["secret"]);
        assert!(with_role(&only_deny, &mint(&p, &["ops"])).is_err());
        assert!(with_role(&only_deny, &mint(&p, &["app"])).is_ok());
        let deny_default = role(&[], &["default"]);
        assert_eq!(with_role(&deny_default, &mint(&p, &[])).unwrap(), ["app"]);
        assert!(with_role(&deny_default, &mint(&p, &["default"])).is_err());
        let r = parent(&["root"]);
        assert!(with_role(&only_deny, &mint(&r, &["ops"])).is_ok());
    }

    #[test]
    fn a_role_with_an_allowed_list_grants_only_it() {
        let p = parent(&["default"]);
        let r = TokenRole {
            allowed_policies_glob: list(&["dev-*"]),
            disallowed_policies_glob: list(&["*-admin"]),
            ..role(&["deploy"], &[])
        };
        assert_eq!(
            with_role(&r, &mint(&p, &[])).unwrap(),
            ["default", "deploy"]
        );
        assert_eq!(
            with_role(&r, &mint(&p, &["dev-db"])).unwrap(),
            ["default", "dev-db"]
        );
        assert!(with_role(&r, &mint(&p, &["ops"])).is_err());
        assert!(with_role(&r, &mint(&p, &["dev-admin"])).is_err());
        let no_default = TokenRole {
            token_no_default_policy: true,
            ..r.clone()
        };
        assert_eq!(with_role(&no_default, &mint(&p, &[])).unwrap(), ["deploy"]);
        assert!(with_role(&no_default, &mint(&p, &["default"])).is_err());
        let glob_only = TokenRole {
            allowed_policies_glob: list(&["dev-*"]),
            ..TokenRole::default()
        };
        assert_eq!(with_role(&glob_only, &mint(&p, &[])).unwrap(), ["default"]);
        let deny_root = role(&["root"], &[]);
        assert!(with_role(&deny_root, &mint(&p, &["root"])).is_err());
    }
}
