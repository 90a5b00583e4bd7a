//! The three built-in policies. `default` is ordinary policy text, attached to tokens unless they
//! ask otherwise, which the operator may overwrite but not delete; leasehold's version keeps the
//! self-service grants of Vault's (§5.4) for the endpoints leasehold serves and leaves out those
//! for features it lacks (cubbyhole, identity, tools, MFA). `root` has no text and no rules: it
//! is the one policy that bypasses every check. `response-wrapping` is held by wrapping tokens
//! alone: it lets them be unwrapped and nothing else, and can be neither changed, deleted nor
//! given to a token by anyone.

use super::{parse, Policy};

/// The text of leasehold's `default` policy, as stored on first start and returned by
/// `GET sys/policies/acl/default`.
pub const DEFAULT_POLICY_HCL: &str = r#"# Granted to every token unless it was created with no_default_policy.

# Let a token look at, extend and end its own life.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Let a token ask what it may do on given paths.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Renew and look up leases by lease_id in the request body. The lease must still belong to
# something the token can reach; revocation is not granted here.
path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/renew" {
  capabilities = ["update"]
}

path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Response wrapping: wrap values of one's own, look up a wrapping token's creation details,
# and unwrap a wrapping token passed in the body (rewrap is not granted, as in Vault).
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Look up an approval (control group) request by its accessor, as a requester polling its own.
path "sys/control-group/request" {
  capabilities = ["update"]
}
"#;

/// The name of the policy only wrapping tokens hold.
pub const RESPONSE_WRAPPING_POLICY_NAME: &str = "response-wrapping";

/// The text of the `response-wrapping` policy. Vault's also grants its cubbyhole, where it
/// keeps the wrapped response; leasehold keeps it outside any path, so unwrapping is all.
pub const RESPONSE_WRAPPING_POLICY_HCL: &str = r#"# Held by wrapping tokens only: unwrap, nothing else.
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
"#;

/// The `response-wrapping` policy, parsed from [`RESPONSE_WRAPPING_POLICY_HCL`].
pub fn response_wrapping_policy() -> Policy {
    // Cannot fail: `response_wrapping_policy_grants_unwrap_only` parses this exact constant;
    // were it to fail, the empty policy grants nothing.
    parse(RESPONSE_WRAPPING_POLICY_NAME, RESPONSE_WRAPPING_POLICY_HCL).unwrap_or_else(|_| Policy {
        name: RESPONSE_WRAPPING_POLICY_NAME.to_owned(),
        raw: RESPONSE_WRAPPING_POLICY_HCL.to_owned(),
        rules: Vec::new(),
        root: false,
    })
}

/// The `default` policy, parsed from [`DEFAULT_POLICY_HCL`].
pub fn default_policy() -> Policy {
    // Cannot fail: `default_policy_text_parses` parses this exact constant. Were it ever to
    // fail, an empty policy grants nothing, which errs on the closed side.
    parse("default", DEFAULT_POLICY_HCL).unwrap_or_else(|_| Policy {
        name: "default".to_owned(),
        raw: DEFAULT_POLICY_HCL.to_owned(),
        rules: Vec::new(),
        root: false,
    })
}

/// The `root` policy: empty text, and an [`super::Acl`] built with it allows everything.
pub fn root_policy() -> Policy {
    Policy {
        name: "root".to_owned(),
        raw: String::new(),
        rules: Vec::new(),
        root: true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{requires_sudo, Acl, Capability::*};
    use super::*;

    fn default_acl() -> Acl {
        Acl::new(&[default_policy()])
    }

    fn may(acl: &Acl, path: &str, cap: super::super::Capability) -> bool {
        acl.allows(path, cap, requires_sudo(path))
    }

    #[test]
    fn default_policy_text_parses() {
        let p = parse("default", DEFAULT_POLICY_HCL).unwrap();
        assert_eq!(p.rules().len(), 11);
        assert_eq!(default_policy(), p);
        assert_eq!(default_policy().name(), "default");
    }

    #[test]
    fn default_grants_self_service() {
        let acl = default_acl();
        assert!(!acl.is_root());
        assert!(may(&acl, "auth/token/lookup-self", Read));
        assert!(may(&acl, "auth/token/renew-self", Update));
        assert!(may(&acl, "auth/token/revoke-self", Update));
        assert!(may(&acl, "sys/capabilities-self", Update));
        assert!(may(&acl, "sys/leases/renew", Update));
        assert!(may(&acl, "sys/renew", Update));
        assert!(may(&acl, "sys/leases/lookup", Update));
        assert!(may(&acl, "sys/wrapping/wrap", Update));
        assert!(may(&acl, "sys/wrapping/lookup", Update));
        assert!(may(&acl, "sys/control-group/request", Update));
        assert!(!may(&acl, "sys/control-group/authorize", Update));
        assert!(may(&acl, "sys/wrapping/unwrap", Update));
    }

    #[test]
    fn response_wrapping_policy_grants_unwrap_only() {
        let p = parse(RESPONSE_WRAPPING_POLICY_NAME, RESPONSE_WRAPPING_POLICY_HCL).unwrap();
        assert_eq!(response_wrapping_policy(), p);
        let acl = Acl::new(&[response_wrapping_policy()]);
        assert!(may(&acl, "sys/wrapping/unwrap", Update));
        assert!(!may(&acl, "sys/wrapping/unwrap", Read));
        for path in [
            "sys/wrapping/rewrap",
            "sys/wrapping/wrap",
            "auth/token/lookup-self",
            "auth/token/create",
            "sys/leases/renew",
            "database/creds/ro",
        ] {
            assert!(!may(&acl, path, Update), "{path}");
            assert!(!may(&acl, path, Read), "{path}");
        }
    }

    #[test]
    fn default_grants_nothing_else() {
        let acl = default_acl();
        assert!(!may(&acl, "sys/leases/revoke", Update));
        assert!(!may(&acl, "sys/revoke", Update));
        assert!(!may(&acl, "sys/leases/revoke-prefix/database/", Update));
        assert!(!may(&acl, "sys/leases/lookup/database/", List));
        assert!(!may(&acl, "auth/token/lookup-self", Update));
        assert!(!may(&acl, "auth/token/lookup", Update));
        assert!(!may(&acl, "auth/token/create", Update));
        assert!(!may(&acl, "sys/leases/renew/database/creds/ro/x", Update));
        assert!(!may(&acl, "database/creds/ro", Read));
        assert!(!may(&acl, "sys/policies/acl/default", Read));
        assert!(!may(&acl, "sys/wrapping/rewrap", Update));
    }

    #[test]
    fn root_has_no_text_and_allows_all() {
        let root = root_policy();
        assert!(root.is_root());
        assert_eq!(root.name(), "root");
        assert_eq!(root.raw(), "");
        let acl = Acl::new(&[root]);
        assert!(may(&acl, "sys/leases/revoke-force/anything", Update));
        assert!(may(&acl, "auth/token/accessors/", List));
    }
}
