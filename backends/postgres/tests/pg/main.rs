//! Proof against a real PostgreSQL with SCRAM password auth (one throwaway cluster per run,
//! one database per test): what the driver and the engine claim is checked in the database.

// Test helpers outside `#[test]` functions: failing loudly is their job (clippy.toml allows
// these only inside test functions themselves).
// tests read the wall clock to compare against the server's
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod conformance;
mod driver;
mod engine;
mod static_roles;
mod support;
mod tls;
