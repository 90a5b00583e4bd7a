#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`factory`]: [`PgDriverFactory`] (`postgresql-database-plugin`): URL to pool.
//! - [`driver`]: [`PgDriver`]: verify, create a user atomically, move its expiry.
//! - `revoke`: destroying a user: no login, sessions ended, objects handed over, role dropped.
//! - [`statements`]: splitting statement strings on `;` the way PostgreSQL's lexer would.
//! - [`render`]: filling `{{name}}`, `{{password}}`, `{{expiration}}`; quoting identifiers.
//! - `error`: sorting PostgreSQL and pool failures into outage vs refusal.
#![forbid(unsafe_code)]

mod batch;
pub mod driver;
mod error;
pub mod factory;
pub mod render;
mod retry;
mod revoke;
pub mod statements;
pub mod tls;

pub use driver::PgDriver;
pub use error::with_causes;
pub use factory::{PgDriverFactory, PLUGIN_NAMES};
pub use statements::split_statements;
