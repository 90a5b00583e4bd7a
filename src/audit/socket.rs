//! The `socket` device's sink: one TCP connection, owned by the device's task, with a timeout on
//! every connect and write. A failed write drops the connection (the next entry reconnects); a
//! failed connect makes entries fail at once for a short pause, so a dead collector costs each
//! entry nothing rather than a connect timeout apiece.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use super::writer::{AsyncSink, Written};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one entry's write may take (a collector that stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connect, entries fail at once for this long before the next attempt.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Writes entries to a TCP address.
pub struct SocketSink {
    address: String,
    stream: Option<TcpStream>,
    /// No connection attempt before this instant (the last one failed).
    retry_at: Option<Instant>,
}

impl SocketSink {
    /// A sink for `address` (`host:port`); it connects at the first entry.
    pub fn new(address: String) -> Self {
        Self {
            address,
            stream: None,
            retry_at: None,
        }
    }

    async fn connected(&mut self) -> Result<&mut TcpStream, String> {
        let address = &self.address;
        if self.stream.is_none() {
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(format!(
                    "audit socket {address} is unreachable; retrying shortly"
                ));
            }
            let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(self.connect_failed(e.to_string())),
                Err(_) => {
                    return Err(self.connect_failed(format!(
                        "no answer within {}s",
                        CONNECT_TIMEOUT.as_secs()
                    )))
                }
            };
            self.retry_at = None;
            self.stream = Some(stream);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| format!("audit socket {address} is not connected"))
    }

    fn connect_failed(&mut self, why: String) -> String {
        self.retry_at = Some(Instant::now() + RECONNECT_PAUSE);
        format!("cannot connect audit socket {}: {why}", self.address)
    }
}

impl AsyncSink for SocketSink {
    async fn write_entry(&mut self, entry: &[u8]) -> Written {
        let stream = self.connected().await?;
        let written = match timeout(WRITE_TIMEOUT, stream.write_all(entry)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("not written within {}s", WRITE_TIMEOUT.as_secs())),
        };
        written.map_err(|why| {
            // Part of the entry may be on the wire: start the next one on a fresh connection.
            self.stream = None;
            format!("cannot write audit socket {}: {why}", self.address)
        })
    }
}
