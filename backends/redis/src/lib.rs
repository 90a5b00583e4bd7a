#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`factory`]: [`RedisDriverFactory`] (`redis-database-plugin`): URL and credentials to driver.
//! - [`driver`]: [`RedisDriver`], the engine's `Target`: verify, create an ACL user, set its
//!   password, list users.
//! - [`dialect`]: [`RedisDialect`]: name limit; creation statements are rules, not templates.
//! - `revoke`: destroying a user: disabled, connections killed, deleted, checked gone.
//! - [`rules`]: creation statements (JSON lists of ACL rules) to checked rules.
//! - `error`: sorting Redis failures into outage vs refusal.
#![forbid(unsafe_code)]

pub mod dialect;
pub mod driver;
mod error;
pub mod factory;
mod revoke;
pub mod rules;

pub use dialect::RedisDialect;
pub use driver::RedisDriver;
pub use factory::{RedisDriverFactory, PLUGIN_NAMES};
