//! The aws engine driven through the `Backend` trait against moto's IAM and STS with
//! authentication enforced. Effects are proven with the real SDK: issued keys are used, revoked
//! keys are rejected, users are looked up as root.
//!
//! Needs `moto_server` in `$LEASEHOLD_VENV` (default `~/.cache/leasehold/venv`); run
//! `integration/setup-venv.sh` once to make it.

#[path = "../support/mod.rs"]
mod support;

mod config;
mod iam_user;
mod roles;
mod sts;

/// A short random suffix so that names never collide between tests.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A generated name without its `lh-<mount marker>-` head, after checking that head's shape
/// (empty when the name has no such head, so the caller's assertion fails).
pub(crate) fn without_marker(name: &str) -> &str {
    match name.strip_prefix("lh-").and_then(|n| n.split_once('-')) {
        Some((marker, rest)) if marker.len() == 9 => rest,
        _ => "",
    }
}
