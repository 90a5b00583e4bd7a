//! leasehold: a server that speaks HashiCorp Vault's HTTP API for dynamic secrets, creates a real
//! account per credential, and destroys it when the lease ends.
//!
//! Map of the crate (see `docs/ARCHITECTURE.md`):
//! - [`http`]: the axum edge — the canonical request path ([`http::path`], made once and used
//!   for everything after), request parsing and limits, Vault's envelope and errors (the one
//!   place that picks status codes is [`http::error`]).
//! - [`core`]: routing to `sys/`, `auth/token/` and mounts; the mount table; system handlers
//!   (`core/system/`), token paths and roles, response wrapping, quotas, workload revocation,
//!   reconciliation of orphaned accounts.
//! - [`lease`]: THE lease engine — `engine.rs` (the [`lease::LeaseEngine`]), `issue.rs`
//!   (write-ahead issue), `renew.rs` and `ttl.rs` (renew math), `destroy.rs` (the one
//!   destruction path) with `destroy_error.rs` (why one failed, whose fault, and the error a
//!   revoke of many reports), `revoke.rs` (revoke, revoke-prefix, revoke-force), `expiry.rs`
//!   (the expiry worker) with `backoff.rs`, `transitions.rs` (the state machine),
//!   `token_rows.rs` (token expiry rows), `integrity_sweep.rs` and `row_tag_migration.rs`,
//!   `events.rs` (what audit and metrics listen to), `id.rs`.
//! - [`storage`]: one trait per capability (kv, lease rows and queue, cluster, change feed;
//!   `Storage` is all of them), the lease record (`lease_record.rs`), SQLite and PostgreSQL,
//!   AES-256-GCM sealing bound to each value's place, and the keyring (terms, rotation, the
//!   one-time format migration).
//! - [`auth`]: tokens (`auth/token.rs`, the store in `auth/token_store/`) and ACL policies (`auth/policy/`) only; the
//!   auth methods (AppRole, JWT) are crates of their own under `backends/`, as are the secrets
//!   engines (`backends/database` with its PostgreSQL, MySQL and Redis drivers, `backends/aws`,
//!   `backends/rabbitmq`) and the SDK they are written against (`backends/sdk`).
//! - [`audit`]: audit devices; each device's writer owns its file or socket, and a request waits
//!   a bounded time for its entry to be written (none written: refused, fail closed).
//! - [`metrics`]: Prometheus counters and histograms fed by lease events, gauges read from storage.
//! - [`server`]: assembly at start-up; its listener (timeouts, connection cap, TLS) and the first
//!   start (the root token minted once; `operator generate-root`).
//! - [`config`], [`clock`], [`error`].
// tests read the wall clock to compare against the server's (unit tests only: the lib itself
// reads the core's clock; `clippy.toml` bans the direct calls).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod approval;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod error;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod server;
pub mod storage;
