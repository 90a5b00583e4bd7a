#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`backend`]: the [`Backend`] trait every mount implements, and the [`SecretEngine`] (and
//!   optional [`Renew`]) half a secrets engine adds for its leases.
//! - [`cidr`]: CIDR bindings (tokens' `bound_cidrs`, AppRole's secret id bounds).
//! - [`clock`]: [`clock::Clock`], the one reader of the wall clock, shared by core and engines.
//! - [`request`]: [`Request`], [`Operation`] and weakly typed field access ([`Fields`]).
//! - [`response`]: [`Response`], [`PlannedSecret`] and [`Credentials`].
//! - [`storage`]: [`MountStorage`], the per-mount key/value view (sealed at rest by the core).
//! - [`stored_secret`]: serde for secrets kept in that storage (root passwords).
//! - [`duration`]: Vault duration strings in and Go-style duration text out.
//! - [`name`]: the one rule for role and connection names.
//! - [`list`]: Vault's `{"keys": [...]}` answer to a LIST.
//! - [`path`]: [`path::PathSpec`], a row of an engine's table of paths, and its checks.
//! - [`entry`]: [`Entries`], typed values kept as JSON under a key prefix.
//! - [`username`]: the `username_template` language generated account names are made with.
//! - [`memory`]: [`memory::MemoryStorage`], a mount storage in a map for engines' tests.
//! - [`error`]: [`BackendError`], what went wrong for the caller.

pub mod approval;
pub mod backend;
pub mod cidr;
pub mod clock;
pub mod duration;
pub mod entry;
pub mod error;
pub mod list;
pub mod marker;
pub mod memory;
pub mod name;
pub mod path;
pub mod request;
pub mod response;
pub mod storage;
pub mod stored_secret;
pub mod username;

pub use backend::{Account, Backend, Commit, Pending, Renew, Revoked, SecretContext, SecretEngine};
pub use entry::Entries;
pub use error::BackendError;
pub use request::{Fields, Operation, Request};
pub use response::{AuthGrant, Credentials, PlannedSecret, Response};
pub use storage::{MountStorage, StorageError};
