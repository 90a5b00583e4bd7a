//! Audit devices: where entries go. `file` appends JSON lines to a path, `socket` writes them to a
//! TCP address, `stdout` prints them. A write that fails is reported to the broker, which refuses
//! the request when no device could record it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

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

enum Sink {
    File(PathBuf),
    Socket(String, Mutex<Option<std::net::TcpStream>>),
    Stdout,
}

/// A live device.
pub struct Device {
    /// Its configuration.
    pub config: DeviceConfig,
    /// HMAC key for this device's hashes.
    pub key: Zeroizing<Vec<u8>>,
    sink: Sink,
}

impl Device {
    /// Build a device, validating its options; errors name the option.
    pub fn new(config: DeviceConfig, key: Zeroizing<Vec<u8>>) -> Result<Self, String> {
        let option = |name: &str| {
            config
                .options
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let sink = match config.kind.as_str() {
            "file" => {
                let path = option("file_path")
                    .or_else(|| option("path"))
                    .ok_or("file_path is required for a file audit device")?;
                if path == "stdout" {
                    Sink::Stdout
                } else {
                    Sink::File(PathBuf::from(path))
                }
            }
            "socket" => {
                let address =
                    option("address").ok_or("address is required for a socket audit device")?;
                if option("socket_type").is_some_and(|t| t != "tcp") {
                    return Err("only socket_type \"tcp\" is supported".into());
                }
                Sink::Socket(address, Mutex::new(None))
            }
            "stdout" => Sink::Stdout,
            other => {
                return Err(format!(
                    "unknown audit device type {other:?}: use file, socket or stdout"
                ))
            }
        };
        Ok(Self { config, key, sink })
    }

    /// Check the device can write (at enable time): the file can be opened for append.
    pub fn probe(&self) -> Result<(), String> {
        match &self.sink {
            Sink::File(path) => open_append(path).map(drop),
            _ => Ok(()),
        }
    }

    /// Write one entry as a JSON line.
    pub fn write(&self, line: &str) -> Result<(), String> {
        match &self.sink {
            Sink::File(path) => {
                let mut f = open_append(path)?;
                // One write per entry: O_APPEND keeps it whole even when several threads or
                // several servers on one host append to the same file.
                let mut entry = Vec::with_capacity(line.len() + 1);
                entry.extend_from_slice(line.as_bytes());
                entry.push(b'\n');
                f.write_all(&entry)
                    .and_then(|_| f.flush())
                    .map_err(|e| format!("cannot write audit file {}: {e}", path.display()))
            }
            Sink::Socket(address, stream) => {
                let mut guard = stream.lock().unwrap_or_else(|p| p.into_inner());
                if guard.is_none() {
                    let s = std::net::TcpStream::connect(address)
                        .map_err(|e| format!("cannot connect audit socket {address}: {e}"))?;
                    *guard = Some(s);
                }
                let result = match guard.as_mut() {
                    Some(s) => s
                        .write_all(format!("{line}\n").as_bytes())
                        .map_err(|e| format!("cannot write audit socket {address}: {e}")),
                    None => Err("audit socket not connected".into()),
                };
                if result.is_err() {
                    // Reconnect on the next entry.
                    *guard = None;
                }
                result
            }
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")
                    .map_err(|e| format!("cannot write audit entry to stdout: {e}"))
            }
        }
    }
}

/// Opened per entry: a rotated or deleted file is recreated, and a file made unwritable is
/// noticed at once (fail closed) rather than written through a stale handle. A file we create is
/// 0600 from its first byte: the audit trail names accounts, accessors and request paths, which
/// no other local user should read (an existing file keeps the mode its operator gave it).
fn open_append(path: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open audit file {}: {e}", path.display()))
}
