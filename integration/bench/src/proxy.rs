//! A counting TCP proxy between leasehold nodes and their storage PostgreSQL: it forwards bytes
//! unchanged and counts, over all its connections, the round trips (a client→server burst
//! answered by the server: each switch from client-sending to server-sending), the bytes each way
//! and the connections opened.
//!
//! A round trip so counted is one wait on the network: pipelined statements sent before the
//! first answer count once, and server-initiated messages (NOTIFY on the change feed) arriving
//! after an answer count none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Totals since the proxy started.
#[derive(Debug, Default)]
struct Counters {
    round_trips: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    connections: AtomicU64,
}

/// A snapshot of the counters; subtract two for a window.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub round_trips: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub connections: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            round_trips: self.round_trips.saturating_sub(o.round_trips),
            bytes_up: self.bytes_up.saturating_sub(o.bytes_up),
            bytes_down: self.bytes_down.saturating_sub(o.bytes_down),
            connections: self.connections.saturating_sub(o.connections),
        }
    }
}

/// The proxy; it stops accepting when dropped (open connections end with their peers).
pub struct Proxy {
    pub port: u16,
    counters: Arc<Counters>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listen on a free port of 127.0.0.1 and forward every connection to 127.0.0.1:`upstream`.
    pub async fn start(upstream: u16) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        c.connections.fetch_add(1, Ordering::Relaxed);
                        forward(client, server, c).await;
                    }
                });
            }
        });
        Ok(Self {
            port,
            counters,
            accept,
        })
    }

    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        Counts {
            round_trips: c.round_trips.load(Ordering::Relaxed),
            bytes_up: c.bytes_up.load(Ordering::Relaxed),
            bytes_down: c.bytes_down.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copy both ways until either side closes.
async fn forward(client: TcpStream, server: TcpStream, counters: Arc<Counters>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // True while the client spoke last. Set before the bytes go on, so an answer can never be
    // read before the flag says its request was sent.
    let client_spoke = Arc::new(AtomicBool::new(false));
    let up = {
        let (counters, client_spoke) = (counters.clone(), client_spoke.clone());
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = cr.read(&mut buf).await {
                let Some(bytes) = buf.get(..n).filter(|b| !b.is_empty()) else {
                    break;
                };
                client_spoke.store(true, Ordering::SeqCst);
                counters.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                if sw.write_all(bytes).await.is_err() {
                    break;
                }
            }
            let _ = sw.shutdown().await;
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = sr.read(&mut buf).await {
            let Some(bytes) = buf.get(..n).filter(|b| !b.is_empty()) else {
                break;
            };
            if client_spoke.swap(false, Ordering::SeqCst) {
                counters.round_trips.fetch_add(1, Ordering::Relaxed);
            }
            counters.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
            if cw.write_all(bytes).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers every read with one byte, and a client that speaks through the
    /// proxy: a request and its answer is one round trip; two requests sent before the answer
    /// to the first (pipelined) are one more, however the answers arrive.
    #[tokio::test]
    async fn counts_turns_not_messages() -> Result<()> {
        let upstream = TcpListener::bind("127.0.0.1:0").await?;
        let port = upstream.local_addr()?.port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = upstream.accept().await {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(b"!").await.is_err() {
                        break;
                    }
                }
            }
        });
        let proxy = Proxy::start(port).await?;
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).await?;
        let mut answer = [0u8; 1];
        c.write_all(b"one").await?;
        c.read_exact(&mut answer).await?;
        assert_eq!(proxy.counts().round_trips, 1);
        c.write_all(b"two+three").await?;
        c.read_exact(&mut answer).await?;
        let counts = proxy.counts();
        assert_eq!(counts.round_trips, 2);
        assert_eq!(counts.bytes_up, 12);
        assert_eq!(counts.connections, 1);
        Ok(())
    }
}
