//! Proof against the real Redis server of this machine (127.0.0.1:6379, no authentication for
//! the default user; `LEASEHOLD_TEST_REDIS_PORT` moves the port): what the driver and the engine
//! claim is checked in the server: logins with the issued password, live connections, ACL users.
//! Every test uses users of its own (`v-t-<random>`) and removes them.

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
