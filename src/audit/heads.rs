//! Where each node's chain stands, kept sealed in storage (`audit/<device>chain-head/<node>`),
//! so that the next start continues the chain instead of beginning a new one.
//!
//! A background task records the head after lines are written, without holding up the writer
//! and at most every [`RECORD_EVERY`]; a crash can therefore leave the lines of that window
//! written after the recorded head. The next start links
//! to the recorded head, and the verifier reports those lines for what they are: written by a
//! run that stopped before recording them, covered by no checkpoint.
//!
//! At start a node continues one chain no live node is writing: on its own storage (SQLite),
//! any chain left by an earlier run; on shared storage, one whose node stopped cleanly or has
//! been silent for [`DEAD_AFTER`]. The claim is a compare-and-put, so two nodes starting
//! together never continue the same chain.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};

use super::chain::ChainHead;
use crate::core::cluster::DEAD_AFTER;
use crate::storage::sealed::SealedKv;
use crate::storage::StorageError;

/// The recorder's pause between two writes of the head. A crash loses at most the lines written
/// in this window from the recorded head (they stay in the file, reported as unsealed).
pub const RECORD_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A chain's recorded head.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HeadRecord {
    #[serde(flatten)]
    head: ChainHead,
    /// When it was recorded.
    at: DateTime<Utc>,
    /// The node that took this chain over; the record is deleted right after.
    #[serde(default)]
    continued_by: Option<String>,
}

fn prefix(device: &str) -> String {
    format!("audit/{device}chain-head/")
}

/// Records one node's head for one device.
pub struct HeadStore {
    kv: SealedKv,
    key: String,
    saved: Mutex<Option<ChainHead>>,
}

impl HeadStore {
    /// The store for `node`'s chain on `device`.
    pub fn new(kv: SealedKv, device: &str, node: &str) -> Arc<Self> {
        Arc::new(Self {
            key: format!("{}{node}", prefix(device)),
            kv,
            saved: Mutex::new(None),
        })
    }

    /// Record the newest head `follow` has seen. Holding the lock while reading the newest
    /// value means an older head can never overwrite a newer one.
    pub async fn save_latest(
        &self,
        follow: &watch::Receiver<ChainHead>,
    ) -> Result<(), StorageError> {
        let mut saved = self.saved.lock().await;
        let head = follow.borrow().clone();
        if saved.as_ref() == Some(&head) {
            return Ok(());
        }
        let record = HeadRecord {
            head: head.clone(),
            at: crate::clock::wall_now(),
            continued_by: None,
        };
        self.kv.put_json(&self.key, &record).await?;
        *saved = Some(head);
        Ok(())
    }

    /// Record heads as `follow` moves, until its writer is gone: at most one storage write per
    /// [`RECORD_EVERY`], each of the newest head, so a busy device costs the storage ten writes
    /// a second, not one per entry.
    pub fn spawn_recorder(self: &Arc<Self>, mut follow: watch::Receiver<ChainHead>) {
        let store = self.clone();
        tokio::spawn(async move {
            while follow.changed().await.is_ok() {
                if let Err(e) = store.save_latest(&follow).await {
                    tracing::warn!(error = %e, "audit chain head not recorded: {e}");
                }
                tokio::time::sleep(RECORD_EVERY).await;
            }
        });
    }
}

/// Where `node`'s chain on `device` starts: continuing a chain no live node writes, or afresh.
pub async fn resume(kv: &SealedKv, device: &str, node: &str) -> Result<ChainHead, StorageError> {
    let storage = kv.storage();
    let alive: Vec<String> = if storage.shared() {
        let since = crate::clock::wall_now()
            - chrono::Duration::from_std(DEAD_AFTER).unwrap_or(chrono::Duration::MAX);
        let nodes = storage.node_list().await?;
        nodes
            .into_iter()
            .filter(|n| n.heartbeat_at >= since)
            .map(|n| n.id)
            .collect()
    } else {
        Vec::new()
    };
    let mut left: Vec<(String, Vec<u8>, HeadRecord)> = Vec::new();
    for child in kv.list(&prefix(device)).await? {
        let key = format!("{}{child}", prefix(device));
        let Some(raw) = kv.get(&key).await? else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<HeadRecord>(&raw) else {
            continue;
        };
        let free = record.continued_by.is_none()
            && record.head.node != node
            && (record.head.closed || !alive.contains(&record.head.node));
        if free {
            left.push((key, raw.to_vec(), record));
        }
    }
    // The most recently written chain first: on one server, the run just before this one.
    left.sort_by_key(|l| std::cmp::Reverse(l.2.at));
    for (key, raw, record) in left {
        let mut claimed = record.clone();
        claimed.continued_by = Some(node.to_owned());
        let bytes = serde_json::to_vec(&claimed).map_err(|e| StorageError(e.to_string()))?;
        if kv.compare_and_put(&key, &raw, &bytes).await? {
            let head = ChainHead::after(node, &record.head);
            // Ours is recorded before theirs goes, so a crash in between loses neither.
            let ours = HeadStore::new(kv.clone(), device, node);
            ours.save_latest(&watch::channel(head.clone()).1).await?;
            kv.delete(&key).await?;
            return Ok(head);
        }
    }
    Ok(ChainHead::genesis(node))
}

/// Forget every chain head of `device` (it is being disabled).
pub async fn forget(kv: &SealedKv, device: &str) -> Result<(), StorageError> {
    for child in kv.list(&prefix(device)).await? {
        if child.starts_with("node-") && !child.ends_with('/') {
            kv.delete(&format!("{}{child}", prefix(device))).await?;
        }
    }
    Ok(())
}
