//! A named lock in storage, held for one critical section across every node sharing the storage
//! (a mount-table edit, a static-role rotation). While held it is renewed in the background; if
//! the holder dies it lapses [`TTL`] after the last renewal.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{Storage, StorageError};

/// How long the lock outlives its holder's last renewal.
const TTL: Duration = Duration::from_secs(30);
/// How often a held lock is renewed.
const RENEW: Duration = Duration::from_secs(10);
/// How long [`HeldLock::acquire`] keeps trying.
const WAIT: Duration = Duration::from_secs(15);
/// Pause between tries.
const POLL: Duration = Duration::from_millis(50);

/// A lock this process holds. [`HeldLock::release`] gives it back; dropping it does too, from a
/// background task.
pub struct HeldLock {
    storage: Arc<dyn Storage>,
    name: String,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
    released: bool,
}

fn until(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    now + chrono::Duration::from_std(TTL).unwrap_or(chrono::Duration::MAX)
}

impl HeldLock {
    /// Take `name`, waiting up to 15 s for another holder to finish.
    pub async fn acquire(storage: &Arc<dyn Storage>, name: &str) -> Result<Self, StorageError> {
        // One holder id per acquisition: a second acquire in this process must wait too.
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = crate::clock::wall_now();
            if storage.lock_try(name, &holder, now, until(now)).await? {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError(format!(
                    "lock {name} is still held by another server after {} s",
                    WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
        let renewal = {
            let (storage, name, holder) = (storage.clone(), name.to_owned(), holder.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW).await;
                    let now = crate::clock::wall_now();
                    match storage.lock_try(&name, &holder, now, until(now)).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(lock = %name, "a held storage lock was taken over");
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(lock = %name, error = %e, "cannot renew a storage lock")
                        }
                    }
                }
            })
        };
        Ok(Self {
            storage: storage.clone(),
            name: name.to_owned(),
            holder,
            renewal,
            released: false,
        })
    }

    /// Give the lock back.
    pub async fn release(mut self) {
        self.released = true;
        self.renewal.abort();
        if let Err(e) = self.storage.lock_release(&self.name, &self.holder).await {
            tracing::warn!(lock = %self.name, error = %e, "could not release a storage lock");
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        let (storage, name, holder) = (
            self.storage.clone(),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.holder),
        );
        // Dropped without release (an early return, a cancelled request): give it back anyway.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = storage.lock_release(&name, &holder).await;
            });
        }
    }
}
