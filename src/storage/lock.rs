//! A named lock in storage, held for one short critical section across every node sharing the
//! storage (a mount-table edit, say). It lapses after its TTL if the holder dies mid-way.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{Storage, StorageError};

/// How long a holder may keep the lock before others may take it anyway.
const TTL: Duration = Duration::from_secs(30);
/// How long [`HeldLock::acquire`] keeps trying.
const WAIT: Duration = Duration::from_secs(15);
/// Pause between tries.
const POLL: Duration = Duration::from_millis(50);

/// A lock this process holds; give it back with [`HeldLock::release`].
pub struct HeldLock {
    storage: Arc<dyn Storage>,
    name: String,
    holder: String,
}

impl HeldLock {
    /// Take `name`, waiting up to 15 s for another holder to finish.
    pub async fn acquire(storage: &Arc<dyn Storage>, name: &str) -> Result<Self, StorageError> {
        // One holder id per acquisition: a second acquire in this process must wait too.
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(TTL).unwrap_or(chrono::Duration::MAX);
            if storage.lock_try(name, &holder, now, until).await? {
                return Ok(Self {
                    storage: storage.clone(),
                    name: name.to_owned(),
                    holder,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError(format!(
                    "lock {name} is still held by another server after {} s",
                    WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Give the lock back (it would lapse after its TTL anyway).
    pub async fn release(self) {
        if let Err(e) = self.storage.lock_release(&self.name, &self.holder).await {
            tracing::warn!(lock = %self.name, error = %e, "could not release a storage lock");
        }
    }
}
