//! The one-time migration that gives lease rows written before integrity tags existed their tag
//! (storage schema: `SCHEMA_V4_LEASE_ROW_MAC` on SQLite, `SCHEMA_V3_LEASE_ROW_MAC` on
//! PostgreSQL, which only add the columns: storage does not hold the key).
//!
//! Run once across nodes: a named lock in storage lets one node stamp while others starting
//! together wait, and a completion marker (an HMAC under the row key, so only a key holder can
//! write it) ends the migration for good. Once the marker exists, a row without a tag is not
//! stamped but flagged when the engine touches it: otherwise an attacker could strip a tag from
//! an edited row and have the next start bless it. What remains (documented in the README): an
//! attacker who deletes the marker *and* strips the tags can have edited rows stamped at the next
//! start; every row stamped is logged with a warning naming its count.

use std::time::Duration;

use tracing::{info, warn};

use super::engine::LeaseEngine;
use crate::error::{Error, Result};

/// Named lock held by the node running the migration.
const MIGRATION_LOCK: &str = "lease-row-tags-v1-migration";
/// Named "lock" whose holder is the completion marker; it never expires.
const DONE_MARKER: &str = "lease-row-tags-v1-done";
/// Rows read and stamped per round trip.
const BATCH: usize = 500;
/// How long the migrating node's lock lasts; refreshed every batch.
const LOCK_FOR: Duration = Duration::from_secs(120);
/// How long a node waits for another node's migration before giving up on starting.
const WAIT_AT_MOST: Duration = Duration::from_secs(30 * 60);

impl LeaseEngine {
    /// Tag every untagged lease row, once across all nodes (see the module header). Returns
    /// how many rows this node stamped.
    pub async fn stamp_untagged_rows(&self) -> Result<u64> {
        let started = tokio::time::Instant::now();
        loop {
            if self.row_tags_done().await? {
                return Ok(0);
            }
            let now = self.now();
            let until = now + super::engine::chrono_dur(LOCK_FOR);
            if self
                .storage
                .lock_try(MIGRATION_LOCK, self.node_id(), now, until)
                .await?
            {
                let result = self.stamp_all().await;
                let _ = self
                    .storage
                    .lock_release(MIGRATION_LOCK, self.node_id())
                    .await;
                return result;
            }
            if started.elapsed() > WAIT_AT_MOST {
                return Err(Error::Internal(
                    "another node has been tagging lease rows for 30 minutes; not starting".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn row_tags_done(&self) -> Result<bool> {
        let holder = self.storage.lock_holder(DONE_MARKER, self.now()).await?;
        Ok(holder
            .and_then(|h| hex::decode(h).ok())
            .is_some_and(|m| self.seal.row_mac().is_marker(&m)))
    }

    async fn stamp_all(&self) -> Result<u64> {
        // Checked again under the lock: the node that held it before may have finished.
        if self.row_tags_done().await? {
            return Ok(0);
        }
        let key = self.seal.row_mac().clone();
        let mut stamped = 0u64;
        loop {
            let rows = self.storage.lease_untagged(BATCH).await?;
            if rows.is_empty() {
                break;
            }
            // A concurrent write that already tagged a row wins (its tag is the newer).
            let tags = rows.iter().map(|r| (r.id.clone(), key.tag(r))).collect();
            stamped += self.storage.lease_set_row_macs(tags).await?;
            let now = self.now();
            let until = now + super::engine::chrono_dur(LOCK_FOR);
            self.storage
                .lock_try(MIGRATION_LOCK, self.node_id(), now, until)
                .await?;
        }
        let now = self.now();
        let forever = now + chrono::Duration::days(365 * 1000);
        let marker = hex::encode(key.marker());
        if !self
            .storage
            .lock_try(DONE_MARKER, &marker, now, forever)
            .await?
        {
            // Someone else's marker sits there (another key, or garbage): ours cannot be set.
            return Err(Error::Internal(
                "lease row tags: the completion marker in storage was written under another \
                 key; check that every node uses the same seal key"
                    .into(),
            ));
        }
        if stamped > 0 {
            warn!(
                count = stamped,
                "gave {stamped} existing lease rows their integrity tag (one-time migration); \
                 rows edited before this start are now trusted as they are"
            );
        } else {
            info!("lease rows carry integrity tags");
        }
        Ok(stamped)
    }
}
