//! Audit devices: where entries go. `file` appends JSON lines to a path, `socket` writes them to a
//! TCP address, `stdout` prints them. Each device's sink is owned by its writer; a write that
//! fails or does not finish in time is reported to the broker, which refuses the request when no
//! device recorded it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::chain::ChainHead;
use super::chained::Chained;
use super::checkpoint::{ChainKey, CheckpointPolicy};
use super::file::{open_append, FileSink, StdoutSink};
use super::heads::HeadStore;
use super::socket::SocketSink;
use super::writer::Writer;

/// What is persisted about a device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceConfig {
    /// Mount-like path (`file/`).
    pub path: String,
    /// `file`, `socket` or `stdout`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    pub description: String,
    /// Type options (`file_path`, `address`).
    pub options: Map<String, Value>,
}

/// What a device needs for its chain: the seed of its signing key, where this node's chain
/// starts, and where its head is recorded.
pub struct DeviceChain {
    /// The Ed25519 seed (sealed in storage).
    pub seed: Zeroizing<Vec<u8>>,
    /// This node's chain so far.
    pub head: ChainHead,
    /// Records the head as lines are written.
    pub store: std::sync::Arc<HeadStore>,
}

/// A live device: its configuration, keys, and the writer that owns its sink and chain.
pub struct Device {
    /// Its configuration.
    pub config: DeviceConfig,
    /// HMAC key for this device's hashes.
    pub key: Zeroizing<Vec<u8>>,
    /// The public half of the key that signs its checkpoints (`ed25519:<base64>`).
    pub chain_key: String,
    /// The file to check at enable time (file devices only).
    file: Option<PathBuf>,
    writer: Writer,
    heads: std::sync::Arc<HeadStore>,
}

impl Device {
    /// Build a device, validating its options (errors name the option), and start its writer
    /// and the task that records its chain's head.
    pub fn new(
        config: DeviceConfig,
        key: Zeroizing<Vec<u8>>,
        chain: DeviceChain,
    ) -> Result<Self, String> {
        let signer = ChainKey::from_seed(&chain.seed)?;
        let chain_key = signer.public();
        let policy = CheckpointPolicy::from_options(&config.options)?;
        let chained = Chained::new(chain.head, signer, policy);
        let option = |name: &str| {
            config
                .options
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let name = config.path.as_str();
        let (file, writer) = match config.kind.as_str() {
            "file" => {
                let path = option("file_path")
                    .or_else(|| option("path"))
                    .ok_or("file_path is required for a file audit device")?;
                if path == "stdout" {
                    (None, Writer::on_thread(name, StdoutSink, chained)?)
                } else {
                    let path = PathBuf::from(path);
                    let writer = Writer::on_thread(name, FileSink::new(path.clone()), chained)?;
                    (Some(path), writer)
                }
            }
            "socket" => {
                let address =
                    option("address").ok_or("address is required for a socket audit device")?;
                if option("socket_type").is_some_and(|t| t != "tcp") {
                    return Err("only socket_type \"tcp\" is supported".into());
                }
                (
                    None,
                    Writer::on_task(name, SocketSink::new(address), chained)?,
                )
            }
            "stdout" => (None, Writer::on_thread(name, StdoutSink, chained)?),
            other => {
                return Err(format!(
                    "unknown audit device type {other:?}: use file, socket or stdout"
                ))
            }
        };
        chain.store.spawn_recorder(writer.head());
        Ok(Self {
            config,
            key,
            chain_key,
            file,
            writer,
            heads: chain.store,
        })
    }

    /// Check the device can write (at enable time): the file can be opened for append.
    pub async fn probe(&self) -> Result<(), String> {
        let Some(path) = self.file.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || open_append(&path).map(drop))
            .await
            .map_err(|e| format!("audit file check did not finish: {e}"))?
    }

    /// Write one entry and wait until it is written or `deadline` passes.
    pub async fn write(&self, entry: Value, deadline: Instant) -> Result<(), String> {
        self.writer.write(entry, deadline).await
    }

    /// Queue one entry without waiting for it.
    pub fn enqueue(&self, entry: Value) -> Result<(), String> {
        self.writer.enqueue(entry)
    }

    /// A clean stop: write the closing checkpoint (waiting at most until `deadline`), then
    /// record the head it leaves, so the next start continues this chain.
    pub async fn close(&self, deadline: Instant) -> Result<(), String> {
        self.writer.close(deadline).await?;
        self.heads
            .save_latest(&self.writer.head())
            .await
            .map_err(|e| format!("audit chain head not recorded: {e}"))
    }
}
