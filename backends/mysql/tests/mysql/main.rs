//! Proof against the real MySQL/MariaDB server of this machine (127.0.0.1:3306, user root with an
//! empty password, database `test`; `LEASEHOLD_TEST_MYSQL_PORT` moves the port): what the driver
//! and the engine claim is checked in the server: logins, sessions, `mysql.user`.
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
