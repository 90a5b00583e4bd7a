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
//! - `stored_secret`: how secrets are written into (sealed) mount storage.
//! - [`driver`]: the seam to databases: [`Driver`], [`DriverFactory`], [`DriverError`].
//! - `connections`: factories and the per-connection driver cache.
//! - [`scrub`]: the wrapper that removes secrets from every driver error.
//! - `connection_url`: placeholders, literal passwords and redaction in connection URLs.
//! - [`username`]: the username template and the safe alphabet of generated names.
//! - `password`: the password generator.
//! - [`error`]: [`DatabaseError`], what went wrong for the caller.
//! - `harness` (feature `harness`): the engine on in-memory storage, for the drivers' tests.
#![forbid(unsafe_code)]

pub mod backend;
mod config;
mod connection_url;
mod connections;
mod creds;
pub mod driver;
pub mod error;
mod marker;
mod password;
mod roles;
mod rotate_root;
mod rotation;
mod schedule;
pub mod scrub;
mod secret;
mod static_creds;
mod static_roles;
mod stored_secret;
mod tick;
pub mod username;

#[cfg(any(test, feature = "harness"))]
pub mod harness;
#[cfg(test)]
mod testing;

pub use backend::DatabaseBackend;
pub use driver::{
    ConnectionConfig, DeleteUser, Driver, DriverError, DriverFactory, NewUser, UpdateExpiry,
    UpdatePassword,
};
pub use error::DatabaseError;
pub use username::is_safe_username;
