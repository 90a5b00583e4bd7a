//! This node among the others sharing the storage. Every node serves reads and writes and runs
//! an expiry worker (claims keep them apart); what must run on one node at a time — backends'
//! periodic work, such as static-role rotation — runs on the leader, the holder of a storage
//! lock that it renews on every heartbeat.
//!
//! Every [`HEARTBEAT`] the node loop:
//! - refreshes this node's row, so others know it is alive;
//! - releases the claims of nodes silent for [`DEAD_AFTER`], so their half-done destructions
//!   and creations are taken over by a live worker;
//! - takes or keeps the leader lock (it lapses [`LEADER_TTL`] after the holder's last renewal).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::lease::LeaseEngine;
use crate::storage::{NodeRecord, Storage, StorageError};

/// How often a node refreshes its row and the leader lock.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node silent this long is dead: its claims are released.
pub const DEAD_AFTER: Duration = Duration::from_secs(10);
/// The leader lock lapses this long after its last renewal.
pub const LEADER_TTL: Duration = Duration::from_secs(10);
/// Rows of nodes silent this long are removed (by the leader).
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// The leader lock's name.
const LEADER_LOCK: &str = "leader";

/// This node's membership.
pub struct Cluster {
    storage: Arc<dyn Storage>,
    leases: Arc<LeaseEngine>,
    clock: SharedClock,
    me: NodeRecord,
    leader: watch::Sender<bool>,
    /// When this node last became leader.
    leader_since: Mutex<Option<DateTime<Utc>>>,
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// This machine's host name, for `sys/ha-status`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl Cluster {
    /// Register this node (as the lease engine's node id) and run the first round, so it holds
    /// a live row before its expiry worker claims anything: a claim by an unregistered node
    /// would be released at once by the others.
    pub async fn join(
        storage: Arc<dyn Storage>,
        leases: Arc<LeaseEngine>,
        clock: SharedClock,
        api_addr: String,
    ) -> Result<Arc<Self>, StorageError> {
        let now = clock.now();
        let me = NodeRecord {
            id: leases.node_id().to_owned(),
            hostname: hostname(),
            api_addr,
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: now,
            heartbeat_at: now,
        };
        if !storage.shared() {
            // Alone on this storage: a leader lock found here belongs to this server's previous
            // life. Waiting for it to lapse would only delay the periodic work after a crash.
            if let Some(stale) = storage.lock_holder(LEADER_LOCK, now).await? {
                storage.lock_release(LEADER_LOCK, &stale).await?;
            }
        }
        let (leader, _) = watch::channel(false);
        let cluster = Arc::new(Self {
            storage,
            leases,
            clock,
            me,
            leader,
            leader_since: Mutex::new(None),
        });
        cluster.round().await?;
        if cluster.storage.shared() {
            info!(node = %cluster.me.id, leader = cluster.is_leader(), "joined the cluster");
        }
        Ok(cluster)
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.me.id
    }

    /// True while this node holds the leader lock.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Follows [`Cluster::is_leader`].
    pub fn leader_watch(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// When this node became leader, if it is.
    pub fn leader_since(&self) -> Option<DateTime<Utc>> {
        *self
            .leader_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether other nodes may share the storage.
    pub fn ha_enabled(&self) -> bool {
        self.storage.shared()
    }

    /// Live nodes (heard from within [`DEAD_AFTER`]), and the leader's id if the lock is held.
    pub async fn members(&self) -> Result<(Vec<NodeRecord>, Option<String>), StorageError> {
        let now = self.clock.now();
        let alive_since = now - chrono(DEAD_AFTER);
        let nodes = self
            .storage
            .node_list()
            .await?
            .into_iter()
            .filter(|n| n.heartbeat_at >= alive_since)
            .collect();
        let leader = self.storage.lock_holder(LEADER_LOCK, now).await?;
        Ok((nodes, leader))
    }

    /// One heartbeat: refresh this node, release dead nodes' claims, take or keep the lead.
    async fn round(&self) -> Result<(), StorageError> {
        let now = self.clock.now();
        let me = NodeRecord {
            heartbeat_at: now,
            ..self.me.clone()
        };
        self.storage.node_heartbeat(&me).await?;
        let released = self
            .storage
            .lease_release_dead_claims(now, now - chrono(DEAD_AFTER))
            .await?;
        if released > 0 {
            warn!(
                leases = released,
                "took over {released} leases whose node stopped mid-work"
            );
            self.leases.wake.notify_one();
        }
        let leading = self
            .storage
            .lock_try(LEADER_LOCK, &self.me.id, now, now + chrono(LEADER_TTL))
            .await?;
        self.set_leader(leading, now, false);
        if leading {
            let forget_before = now - chrono(FORGET_AFTER);
            for node in self.storage.node_list().await? {
                if node.heartbeat_at < forget_before {
                    self.storage.node_remove(&node.id).await?;
                }
            }
        }
        Ok(())
    }

    /// `stopping`: the lead is given up because this node is shutting down, which is no cause
    /// for a warning. On storage no other node can share, the lead is a formality: its changes
    /// are logged at debug level only, so a single node's log holds no leadership noise.
    fn set_leader(&self, leading: bool, now: DateTime<Utc>, stopping: bool) {
        let was = self.leader.send_replace(leading);
        if was != leading {
            *self
                .leader_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = leading.then_some(now);
            let shared = self.storage.shared();
            match (leading, stopping, shared) {
                (_, _, false) => {
                    tracing::debug!(node = %self.me.id, leader = leading, "leadership changed")
                }
                (true, _, true) => info!(node = %self.me.id, "this node is now the leader"),
                (false, true, true) => {
                    info!(node = %self.me.id, "this node gave up the lead: shutting down")
                }
                (false, false, true) => {
                    warn!(node = %self.me.id, "this node is no longer the leader")
                }
            }
        }
    }

    /// Heartbeat until `shutdown` turns true, then leave: give up the lead and the node row so
    /// others take over at once instead of after [`DEAD_AFTER`].
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.round().await {
                // Without a heartbeat this node may no longer be leader; stop acting as one
                // before the lock lapses elsewhere.
                warn!(error = %e, "cluster heartbeat failed");
                self.set_leader(false, self.clock.now(), false);
            }
        }
        self.set_leader(false, self.clock.now(), true);
        if let Err(e) = self.storage.lock_release(LEADER_LOCK, &self.me.id).await {
            warn!(error = %e, "could not release the leader lock");
        }
    }

    /// Remove this node's row: after a graceful stop its claims (none should remain: the
    /// expiry worker has finished) are released at once by the others.
    pub async fn leave(&self) {
        if let Err(e) = self.storage.node_remove(&self.me.id).await {
            warn!(error = %e, "could not remove this node from the cluster table");
        }
    }
}
