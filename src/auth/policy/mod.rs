//! ACL policies: Vault's policy language and its evaluation. This module decides whether a
//! token's policies let a request through; it does no I/O and knows nothing of storage, tokens or
//! HTTP — the request path calls it, the policy endpoints store and return the text.
//!
//! Map:
//! - [`parse`] (`parse.rs`): HCL or JSON text (base64 accepted) → [`Policy`], a list of
//!   [`PathRule`]s, with errors naming the line and path at fault.
//! - `matcher.rs`: what a `path` pattern matches (`*` suffix, `+` segment) and which of several
//!   matching patterns is the most specific.
//! - [`Permissions`] (`permissions.rs`): what a rule grants, how rules for one path merge, the
//!   parameter constraints.
//! - [`Acl`] (`acl.rs`): a token's policies compiled into one table; `allows` is the check.
//! - [`Capability`], [`CapSet`] (`capability.rs`): the granted words and a bitset of them.
//! - [`default_policy`], [`root_policy`], [`response_wrapping_policy`] (`builtin.rs`);
//!   [`requires_sudo`] (`sudo.rs`).
//!
//! Checking a request (path below `/v1/`, operation already decided — including create vs
//! update by existence check, and the trailing `/` that list paths carry):
//!
//! ```
//! use leasehold::auth::policy::{default_policy, parse, requires_sudo, Acl, Capability};
//! use leasehold_backend::Operation;
//!
//! let dev = parse("dev", r#"path "database/creds/+" { capabilities = ["read"] }"#).unwrap();
//! let acl = Acl::new(&[default_policy(), dev]);
//!
//! let (path, op) = ("database/creds/readonly", Operation::Read);
//! let needed = Capability::for_operation(op);
//! assert!(acl.allows(path, needed, requires_sudo(path)));
//! // Also asked by every request (`Core::authorize`): the rule's allowed/denied/required
//! // parameters, and its wrapping bounds.
//! assert!(acl.check_parameters(path, needed, &serde_json::Map::new()));
//! assert!(acl.check_wrapping(path, needed, None));
//!
//! assert!(!acl.allows("sys/leases/revoke", Capability::Update, requires_sudo("sys/leases/revoke")));
//! ```

mod acl;
mod builtin;
mod capability;
mod control_group;
mod matcher;
mod parse;
mod permissions;
mod sudo;

pub use acl::Acl;
pub use builtin::{
    default_policy, response_wrapping_policy, root_policy, DEFAULT_POLICY_HCL,
    RESPONSE_WRAPPING_POLICY_HCL, RESPONSE_WRAPPING_POLICY_NAME,
};
pub use capability::{CapSet, Capability, UnknownCapability};
pub use control_group::{ControlFactor, ControlGroup};
pub use parse::{parse, PolicyError};
pub use permissions::{ParameterValues, Permissions};
pub use sudo::{requires_sudo, SUDO_PATHS};

use matcher::PathPattern;

/// A named, parsed ACL policy. Built only by [`parse`], [`default_policy`] and [`root_policy`],
/// so its rules always match its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    name: String,
    raw: String,
    rules: Vec<PathRule>,
    root: bool,
}

impl Policy {
    /// The name it was parsed under (the caller lowercases it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy text as submitted (after base64 decoding), for storage and for
    /// `GET sys/policies/acl/:name`.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The `path` rules in the order written; the same path may appear more than once.
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// True only for [`root_policy`]: a policy merely *named* `root` cannot be parsed.
    pub fn is_root(&self) -> bool {
        self.root
    }
}

/// One `path "<pattern>" { ... }` rule of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    pattern: PathPattern,
    permissions: Permissions,
}

impl PathRule {
    /// The pattern as written, without a leading `/` (`secret/*`, `aws/creds/+`).
    pub fn path(&self) -> &str {
        self.pattern.text()
    }

    /// What the rule grants.
    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }
}
