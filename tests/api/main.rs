//! Integration tests: the real server in-process on a random port, driven over HTTP, against a
//! throwaway PostgreSQL cluster with SCRAM password auth. Each test proves effects on the target
//! (log in, look in pg_roles), not just our own bookkeeping.

// clippy.toml exempts only #[test] functions; the shared helpers here are test code too.
// tests read the wall clock to compare against the server's
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod app;
mod approval;
mod audit;
mod auth_limits;
mod auth_methods;
mod authz;
mod aws;
mod capabilities;
mod first_start;
mod history;
mod integrity;
#[path = "../../backends/jwt/src/testing.rs"]
#[allow(dead_code)]
mod jwt_testing;
mod lease_list;
mod listener;
mod metrics;
#[path = "../../backends/aws/tests/support/moto.rs"]
#[allow(dead_code)]
mod moto;
mod mount_cache;
mod outages;
mod postgres;
mod props;
mod quotas;
mod rabbit;
mod rabbitmq;
mod restart;
mod sealing;
mod sys;
mod token_cache;
mod tokens;
mod ui;
mod vaultrs_client;
mod workload_tokens;
mod wrapping;
