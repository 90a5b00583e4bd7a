#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`backend`]: [`DatabaseBackend`], the table of paths and the `Backend` implementation.
//! - `config`: `config/:name` and `reset/:name`: connections to databases.
//! - `roles`: `roles/:name`: which SQL makes and unmakes a user, and the TTLs.
//! - `creds`: `creds/:name`: plan a user (name chosen, nothing created) and its lease data.
//! - `secret`: create, renew and revoke a planned user once its lease row exists.
//! - [`driver`]: the seam to databases: [`Driver`], [`DriverFactory`], [`DriverError`].
//! - `connections`: factories and the per-connection driver cache.
//! - [`scrub`]: the wrapper that removes secrets from every driver error.
//! - `connection_url`: placeholders, literal passwords and redaction in connection URLs.
//! - [`username`]: the username template and the safe alphabet of generated names.
//! - `password`: the password generator.
//! - [`error`]: [`DatabaseError`], what went wrong for the caller.
#![forbid(unsafe_code)]

pub mod backend;
mod config;
mod connection_url;
mod connections;
mod creds;
pub mod driver;
pub mod error;
mod password;
mod roles;
pub mod scrub;
mod secret;
pub mod username;

#[cfg(test)]
mod testing;

pub use backend::DatabaseBackend;
pub use driver::{
    ConnectionConfig, DeleteUser, Driver, DriverError, DriverFactory, NewUser, UpdateExpiry,
    UpdatePassword,
};
pub use error::DatabaseError;
pub use username::is_safe_username;
