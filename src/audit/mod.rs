//! Audit devices, as Vault's: every request and response is written to each enabled device, with
//! secret values replaced by HMACs under the device's key; lease lifecycle events (expiry, each
//! destruction attempt, irrevocable, force-removal, orphans) are written too, even when no request
//! caused them. If devices are enabled and none records a request's entry within
//! [`ACK_TIMEOUT`], the request is refused (fail closed).
//!
//!
//! Each device's entries form a hash chain per node, with checkpoints signed by the device's own
//! Ed25519 key, so an auditor can check offline that nothing was edited, removed or reordered
//! (`leasehold audit verify`; what that does and does not prove is in `docs/DESIGN.md`).
//!
//! - [`device`]: a device's options and its writer.
//! - [`writer`]: the queue and the task (or thread) that owns a device's sink and chain.
//! - [`file`], [`socket`]: the sinks.
//! - [`entry`]: the entries' shape.
//! - [`hash`]: the HMAC of secret values.
//! - [`chain`]: the chain's line format; [`chained`]: linking on the writer;
//!   [`checkpoint`]: the signing key and checkpoints; [`heads`]: each chain's head in storage,
//!   continued after a restart; [`verify`]: the offline verifier.

pub mod chain;
pub mod chained;
pub mod checkpoint;
pub mod device;
pub mod entry;
pub mod file;
pub mod hash;
pub mod heads;
pub mod socket;
pub mod verify;
pub mod writer;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::lease::events::{LeaseEvent, LeaseObserver, Recording};
use crate::storage::sealed::SealedKv;
use checkpoint::ChainKey;
pub use device::{Device, DeviceChain, DeviceConfig};
use heads::HeadStore;

const DEVICES_KEY: &str = "core/audit";

/// How long a request waits for its entry to be written. Devices are waited for together, so a
/// request is delayed by at most this much however many devices have stalled.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// The enabled devices.
pub struct AuditBroker {
    kv: SealedKv,
    /// This server's node id: each node writes its own chain on each device.
    node: String,
    devices: RwLock<Vec<Arc<Device>>>,
}

fn key_path(path: &str) -> String {
    format!("audit/{}key", path)
}

/// Where a device's checkpoint-signing seed is sealed.
fn chain_key_path(path: &str) -> String {
    format!("audit/{}chain-key", path)
}

impl AuditBroker {
    /// Load the persisted devices, each continuing this node's chain where an earlier run left
    /// it. A device whose options no longer work is kept out and logged.
    pub async fn load(kv: SealedKv, node: &str) -> Result<Arc<Self>> {
        let devices = Self::read_devices(&kv, node, &[]).await?;
        Ok(Arc::new(Self {
            kv,
            node: node.to_owned(),
            devices: RwLock::new(devices),
        }))
    }

    /// The stored devices; those already open in `current` (same path) are kept as they are.
    async fn read_devices(
        kv: &SealedKv,
        node: &str,
        current: &[Arc<Device>],
    ) -> Result<Vec<Arc<Device>>> {
        let configs: Vec<DeviceConfig> = kv.get_json(DEVICES_KEY).await?.unwrap_or_default();
        let mut devices = Vec::new();
        for config in configs {
            if let Some(d) = current.iter().find(|d| d.config.path == config.path) {
                devices.push(d.clone());
                continue;
            }
            let key = kv.get(&key_path(&config.path)).await?.unwrap_or_default();
            let chain = DeviceChain {
                seed: Self::chain_seed(kv, &config.path).await?,
                head: heads::resume(kv, &config.path, node).await?,
                store: HeadStore::new(kv.clone(), &config.path, node),
            };
            match Device::new(config.clone(), key, chain) {
                Ok(d) => devices.push(Arc::new(d)),
                Err(e) => {
                    tracing::error!(audit.path = %config.path, error = %e, "audit device {} cannot start", config.path)
                }
            }
        }
        Ok(devices)
    }

    /// The device's checkpoint-signing seed; a device enabled before chains existed gets one
    /// now, under a storage lock so that nodes starting together agree on it.
    async fn chain_seed(kv: &SealedKv, path: &str) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if let Some(seed) = kv.get(&chain_key_path(path)).await? {
            return Ok(seed);
        }
        let lock = crate::storage::lock::HeldLock::acquire(kv.storage(), "audit/chain-key").await?;
        let seed = match kv.get(&chain_key_path(path)).await {
            Ok(Some(seed)) => Ok(seed),
            Ok(None) => {
                let seed = ChainKey::generate_seed();
                kv.put(&chain_key_path(path), &seed).await.map(|()| seed)
            }
            Err(e) => Err(e),
        };
        lock.release().await;
        Ok(seed?)
    }

    /// Re-read the devices after another node enabled or disabled one.
    pub async fn reload(&self) -> Result<()> {
        let devices = Self::read_devices(&self.kv, &self.node, &self.snapshot()).await?;
        *self.devices.write().unwrap_or_else(|p| p.into_inner()) = devices;
        Ok(())
    }

    /// True for the storage key that lists the devices.
    pub fn owns_key(key: &str) -> bool {
        key == DEVICES_KEY
    }

    fn snapshot(&self) -> Vec<Arc<Device>> {
        self.devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// True when at least one device is enabled.
    pub fn enabled(&self) -> bool {
        !self.snapshot().is_empty()
    }

    /// The devices' configurations.
    pub fn list(&self) -> Vec<DeviceConfig> {
        self.snapshot().iter().map(|d| d.config.clone()).collect()
    }

    /// The public key that verifies the checkpoints of the device at `path`.
    pub fn chain_key(&self, path: &str) -> Option<String> {
        self.snapshot()
            .iter()
            .find(|d| d.config.path == path)
            .map(|d| d.chain_key.clone())
    }

    /// A clean stop: every device writes its closing checkpoint and records its head (each
    /// waited for at most [`ACK_TIMEOUT`], together).
    pub async fn close(&self) {
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        let devices = self.snapshot();
        let closing = devices
            .iter()
            .map(|d| async move { (d, d.close(deadline).await) });
        for (d, closed) in futures_util::future::join_all(closing).await {
            if let Err(e) = closed {
                tracing::error!(audit.path = %d.config.path, error = %e, "audit device {} not closed cleanly: {e}", d.config.path);
            }
        }
    }

    async fn persist(&self) -> Result<()> {
        self.kv.put_json(DEVICES_KEY, &self.list()).await?;
        Ok(())
    }

    /// Enable a device at `config.path`; it must be able to write now.
    pub async fn enable(&self, config: DeviceConfig) -> Result<()> {
        if self.snapshot().iter().any(|d| d.config.path == config.path) {
            return Err(Error::invalid(format!(
                "path already in use: {}",
                config.path
            )));
        }
        let mut key = Zeroizing::new(vec![0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut key);
        let seed = ChainKey::generate_seed();
        // A new device starts new chains: heads left at this path by an earlier device are not
        // continued (they were signed by another key).
        heads::forget(&self.kv, &config.path).await?;
        let chain = DeviceChain {
            seed: seed.clone(),
            head: chain::ChainHead::genesis(&self.node),
            store: HeadStore::new(self.kv.clone(), &config.path, &self.node),
        };
        let device = Device::new(config, key.clone(), chain).map_err(Error::invalid)?;
        device.probe().await.map_err(Error::invalid)?;
        self.kv.put(&key_path(&device.config.path), &key).await?;
        self.kv
            .put(&chain_key_path(&device.config.path), &seed)
            .await?;
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(device));
        self.persist().await
    }

    /// Disable the device at `path` (absent is fine).
    pub async fn disable(&self, path: &str) -> Result<()> {
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d| d.config.path != path);
        self.kv.delete(&key_path(path)).await?;
        self.kv.delete(&chain_key_path(path)).await?;
        heads::forget(&self.kv, path).await?;
        self.persist().await
    }

    /// The HMAC a device would write for `input` (`sys/audit-hash`).
    pub fn hash(&self, path: &str, input: &str) -> Option<String> {
        self.snapshot()
            .iter()
            .find(|d| d.config.path == path)
            .map(|d| hash::hash(&d.key, input))
    }

    /// Write an entry built per device (hashes differ by key) and wait, at most [`ACK_TIMEOUT`],
    /// until the devices have written it. Fails when devices are enabled and none recorded it:
    /// the caller must then refuse the request.
    pub async fn log(&self, build: impl Fn(&[u8]) -> Value) -> Result<()> {
        self.start_log(build).await
    }

    /// [`AuditBroker::log`] with the entries built now and the waiting left to the returned
    /// future, which borrows nothing (for callers that cannot hold the event while waiting).
    pub fn start_log(
        &self,
        build: impl Fn(&[u8]) -> Value,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        let lines: Vec<(Arc<Device>, Value)> = self
            .snapshot()
            .into_iter()
            .map(|d| {
                let entry = build(&d.key);
                (d, entry)
            })
            .collect();
        async move {
            if lines.is_empty() {
                return Ok(());
            }
            let writes = lines.into_iter().map(|(d, line)| async move {
                let written = d.write(line, deadline).await;
                (d, written)
            });
            let outcomes = futures_util::future::join_all(writes).await;
            any_recorded(outcomes.iter().map(|(d, w)| (d, w.clone())))
        }
    }

    /// Queue an entry built per device, without waiting: for events no caller waits on. Fails
    /// when devices are enabled and none accepted it (every queue full or stopped).
    pub fn enqueue(&self, build: impl Fn(&[u8]) -> Value) -> Result<()> {
        let devices = self.snapshot();
        if devices.is_empty() {
            return Ok(());
        }
        any_recorded(devices.iter().map(|d| (d, d.enqueue(build(&d.key)))))
    }
}

/// Each device's outcome for one entry, failures logged: [`Error::AuditFailed`] when none took it.
fn any_recorded<'a>(
    outcomes: impl Iterator<Item = (&'a Arc<Device>, Result<(), String>)>,
) -> Result<()> {
    let mut recorded = 0;
    for (d, outcome) in outcomes {
        match outcome {
            Ok(()) => recorded += 1,
            Err(e) => {
                tracing::error!(audit.path = %d.config.path, error = %e, "audit device {} failed: {e}", d.config.path)
            }
        }
    }
    if recorded == 0 {
        return Err(Error::AuditFailed);
    }
    Ok(())
}

/// Lease events go to the audit log whether or not a request caused them.
pub struct AuditObserver {
    /// Where entries go.
    pub broker: Arc<AuditBroker>,
    /// This server's node id, recorded in each entry: with several servers on one storage, the
    /// trail says which one created or destroyed an account.
    pub node: String,
}

impl AuditObserver {
    /// The event's entry, naming this node.
    fn entry(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>) -> Value {
        let mut e = entry::lease_event(at, event);
        if let Some(obj) = e.as_object_mut() {
            obj.insert("node".into(), Value::String(self.node.clone()));
        }
        e
    }
}

impl LeaseObserver for AuditObserver {
    /// Queued, not waited for: the engine calls observers inline (holding the lease's lock), so a
    /// stalled device must not stall it. The device's writer records events in order. Only a
    /// destruction is waited for (below), and only up to the bound.
    fn on_event(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>) {
        let logged = self.broker.enqueue(|_key| self.entry(event, at));
        if let Err(e) = logged {
            tracing::error!(error = %e, event = event.name(), "lease event not recorded by any audit device");
        }
    }

    /// Written and waited for (at most [`ACK_TIMEOUT`]): the engine records a destruction
    /// before the row that would stop a retry from recording it again.
    fn on_event_recorded(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>) -> Option<Recording> {
        let name = event.name();
        let writing = self.broker.start_log(|_key| self.entry(event, at));
        Some(Box::pin(async move {
            if let Err(e) = writing.await {
                tracing::error!(error = %e, event = name, "lease event not recorded by any audit device");
            }
        }))
    }
}
