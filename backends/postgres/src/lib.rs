#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`factory`]: [`PgDriverFactory`] (`postgresql-database-plugin`): URL to pool.
//! - [`driver`]: [`PgDriver`], the engine's `Target`: verify, create a user in one transaction,
//!   move its expiry, set passwords, list users.
//! - `open_create`: a new user's transaction left open until the lease row is on disk.
//! - `revoke`: destroying a user: no login, sessions ended, objects handed over, role dropped.
//! - [`statements`]: splitting statement strings on `;` the way PostgreSQL's lexer would.
//! - [`dialect`]: [`PgDialect`]: the expiry format, limits and splitting the engine renders
//!   statements with; quoting identifiers.
//! - `error`: sorting PostgreSQL and pool failures into outage vs refusal.
#![forbid(unsafe_code)]

mod batch;
pub mod dialect;
pub mod driver;
mod error;
pub mod factory;
mod open_create;
mod revoke;
pub mod statements;

pub use dialect::PgDialect;
pub use driver::PgDriver;
pub use factory::{PgDriverFactory, PLUGIN_NAMES};
pub use statements::split_statements;
