#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`cluster`]: [`PgCluster`], one throwaway cluster: start, stop, start again, log in.
//! - `pg_tools`: finding PostgreSQL's programs and running them as the `postgres` OS user when
//!   we are root.
//! - `reaper`: the watcher process that stops the server and deletes its files when the cluster
//!   (or the whole test process) goes away.
#![forbid(unsafe_code)]

pub mod certs;
pub mod cluster;
mod pg_tools;
mod reaper;
pub mod scratch;

pub use certs::TestCa;
pub use cluster::PgCluster;
pub use scratch::{KillOnDrop, ScratchDir};
