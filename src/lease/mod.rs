//! THE lease engine: the lease table, issue write-ahead, renew math, the one destruction path and
//! the expiry worker.
//!
//! ```text
//!   issue:  plan ──write row──▶ creating ──account created──▶ active
//!                                  │ create failed / crash           │ expiry, revoke,
//!                                  ▼                                 ▼ prefix, mount disable
//!                               revoking ◀───────────────────────────┘
//!                                  │  ▲ destruction failed: attempts+1, last_error,
//!                                  │  └─ due_at = now + backoff (never dropped; listed as
//!                                  │     irrevocable after N attempts, still retried)
//!                                  ▼ destroyed (or revoke-force by an admin: forced=true)
//!                               revoked ──tidy window──▶ row deleted
//! ```
//!
//! One shortcut: a create that provably never reached the target (`TargetNotReached`) goes from
//! `creating` straight to `revoked`, since nothing exists to destroy (rule in `revoke.rs`).
//!
//! The table is the queue: `due_at` says when the worker must act and is indexed, so nothing is
//! loaded at start-up. A row in `creating` at start-up is a crash leftover and is destroyed.
//!
//! A token's expiry is a row too (kind `token`): the engine ends it through the token revoker it
//! was built with ([`token_rows`]), not through a mount.
//!
//! Every row carries an integrity tag ([`integrity`]) the engine recomputes on each write and
//! checks before it destroys or renews: a row edited in storage is flagged (`tampered_at`),
//! audited and left for an operator, never acted on.

pub mod backoff;
pub mod engine;
pub mod events;
pub mod expiry;
pub mod id;
pub mod integrity;
pub mod integrity_sweep;
mod issue;
pub mod model;
mod renew;
mod revoke;
mod row_tag_migration;
pub mod token_rows;
pub mod ttl;

pub use engine::{
    LeaseEngine, LeaseSettings, MountResolver, ResolvedMount, TOKEN_LEASE_KIND, TOKEN_MOUNT_UUID,
};
pub use model::{LeaseRecord, LeaseState};
pub use token_rows::TokenRevoker;

#[cfg(test)]
mod tests;
