#![doc = include_str!("../README.md")]
//!
//! The JWT auth method's logic: what a mount's config and roles hold, where verification keys
//! come from, and whether a given JWT may log in under a role. A CI system's OIDC token
//! (GitHub Actions, GitLab, Kubernetes service accounts) is exchanged for a short-lived
//! leasehold token this way.
//!
//! The logic owns no HTTP paths and issues no tokens. The auth backend on top of it
//! ([`JwtBackend`]) maps Vault's paths onto it:
//! - `auth/<mount>/config` → [`JwtConfig::from_fields`] on write (the whole config is replaced),
//!   [`JwtConfig::to_read_json`] on read; then rebuild the mount's [`KeySet`] with
//!   [`KeySet::from_config`].
//! - `auth/<mount>/role/:name` → [`JwtRole::from_fields`] (pass the stored role on update),
//!   [`JwtRole::to_read_json`].
//! - `auth/<mount>/login` → load config and role, then [`validate`]; issue a token from
//!   [`ValidatedClaims`] (`display_name` `jwt-<user>`, metadata plus `role`) and the role's
//!   `token_*` fields.
//!
//! The [`KeySet`] lives in memory beside the config, one per mount, behind an `Arc`, and is
//! rebuilt whenever the config is written (it is never stored). With `jwks_url` it caches the
//! fetched keys ([`JwksCachePolicy`]): keys are reused for 10 minutes, a token with an unknown
//! `kid` triggers a refetch, refetches happen at most every 10 seconds, and a failed refetch
//! keeps the previous keys.
//!
//! Files: [`backend`] (the mounted backend), [`config`] and [`role`] (the stored models and their Vault-compatible validation),
//! [`keys`] (PEM and JWK keys, accepted algorithms), [`jwks`] (the HTTP cache), [`validate`]
//! (the checks), [`error`].

pub mod backend;
pub mod config;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod role;
pub mod validate;

#[cfg(test)]
pub(crate) mod testing;

pub use backend::JwtBackend;
pub use config::JwtConfig;
pub use error::{ClaimsProblem, JwtError, TokenProblem};
pub use jwks::JwksCachePolicy;
pub use keys::{KeySet, SigningAlg, VerifyingKey};
pub use role::{BoundClaimValues, BoundClaimsType, JwtRole, RoleType};
pub use validate::{validate, ValidatedClaims};
