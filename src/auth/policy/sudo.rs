//! Root-protected paths (§5.4): a token needs `sudo` on these in addition to the operation's own
//! capability. Vault declares them per backend; leasehold keeps one list because it serves the
//! system and token backends itself.
//!
//! An entry ending in `/*` covers every path below it (on a segment boundary, as every entry
//! ends its prefix with `/`); any other entry is that exact path, with or without a trailing `/`
//! (so `LIST auth/token/accessors/` counts). Paths are canonical ([`crate::http::path`]): no
//! spelling of a path can reach its handler without passing here as the canonical form.
//! Every handler that serves a root-protected operation is listed under every path that reaches
//! it (the `sys/leases/*` names, their legacy `sys/*` aliases, arguments in the URL or the body).
//! Deliberately *not* here, as in Vault: `sys/mounts/*`, `sys/policies/*`, `sys/policy/*`,
//! `sys/auth` itself (reading the list of auth methods), `sys/leases/lookup` (lookup by body),
//! and the body form of `auth/token/revoke-orphan`, whose handler checks for root or sudo
//! itself and answers 400, not 403.

/// The root-protected path patterns, without a leading `/`.
pub const SUDO_PATHS: &[&str] = &[
    "sys/auth/*",
    "sys/audit",
    "sys/audit/*",
    // Vault does not protect audit-hash; it reveals which values the audit log holds, so we do.
    "sys/audit-hash",
    "sys/audit-hash/*",
    "sys/raw",
    "sys/raw/*",
    "sys/rotate",
    "sys/remount",
    "sys/config/cors",
    "sys/plugins/catalog/*",
    "sys/leases",
    "sys/leases/lookup/*",
    // The bare names serve nothing (the prefix is required), but a prefix in the body must
    // not make them a way around sudo.
    "sys/leases/revoke-prefix",
    "sys/leases/revoke-prefix/*",
    "sys/leases/revoke-force",
    "sys/leases/revoke-force/*",
    // leasehold's own: everything a workload holds, in one call.
    "sys/leases/revoke-workload",
    "sys/leases/revoke-workload/*",
    // leasehold's own: every live lease with its account, workload and ticket, filtered.
    "sys/leases/list",
    "sys/leases/list/*",
    // leasehold's own: live lease counts by mount, role and state.
    "sys/leases/counts",
    "sys/leases/counts/*",
    // leasehold's own: privilege-duration and overstay distributions by mount.
    "sys/leases/durations",
    "sys/leases/durations/*",
    // leasehold's own: the live tokens (accessors, policies, tree) a workload holds.
    "sys/leases/workload-tokens",
    "sys/leases/workload-tokens/*",
    // leasehold's own: the access history names every account and token accessor, ever.
    "sys/leases/history",
    "sys/leases/history/*",
    // leasehold's own: lists accounts on targets, and can destroy them.
    "sys/leases/reconcile",
    "sys/leases/reconcile/*",
    // leasehold's own: who must approve what. Weakening a tier or pointing the webhook
    // elsewhere is an administrator's act, like enabling an auth method.
    "sys/approval/tiers",
    "sys/approval/tiers/*",
    "sys/config/control-group",
    "sys/revoke-prefix",
    "sys/revoke-prefix/*",
    "sys/revoke-force",
    "sys/revoke-force/*",
    "auth/token/revoke-orphan/*",
    "auth/token/accessors",
];

/// True if `path` (request path below `/v1/`, leading `/` ignored) is root-protected, so that a
/// token needs `sudo` on it on top of the operation's capability.
pub fn requires_sudo(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    let without_slash = path.strip_suffix('/').unwrap_or(path);
    SUDO_PATHS
        .iter()
        .any(|entry| match entry.strip_suffix('*') {
            // Every `*` entry ends in `/*`, so the prefix ends on a segment boundary.
            Some(prefix) => path.starts_with(prefix),
            None => path == *entry || without_slash == *entry,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_administration_needs_sudo() {
        assert!(requires_sudo("sys/leases/revoke-prefix/database/creds/ro"));
        assert!(requires_sudo("sys/leases/revoke-force/aws/creds/x"));
        assert!(requires_sudo("sys/revoke-prefix/database/"));
        assert!(requires_sudo("sys/revoke-force/database/"));
        assert!(requires_sudo("/sys/leases/lookup/database/creds/"));
        assert!(requires_sudo("sys/leases/lookup/"));
        assert!(requires_sudo("sys/leases"));
        assert!(requires_sudo("sys/leases/list"));
        assert!(requires_sudo("sys/leases/list/"));
    }

    #[test]
    fn everyday_lease_calls_do_not() {
        assert!(!requires_sudo("sys/leases/lookup"));
        assert!(!requires_sudo("sys/leases/renew"));
        assert!(!requires_sudo("sys/leases/renew/database/creds/ro/abc"));
        assert!(!requires_sudo("sys/leases/revoke"));
        assert!(!requires_sudo("sys/leases/revoke/database/creds/ro/abc"));
        assert!(!requires_sudo("sys/renew"));
        assert!(!requires_sudo("sys/leases/tidy"));
    }

    #[test]
    fn system_paths() {
        assert!(requires_sudo("sys/auth/approle"));
        assert!(requires_sudo("sys/auth/jwt/tune"));
        assert!(!requires_sudo("sys/auth"));
        assert!(requires_sudo("sys/audit"));
        assert!(requires_sudo("sys/audit/file"));
        assert!(requires_sudo("sys/raw/core/mounts"));
        assert!(requires_sudo("sys/rotate"));
        assert!(!requires_sudo("sys/rotate/config"));
        assert!(requires_sudo("sys/remount"));
        assert!(requires_sudo("sys/config/cors"));
        assert!(requires_sudo("sys/plugins/catalog/database/x"));
        assert!(!requires_sudo("sys/mounts/database"));
        assert!(!requires_sudo("sys/mounts"));
        assert!(!requires_sudo("sys/policies/acl/dev"));
        assert!(!requires_sudo("sys/policy/dev"));
        assert!(!requires_sudo("sys/capabilities-self"));
    }

    #[test]
    fn prefixes_end_on_segment_boundaries() {
        for entry in SUDO_PATHS {
            if let Some(prefix) = entry.strip_suffix('*') {
                assert!(prefix.ends_with('/'), "{entry} must end in /*");
            }
        }
        assert!(requires_sudo(
            "sys/leases/revoke-workload/auth/approle/role/ci"
        ));
        assert!(requires_sudo("sys/leases/revoke-workload"));
        assert!(requires_sudo("sys/audit-hash/file"));
        assert!(!requires_sudo("sys/auditx"));
        assert!(!requires_sudo("sys/rawx"));
    }

    #[test]
    fn token_paths() {
        assert!(requires_sudo("auth/token/revoke-orphan/s.abc"));
        assert!(!requires_sudo("auth/token/revoke-orphan"));
        assert!(requires_sudo("auth/token/accessors"));
        assert!(requires_sudo("auth/token/accessors/"));
        assert!(!requires_sudo("auth/token/accessors-x"));
        assert!(!requires_sudo("auth/token/lookup-self"));
        assert!(!requires_sudo("auth/token/create"));
        assert!(!requires_sudo("auth/token/create-orphan"));
    }
}
