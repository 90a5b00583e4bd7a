//! A device writer's side of the chain: it links each entry to the last one written, decides
//! when a checkpoint is due, and publishes where the chain stands once a line is written (a
//! background task records that head in storage, so the next start continues from it).
//!
//! Only a line the sink accepted moves the chain on: a failed write is retried by nobody, and
//! the next entry links to the last entry that did reach the device.

use serde_json::Value;
use tokio::sync::watch;

use super::chain::ChainHead;
use super::checkpoint::{ChainKey, CheckpointPolicy};

/// One line to write: an entry, or a checkpoint (`closing` at a clean stop).
#[derive(Debug)]
pub enum Item {
    /// An audit entry (a JSON object without `chain`).
    Entry(Value),
    /// A signed checkpoint.
    Checkpoint {
        /// Written at a clean stop: the chain ends here unless this node writes on.
        closing: bool,
    },
}

/// A linked line, not yet written, and the head once it is.
pub struct Pending {
    /// The bytes for the sink, newline included.
    pub line: Vec<u8>,
    next: ChainHead,
    checkpoint: bool,
}

/// The chain one writer extends.
pub struct Chained {
    head: ChainHead,
    key: ChainKey,
    policy: CheckpointPolicy,
    /// Entries written since the last checkpoint.
    uncovered: u64,
    published: watch::Sender<ChainHead>,
}

impl Chained {
    /// A chain continuing from `head`; the receiver follows the head as lines are written.
    pub fn new(
        head: ChainHead,
        key: ChainKey,
        policy: CheckpointPolicy,
    ) -> (Self, watch::Receiver<ChainHead>) {
        let (published, follow) = watch::channel(head.clone());
        let chained = Self {
            head,
            key,
            policy,
            uncovered: 0,
            published,
        };
        (chained, follow)
    }

    /// How often a timed checkpoint is considered.
    pub fn interval(&self) -> std::time::Duration {
        self.policy.interval
    }

    /// Whether a requested checkpoint has anything to cover: a timed one needs entries since the
    /// last; a closing one is skipped only when the chain already ends with one.
    pub fn wants(&self, closing: bool) -> bool {
        if closing {
            !self.head.closed
        } else {
            self.uncovered > 0
        }
    }

    /// The checkpoint that is due after the entries just written, if one is.
    pub fn due(&self) -> Option<Item> {
        (self.uncovered >= self.policy.entries).then_some(Item::Checkpoint { closing: false })
    }

    /// Link `item` after the head.
    pub fn prepare(&self, item: Item) -> Result<Pending, String> {
        let (entry, closing, checkpoint) = match item {
            Item::Entry(entry) => (entry, false, false),
            Item::Checkpoint { closing } => {
                let at = crate::clock::wall_now();
                (self.key.checkpoint(&self.head, at, closing), closing, true)
            }
        };
        let (line, next) = self.head.link(&entry, closing)?;
        let mut line = line.into_bytes();
        line.push(b'\n');
        Ok(Pending {
            line,
            next,
            checkpoint,
        })
    }

    /// The sink wrote `pending`: the chain moves on and the new head is published.
    pub fn written(&mut self, pending: Pending) {
        self.head = pending.next;
        self.uncovered = if pending.checkpoint {
            0
        } else {
            self.uncovered + 1
        };
        self.published.send_replace(self.head.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chained(entries: u64) -> Chained {
        let key = ChainKey::from_seed(&ChainKey::generate_seed()).unwrap();
        let policy = CheckpointPolicy {
            entries,
            ..CheckpointPolicy::default()
        };
        Chained::new(ChainHead::genesis("node-a"), key, policy).0
    }

    #[test]
    fn a_checkpoint_is_due_after_n_written_entries_and_a_failed_write_does_not_count() {
        let mut c = chained(2);
        assert!(!c.wants(false) && c.wants(true));
        let p = c.prepare(Item::Entry(json!({"n": 1}))).unwrap();
        c.written(p);
        assert!(c.due().is_none());
        // Prepared but never written: the chain stays where it was.
        let lost = c.prepare(Item::Entry(json!({"n": 2}))).unwrap();
        drop(lost);
        let p = c.prepare(Item::Entry(json!({"n": 2}))).unwrap();
        let v: Value = serde_json::from_slice(&p.line).unwrap();
        assert_eq!(v["chain"]["seq"], 2);
        c.written(p);
        let Some(item) = c.due() else {
            panic!("no checkpoint due")
        };
        c.written(c.prepare(item).unwrap());
        assert!(c.due().is_none() && !c.wants(false));
        let p = c.prepare(Item::Checkpoint { closing: true }).unwrap();
        c.written(p);
        assert!(!c.wants(true), "a second closing checkpoint covers nothing");
    }
}
