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
//! `creating` straight to `revoked`, since nothing exists to destroy (rule in `issue.rs`). Each
//! arrow is a method on the lease record (`transitions.rs`) that checks the state it leaves.
//!
//! The table is the queue: `due_at` says when the worker must act and is indexed, so nothing is
//! loaded at start-up. A row in `creating` at start-up is a crash leftover and is destroyed.
//!
//! A token's expiry is a row too (kind `token`): the engine ends it through the token revoker it
//! was built with ([`token_rows`]), not through a mount.
//!
//! Every row carries an integrity tag ([`crate::storage::row_mac`]) the engine recomputes on each
//! write and checks before it destroys or renews: a row edited in storage is flagged (`tampered_at`),
//! audited and left for an operator, never acted on.

pub mod backoff;
mod destroy;
pub mod destroy_error;
pub mod engine;
pub mod events;
pub mod expiry;
pub mod id;
pub mod integrity_sweep;
mod issue;
mod renew;
mod revoke;
mod row_tag_migration;
pub mod token_rows;
mod transitions;
pub mod ttl;
mod two_phase;
pub mod wake;

pub use crate::storage::{LeaseRecord, LeaseState};
pub use destroy_error::{revoke_failures, DestroyError, Fault};
pub use engine::{
    LeaseEngine, LeaseSettings, MountResolver, ResolvedMount, TOKEN_LEASE_KIND, TOKEN_MOUNT_UUID,
};
pub use token_rows::TokenRevoker;
pub use transitions::IllegalTransition;

#[cfg(test)]
mod shared_storage_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod two_phase_tests;
