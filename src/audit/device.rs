//! Audit devices: where entries go. `file` appends JSON lines to a path, `socket` writes them to a
//! TCP address, `stdout` prints them. Each device's sink is owned by its writer; a write that
//! fails or does not finish in time is reported to the broker, which refuses the request when no
//! device recorded it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::file::{open_append, FileSink, StdoutSink};
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

/// A live device: its configuration, key, and the writer that owns its sink.
pub struct Device {
    /// Its configuration.
    pub config: DeviceConfig,
    /// HMAC key for this device's hashes.
    pub key: Zeroizing<Vec<u8>>,
    /// The file to check at enable time (file devices only).
    file: Option<PathBuf>,
    writer: Writer,
}

impl Device {
    /// Build a device, validating its options (errors name the option), and start its writer.
    pub fn new(config: DeviceConfig, key: Zeroizing<Vec<u8>>) -> Result<Self, String> {
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
                    (None, Writer::on_thread(name, StdoutSink)?)
                } else {
                    let path = PathBuf::from(path);
                    let writer = Writer::on_thread(name, FileSink::new(path.clone()))?;
                    (Some(path), writer)
                }
            }
            "socket" => {
                let address =
                    option("address").ok_or("address is required for a socket audit device")?;
                if option("socket_type").is_some_and(|t| t != "tcp") {
                    return Err("only socket_type \"tcp\" is supported".into());
                }
                (None, Writer::on_task(name, SocketSink::new(address))?)
            }
            "stdout" => (None, Writer::on_thread(name, StdoutSink)?),
            other => {
                return Err(format!(
                    "unknown audit device type {other:?}: use file, socket or stdout"
                ))
            }
        };
        Ok(Self {
            config,
            key,
            file,
            writer,
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

    /// Write one entry (a JSON line) and wait until it is written or `deadline` passes.
    pub async fn write(&self, line: String, deadline: Instant) -> Result<(), String> {
        self.writer.write(line, deadline).await
    }

    /// Queue one entry without waiting for it.
    pub fn enqueue(&self, line: String) -> Result<(), String> {
        self.writer.enqueue(line)
    }
}
