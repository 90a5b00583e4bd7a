//! The HTTP listener: our own accept loop over TCP (optionally TLS) so that a slow or idle client
//! cannot hold a connection, and so many connections cannot exhaust the process.
//!
//! Each connection is in one of three phases, and a watchdog closes it when its phase's time
//! runs out:
//! - reading a request head (from the accept for a new connection, or from the first byte of a
//!   later request on a kept-alive one): `http_read_header_timeout`, TLS handshake included;
//! - idle between requests: `http_idle_timeout`;
//! - busy in the handler: bounded there (`http_read_timeout` for the body, `max_request_duration`
//!   for the whole request; see `crate::http`).
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a kept-alive connection waits
//! for its next request, which would make the idle timeout meaningless.
//!
//! Only HTTP/1.1 is served (TLS offers ALPN `http/1.1` only): every Vault client speaks it, and
//! the phase tracking above is defined for it.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::config::ListenerLimits;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);

/// A TLS acceptor from PEM files, loaded (and so checked) before anything else starts.
pub fn load_tls(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    // One crypto provider for the process; an error means one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("listener.tls_cert_file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "listener.tls_cert_file {}: no certificate in the file",
            cert.display()
        );
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("listener.tls_key_file {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .with_context(|| {
            format!(
                "TLS certificate {} and key {} do not make a usable pair",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Bind the listen address; the error names it (a busy port is the usual cause).
pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// Serve `app` on `tcp` until `stop` resolves; then stop accepting, let in-flight requests finish
/// (up to 30 s) and return.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ListenerLimits,
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (shutdown, shutdown_rx) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        // At the cap, stop accepting: further clients wait in the kernel's backlog until a
        // connection closes, rather than each costing a task and buffers.
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            _ = &mut stop => break,
            accepted = tcp.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (tls, app, rx) = (tls.clone(), app.clone(), shutdown_rx.clone());
        tokio::spawn(async move {
            connection(stream, remote, tls, limits, app, rx).await;
            drop(permit);
        });
    }
    drop(tcp);
    let _ = shutdown.send(true);
    // Every connection holds a slot: all slots back means all connections are done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(all))
        .await
        .is_err()
    {
        warn!(
            "connections still open {} s after shutdown; closing them",
            DRAIN.as_secs()
        );
    }
    Ok(())
}

/// Where a connection is; see the module header.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Head { since: Instant },
    Busy,
    Idle { since: Instant },
}

/// A connection's phase, shared by the IO wrapper, the service and the watchdog.
struct Tracker {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Tracker {
    fn set(&self, next: impl FnOnce(Phase) -> Phase) {
        if let Ok(mut p) = self.phase.lock() {
            *p = next(*p);
        }
        self.changed.notify_one();
    }

    /// When the current phase runs out; `None` while the handler has the request.
    fn deadline(&self, limits: &ListenerLimits) -> Option<Instant> {
        match self.phase.lock().map(|p| *p) {
            Ok(Phase::Head { since }) => Some(since + limits.header_read_timeout),
            Ok(Phase::Idle { since }) => Some(since + limits.idle_timeout),
            Ok(Phase::Busy) => None,
            // A poisoned lock cannot happen (nothing panics while holding it); close if it did.
            Err(_) => Some(Instant::now()),
        }
    }
}

/// Serve one connection until it ends, its phase times out, or shutdown drains it.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ListenerLimits,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let tracker = Arc::new(Tracker {
        phase: Mutex::new(Phase::Head {
            since: Instant::now(),
        }),
        changed: Notify::new(),
    });
    let io: Box<dyn Io> = match tls {
        None => Box::new(stream),
        Some(acceptor) => {
            let mut stream = stream;
            // One allowance for the first byte and the handshake together.
            let deadline = Instant::now() + limits.header_read_timeout;
            match tokio::time::timeout_at(deadline, first_byte(&stream)).await {
                Ok(Some(b)) if b.is_ascii_uppercase() => {
                    plain_http_on_tls(&mut stream, remote).await;
                    return;
                }
                Ok(Some(_)) => {}
                // Closed before a byte, or silent past the header timeout.
                Ok(None) | Err(_) => return,
            }
            match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                Ok(Ok(s)) => Box::new(s),
                Ok(Err(e)) => {
                    debug!(%remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%remote, "TLS handshake timed out");
                    return;
                }
            }
        }
    };
    let io = TokioIo::new(Tracked {
        inner: io,
        tracker: tracker.clone(),
    });
    let service = {
        let tracker = tracker.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let (app, tracker) = (app.clone(), tracker.clone());
            async move {
                tracker.set(|_| Phase::Busy);
                req.extensions_mut().insert(ConnectInfo(remote));
                req.extensions_mut().insert(limits);
                let resp = app.oneshot(req).await;
                tracker.set(|_| Phase::Idle {
                    since: Instant::now(),
                });
                resp
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = tracker.deadline(&limits);
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tracker.changed.notified() => {}
            _ = expiry => {
                if tracker.deadline(&limits).is_some_and(|at| at <= Instant::now()) {
                    debug!(%remote, "closing a connection whose client was too slow or idle");
                    return;
                }
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The connection's first byte, left in place for the TLS handshake to read; `None` if the
/// client closed first.
async fn first_byte(stream: &TcpStream) -> Option<u8> {
    let mut b = [0u8; 1];
    match stream.peek(&mut b).await {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

/// The hint a plain-HTTP client gets from a TLS listener.
const PLAIN_HTTP_HINT: &str = "Client sent an HTTP request to an HTTPS server.\n";

/// A TLS handshake begins with a record of type 22 (0x16); a request line begins with its method
/// in capitals. Such a client meant `https://`: it gets a 400 it can read, in plain HTTP, saying
/// so (as Go's and so Vault's listeners answer), instead of a closed connection or TLS garbage.
async fn plain_http_on_tls(stream: &mut TcpStream, remote: SocketAddr) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    debug!(%remote, "plain HTTP on the TLS listener; answering 400");
    // Take in what has arrived of the request (not waiting for more), so that closing the socket
    // does not reset it under the client before the answer is read.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut sink)).await;
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{PLAIN_HTTP_HINT}",
        PLAIN_HTTP_HINT.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// What a connection reads and writes: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The connection's stream, noting the first byte of a request that arrives while idle.
struct Tracked {
    inner: Box<dyn Io>,
    tracker: Arc<Tracker>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            // The next request has begun: its head now has the header timeout.
            self.tracker.set(|p| match p {
                Phase::Idle { .. } => Phase::Head {
                    since: Instant::now(),
                },
                other => other,
            });
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
