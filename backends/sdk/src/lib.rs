#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`backend`]: the [`Backend`] trait every mount implements, and the [`SecretEngine`] (and
//!   optional [`Renew`]) half a secrets engine adds for its leases.
//! - [`cidr`]: CIDR bindings (tokens' `bound_cidrs`, AppRole's secret id bounds).
//! - [`request`]: [`Request`], [`Operation`] and weakly typed field access ([`Fields`]).
//! - [`response`]: [`Response`], [`PlannedSecret`] and [`Credentials`].
//! - [`storage`]: [`MountStorage`], the per-mount key/value view (sealed at rest by the core).
//! - [`duration`]: Vault duration strings in and Go-style duration text out.
//! - [`error`]: [`BackendError`], what went wrong for the caller.

pub mod backend;
pub mod cidr;
pub mod duration;
pub mod error;
pub mod marker;
pub mod request;
pub mod response;
pub mod storage;

pub use backend::{Account, Backend, Renew, SecretContext, SecretEngine};
pub use error::BackendError;
pub use request::{Fields, Operation, Request};
pub use response::{AuthGrant, Credentials, PlannedSecret, Response};
pub use storage::{MountStorage, StorageError};
