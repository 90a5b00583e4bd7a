#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`factory`]: [`MySqlDriverFactory`] (the four `mysql-*-database-plugin` names): URL to driver.
//! - `connection_url`: Vault's `user:pass@tcp(host:port)/db` and `mysql://` URLs to client options.
//! - [`driver`]: [`MySqlDriver`], the engine's `Target`: verify, create a user (the engine
//!   undoes a failed one), set passwords, list users.
//! - `revoke`: destroying a user: accounts locked, sessions killed, every host dropped.
//! - [`statements`]: splitting statement strings on `;` the way MySQL's lexer would.
//! - [`dialect`]: [`MySqlDialect`]: the expiry format, limits and splitting the engine renders
//!   statements with; quoting accounts.
//! - `error`: sorting MySQL failures into outage vs refusal.
#![forbid(unsafe_code)]

mod connection_url;
pub mod dialect;
pub mod driver;
mod error;
pub mod factory;
mod revoke;
pub mod statements;

pub use dialect::MySqlDialect;
pub use driver::MySqlDriver;
pub use factory::{MySqlDriverFactory, PLUGIN_NAMES};
pub use statements::split_statements;
