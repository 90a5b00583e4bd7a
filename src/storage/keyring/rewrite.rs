//! Re-sealing under the newest term after a rotation (see the keyring's module header): in
//! batches, in the background, one node at a time, resumed at start-up until a pass completes.

use std::sync::Arc;
use std::time::Duration;

use super::{
    count_done, err, open_fresh, put_batch, read, refresh, write, Place, BATCH, KEYRING_KEY,
    RING_LOCK,
};
use crate::storage::lock::HeldLock;
use crate::storage::seal::{term_of, Aad, Seal};
use crate::storage::{Storage, StorageError};

/// The storage lock held by the node rewriting values under the newest term.
const REWRITE_LOCK: &str = "core/keyring-rewrite";
/// Pause between rewrite batches, so a background pass never crowds out requests.
const REWRITE_PAUSE: Duration = Duration::from_millis(5);

/// What one [`rewrite`] pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// The term values were re-sealed under.
    pub term: u32,
    /// Values re-sealed (entries and leases).
    pub rewritten: u64,
    /// Values that did not open where they are (moved or corrupted): left for reads to refuse.
    pub unreadable: u64,
}

/// Re-seal every value sealed under an older term with the newest one, [`BATCH`] at a time, and
/// clear `rewrite_pending` when done. Each write is a compare-and-put, so a value changed
/// meanwhile keeps its newer content. `None` when another node holds the rewrite lock.
pub async fn rewrite(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
) -> Result<Option<RewriteReport>, StorageError> {
    let Ok(lock) = HeldLock::acquire(storage, REWRITE_LOCK).await else {
        return Ok(None);
    };
    let outcome = rewrite_locked(seal, storage).await;
    lock.release().await;
    outcome.map(Some)
}

async fn rewrite_locked(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
) -> Result<RewriteReport, StorageError> {
    refresh(seal, storage).await?;
    let term = seal.active_term().ok_or_else(|| err("no key term"))?;
    let mut report = RewriteReport {
        term,
        ..Default::default()
    };
    let mut after = String::new();
    loop {
        let batch = storage.kv_scan(&after, BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        let next = last.clone();
        let mut writes = Vec::new();
        for (key, value) in batch {
            if key == KEYRING_KEY || term_of(&value).is_none_or(|t| t == term) {
                continue;
            }
            let aad = Aad::kv(&key);
            let Ok(plain) = open_fresh(seal, storage, &value, &aad).await else {
                report.unreadable += 1;
                continue;
            };
            let sealed = seal.seal(&plain, &aad).map_err(err)?;
            writes.push((key, value, sealed));
        }
        report.rewritten += count_done(put_batch(storage, Place::Kv, writes).await?);
        after = next;
        tokio::time::sleep(REWRITE_PAUSE).await;
    }
    let mut after = String::new();
    loop {
        let batch = storage.lease_internal_scan(&after, BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        let next = last.clone();
        let mut writes = Vec::new();
        for (id, value) in batch {
            if term_of(&value).is_none_or(|t| t == term) {
                continue;
            }
            let aad = Aad::lease(&id);
            let Ok(plain) = open_fresh(seal, storage, &value, &aad).await else {
                report.unreadable += 1;
                continue;
            };
            let sealed = seal.seal(&plain, &aad).map_err(err)?;
            writes.push((id, value, sealed));
        }
        report.rewritten += count_done(put_batch(storage, Place::Lease, writes).await?);
        after = next;
        tokio::time::sleep(REWRITE_PAUSE).await;
    }
    let lock = HeldLock::acquire(storage, RING_LOCK).await?;
    let cleared = async {
        let mut stored = read(seal, storage)
            .await?
            .ok_or_else(|| err("the stored keyring is missing"))?;
        // A rotation during the pass leaves the flag set for the next pass.
        if stored.terms.iter().map(|t| t.term).max() == Some(term) && stored.rewrite_pending {
            stored.rewrite_pending = false;
            write(seal, storage, &stored).await?;
        }
        Ok::<_, StorageError>(())
    }
    .await;
    lock.release().await;
    cleared?;
    tracing::info!(
        term,
        rewritten = report.rewritten,
        unreadable = report.unreadable,
        "stored values re-sealed under the newest key term"
    );
    Ok(report)
}

/// Run [`rewrite`] in the background until a pass completes (retrying after a failure).
pub fn spawn_rewrite(seal: Seal, storage: Arc<dyn Storage>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match rewrite(&seal, &storage).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "re-sealing under the newest key term failed; retrying");
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
        }
    })
}

/// Whether a rotation's rewrite is still pending, as stored.
pub async fn rewrite_pending(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
) -> Result<bool, StorageError> {
    Ok(read(seal, storage)
        .await?
        .is_some_and(|stored| stored.rewrite_pending))
}
