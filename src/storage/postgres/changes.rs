//! The change feed: every `kv` write fires `pg_notify`; one LISTEN connection per node turns
//! other nodes' notifications into [`StorageChange`]s.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;

use super::connect::pg_tls::MakeRustlsConnect;
use super::{pg_err, PostgresStorage};
use crate::storage::{ChangeFeed, StorageChange, StorageError};

/// The notification channel of `kv` writes.
const CHANNEL: &str = "leasehold_kv";

/// Key payload that stands for "too long to send; reload everything" (NOTIFY's limit is 8000 bytes).
const RESYNC_PAYLOAD: &str = "*";

/// Pause between attempts to bring the LISTEN connection back.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

pub(super) type Notifications =
    tokio::sync::mpsc::UnboundedReceiver<Option<tokio_postgres::Notification>>;

/// Open a connection that LISTENs on the kv channel. Its notifications arrive on the returned
/// receiver; `None` (or the channel closing) means the connection ended.
pub(super) async fn listen(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
) -> Result<(tokio_postgres::Client, Notifications), StorageError> {
    let (client, mut connection) = config.connect(tls.clone()).await.map_err(pg_err)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(Some(n)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %pg_err(e), "storage change feed connection failed");
                    break;
                }
            }
        }
        let _ = tx.send(None);
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(pg_err)?;
    Ok((client, rx))
}

/// Forward other processes' kv notifications as [`StorageChange`]s, for as long as the storage
/// lives; after the connection drops, reconnect and send [`StorageChange::Resync`], since
/// whatever changed in between was missed.
pub(super) async fn follow(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    origin: String,
    changes: broadcast::Sender<StorageChange>,
    first: (tokio_postgres::Client, Notifications),
) {
    let mut current = Some(first);
    loop {
        if let Some((_client, mut rx)) = current.take() {
            while let Some(Some(n)) = rx.recv().await {
                let (from, key) = n.payload().split_once(' ').unwrap_or(("", n.payload()));
                if from == origin {
                    continue;
                }
                let change = if key == RESYNC_PAYLOAD {
                    StorageChange::Resync
                } else {
                    StorageChange::Key(key.to_owned())
                };
                // No receivers is fine: nobody caches yet.
                let _ = changes.send(change);
            }
            let _ = changes.send(StorageChange::Interrupted);
        }
        tokio::time::sleep(LISTEN_RETRY).await;
        match listen(&config, &tls).await {
            Ok(next) => {
                tracing::info!("storage change feed reconnected");
                let _ = changes.send(StorageChange::Resync);
                current = Some(next);
            }
            Err(e) => tracing::warn!(error = %e, "storage change feed cannot reconnect"),
        }
    }
}

impl ChangeFeed for PostgresStorage {
    fn changes(&self) -> Option<broadcast::Receiver<StorageChange>> {
        Some(self.changes.subscribe())
    }
}
