//! [`ChangeFeed`]: the key/value writes other processes made, for caches to follow.

/// Changes to the key/value space made elsewhere.
pub trait ChangeFeed: Send + Sync {
    /// Changes other processes made to the key/value space, for caches to follow. `None` when
    /// no other process can write (SQLite). A [`StorageChange::Resync`] means changes may have
    /// been missed (the feed reconnected): reload everything.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StorageChange>>;
}

/// A change another process made (see [`ChangeFeed::changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChange {
    /// This key was written or deleted (for a prefix delete: each key, or the prefix itself).
    Key(String),
    /// Changes may have been missed; reload every cache.
    Resync,
    /// The feed stopped: changes are being missed until the [`StorageChange::Resync`] sent when
    /// it is back. Caches that must not serve stale entries stop serving until then.
    Interrupted,
}
