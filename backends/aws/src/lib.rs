#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`backend`]: [`AwsBackend`], the table of paths ([`backend::PATHS`]) and request routing.
//! - [`config`]: `config/root`, `config/lease`, `config/rotate-root`.
//! - [`roles`]: `roles/:name` and `LIST roles`; the [`roles::CredentialType`]s; the field rules
//!   in its `validate` submodule.
//! - [`creds`]: `creds/:name` and `sts/:name`: planning a credential without touching AWS, and
//!   the secret kinds' create, renew and revoke.
//! - [`iam`]: the IAM user create sequence with its rollback, and the destroy sequence.
//! - [`receipt`]: the destruction receipt: IAM asked afterwards whether the user is gone.
//! - [`sts`]: the three STS credential calls and session policies.
//! - [`names`]: generated user, session and federation names; `username_template`.
//! - [`client`]: IAM and STS SDK clients built from `config/root`.
//! - [`error`]: [`AwsError`], and how AWS failures are classified and scrubbed.
#![forbid(unsafe_code)]

pub mod backend;
pub mod client;
pub mod config;
pub mod creds;
pub mod error;
pub mod iam;
pub mod names;
pub mod receipt;
pub mod roles;
pub mod sts;

pub use backend::AwsBackend;
pub use error::AwsError;
