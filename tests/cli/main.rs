//! The `leasehold` CLI, driven as a user drives it: the built binary, run as a child process
//! against a real server (in this process, on a random port) and the throwaway PostgreSQL, with
//! effects checked on the target (pg_roles, a real login), not only in what the CLI prints.

#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod admin;
#[path = "../api/app.rs"]
#[allow(dead_code)]
mod app;
mod audit_chain;
mod first_hour;
#[path = "../../backends/jwt/src/testing.rs"]
#[allow(dead_code)]
mod jwt_testing;
mod kv;
mod lease_token;
mod login_jwt;
mod run;
mod support;
