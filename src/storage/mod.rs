//! Durable state behind a few small traits, one per capability: the key/value space for
//! configuration (mounts, tokens, backend configs) ([`KvStore`]), the lease table
//! ([`LeaseStore`]), which is also the expiry queue ([`LeaseQueue`]), the access history kept
//! after leases are tidied ([`LeaseHistory`]), node membership and locks
//! ([`ClusterStore`]) and the change feed ([`ChangeFeed`]). [`Storage`] is all of them, for
//! callers that need everything; a caller that needs one capability asks for that one.
//!
//! Implementations store bytes; sealing happens above them ([`sealed::SealedKv`], the lease engine),
//! so every implementation keeps secrets encrypted without knowing about it. Each value is bound to
//! its key or lease id ([`seal`]); the data keys live in the storage, wrapped by the operator's key
//! file ([`keyring`]); lease rows carry an integrity tag ([`row_mac`]). SQLite ([`sqlite`]) is the
//! embedded default; PostgreSQL ([`postgres`]) lets several nodes share one lease table. Both
//! pass one shared suite (`suite.rs`).

pub mod changes;
pub mod cluster;
pub mod freshness;
pub mod history;
#[cfg(test)]
pub(crate) mod history_suite;
pub mod keyring;
pub mod kv;
pub mod kv_cache;
pub mod lease_record;
pub mod lease_trail;
pub mod leases;
pub mod lock;
pub mod postgres;
#[cfg(test)]
pub(crate) mod postgres_tests;
pub mod row_mac;
pub mod seal;
pub mod sealed;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod suite;
mod writer;

pub use changes::{ChangeFeed, StorageChange};
pub use cluster::{ClusterStore, NodeRecord};
pub use history::{
    HistoryCursor, HistoryQuery, HistoryRow, LeaseHistory, Period, SummaryBy, SummaryRow,
};
pub use kv::KvStore;
pub use lease_record::{Claimable, LeaseRecord, LeaseState};
pub use lease_trail::{Ending, LeaseTrail};
pub use leases::{ClaimOne, LeaseCount, LeaseQueue, LeaseStore, Within, CREATION_ABANDONED};

/// Storage failed. The text is for logs; callers see "internal error".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// Every capability at once: what the server opens and most of it shares as one handle.
/// Implemented for every type that has them all.
pub trait Storage:
    KvStore + LeaseStore + LeaseQueue + LeaseHistory + ClusterStore + ChangeFeed
{
}

impl<T: KvStore + LeaseStore + LeaseQueue + LeaseHistory + ClusterStore + ChangeFeed + ?Sized>
    Storage for T
{
}
