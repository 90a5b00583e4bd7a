#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`backend`]: [`DatabaseBackend`], the table of paths and the `Backend` implementation.
//! - `config`: `config/:name` and `reset/:name`: connections to databases.
//! - `roles`: `roles/:name`: which SQL makes and unmakes a user, and the TTLs.
//! - `creds`: `creds/:name`: plan a user (name chosen, nothing created) and its lease data.
//! - `secret`: create, renew and revoke a planned user once its lease row exists.
//! - `static_roles`: `static-roles/:name`: existing users whose passwords the engine owns.
//! - `static_creds`: `static-creds/:name` and `rotate-role/:name`.
//! - `rotation`: write-ahead password rotation of static roles and its crash recovery.
//! - `rotate_root`: `rotate-root/:name`: the connection user's own password, write-ahead too.
//! - `schedule`: `rotation_period` and the cron subset of `rotation_schedule`.
//! - `tick`: scheduled rotations and the once-per-start recovery (`Backend::tick`).
//! - [`driver`]: the seam to databases: [`Driver`], [`DriverFactory`], [`DriverError`].
//! - [`target`]: what a driver crate implements: [`Target`] (connect, run statements, destroy
//!   and list accounts, say which failures are transient).
//! - [`dialect`]: [`Dialect`], how a database writes statements (expiry format, splitting,
//!   limits on names and passwords).
//! - [`render`]: filling statement templates and checking the values put in them.
//! - [`accounts`]: a [`Target`] as a [`Driver`]: checks, prepared statements, retries of
//!   transient failures, undoing a failed creation.
//! - [`retry`]: running an attempt a concurrent transaction aborted again.
//! - [`options`]: [`Options`], a connection's driver-specific settings, stored as given.
//! - `connections`: factories and the per-connection driver cache.
//! - [`scrub`]: the wrapper that removes secrets from every driver error.
//! - `connection_url`: placeholders, literal passwords and redaction in connection URLs.
//! - [`username`]: the username template and the safe alphabet of generated names.
//! - `password`: the password generator.
//! - [`error`]: [`DatabaseError`], what went wrong for the caller.
//! - `harness` (feature `harness`): the engine on in-memory storage, for the drivers' tests.
//! - `suite` (feature `harness`): the driver conformance suite every driver runs against its
//!   server ([`conformance_suite!`]).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod backend;
mod config;
mod connection_url;
mod connections;
mod creds;
pub mod dialect;
pub mod driver;
pub mod error;
mod marker;
pub mod options;
mod password;
pub mod render;
pub mod retry;
mod roles;
mod rotate_root;
mod rotation;
mod schedule;
pub mod scrub;
mod secret;
mod static_creds;
mod static_roles;
pub mod target;
mod tick;
pub mod username;

#[cfg(any(test, feature = "harness"))]
pub mod harness;
#[cfg(feature = "harness")]
pub mod suite;
#[cfg(test)]
mod testing;

pub use backend::DatabaseBackend;
pub use dialect::{Dialect, Values};
pub use driver::{
    ConnectionConfig, DeleteUser, Driver, DriverError, DriverFactory, NewUser, PendingUser,
    UpdateExpiry, UpdatePassword,
};
pub use error::DatabaseError;
/// What `delete_user` reports (the SDK's type: the engine hands it on as it is).
pub use leasehold_backend::Revoked;
pub use options::Options;
pub use target::{Failed, Target};
pub use username::is_safe_username;
