//! leasehold: a server that speaks HashiCorp Vault's HTTP API for dynamic secrets, creates a real
//! account per credential, and destroys it when the lease ends.
//!
//! Map of the crate (see `docs/ARCHITECTURE.md`):
//! - [`http`]: the axum edge — the canonical request path ([`http::path`], made once and used
//!   for everything after), request parsing, Vault's envelope and errors (the one place that
//!   picks status codes is [`http::error`]).
//! - [`core`]: routing to `sys/`, `auth/token/` and mounts; the mount table; system handlers.
//! - [`lease`]: THE lease engine — write-ahead issue, renew math, the one destruction path, the
//!   expiry worker.
//! - [`storage`]: one trait per capability (kv, lease rows and queue, cluster, change feed;
//!   `Storage` is all of them), the lease record, SQLite and PostgreSQL, AES-256-GCM sealing bound
//!   to each value's place, and the keyring (terms, rotation, the one-time format migration).
//! - [`auth`]: the token store.
//! - [`audit`]: audit devices; each device's writer owns its file or socket, and a request waits
//!   a bounded time for its entry to be written (none written: refused, fail closed).
//! - [`metrics`]: Prometheus counters and histograms fed by lease events, gauges read from storage.
//! - [`server`]: assembly at start-up; its listener (timeouts, connection cap, TLS) and the first
//!   start (the root token minted once; `operator generate-root`).
//! - [`config`], [`clock`], [`error`].
// tests read the wall clock to compare against the server's (unit tests only: the lib itself
// reads the core's clock; `clippy.toml` bans the direct calls).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod core;
pub mod error;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod server;
pub mod storage;
