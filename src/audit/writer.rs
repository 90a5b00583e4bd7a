//! Each device's writer: one task (on a thread of its own, for sinks whose I/O blocks) owns the
//! device's file handle or socket and the device's chain, and writes entries in the order they
//! were queued, each linked to the one before ([`super::chained`]). Callers never touch the sink
//! and hold no lock while it works: the request path queues an entry and waits a bounded time
//! for its acknowledgement; lease events are queued without waiting. A stalled device therefore
//! delays a request by at most the bound and never stalls a tokio worker. Linking and hashing
//! happen here, off the request path.

use std::future::Future;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::chain::ChainHead;
use super::chained::{Chained, Item};

/// Entries that may wait for one device before the queue counts as stalled.
const QUEUE_DEPTH: usize = 1024;

/// What a sink answers for one entry: written, or why not.
pub type Written = Result<(), String>;

/// One queued line and, when the caller waits, where its outcome goes.
struct Job {
    item: Item,
    ack: Option<oneshot::Sender<Written>>,
}

/// A sink whose I/O is async (a socket): it gets a tokio task of its own.
pub trait AsyncSink: Send + 'static {
    /// Write one entry (a JSON line with its newline) whole, within the sink's own timeouts.
    fn write_entry(&mut self, entry: &[u8]) -> impl Future<Output = Written> + Send;
}

/// A sink whose writes block (files, stdout): it gets a thread of its own.
pub trait BlockingSink: Send + 'static {
    /// Write one entry (a JSON line with its newline) whole.
    fn write_entry(&mut self, entry: &[u8]) -> Written;
}

/// A blocking sink driven by the same loop as an async one, on its own thread: its write
/// blocks that thread only.
struct OnThread<S>(S);

impl<S: BlockingSink> AsyncSink for OnThread<S> {
    async fn write_entry(&mut self, entry: &[u8]) -> Written {
        self.0.write_entry(entry)
    }
}

/// The caller's end of a device's queue; dropping it ends the writer once the queue is drained.
pub struct Writer {
    name: String,
    queue: mpsc::Sender<Job>,
    head: watch::Receiver<ChainHead>,
}

impl Writer {
    /// Start a thread that owns `sink` and `chain`.
    pub fn on_thread(
        name: &str,
        sink: impl BlockingSink,
        chain: (Chained, watch::Receiver<ChainHead>),
    ) -> Result<Self, String> {
        Self::start(name, chain, |runtime, jobs, chained| {
            let runtime = runtime.clone();
            std::thread::Builder::new()
                .name("audit-writer".into())
                .spawn(move || runtime.block_on(run(jobs, OnThread(sink), chained)))
                .map(drop)
                .map_err(|e| format!("cannot start the writer of audit device {name}: {e}"))
        })
    }

    /// Start a tokio task that owns `sink` (sockets: their I/O is async) and `chain`.
    pub fn on_task(
        name: &str,
        sink: impl AsyncSink,
        chain: (Chained, watch::Receiver<ChainHead>),
    ) -> Result<Self, String> {
        Self::start(name, chain, |runtime, jobs, chained| {
            runtime.spawn(run(jobs, sink, chained));
            Ok(())
        })
    }

    /// Make the queue, hand its far end and the chain to `spawn` (which starts the loop), and
    /// start a ticker asking for a timed checkpoint every interval (the writer skips it when
    /// nothing new needs covering). The ticker holds no strong sender, so dropping the writer
    /// still ends the queue.
    fn start(
        name: &str,
        (chained, head): (Chained, watch::Receiver<ChainHead>),
        spawn: impl FnOnce(&tokio::runtime::Handle, mpsc::Receiver<Job>, Chained) -> Result<(), String>,
    ) -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("audit device {name} needs a runtime: {e}"))?;
        let (queue, jobs) = mpsc::channel::<Job>(QUEUE_DEPTH);
        let interval = chained.interval();
        spawn(&runtime, jobs, chained)?;
        let weak = queue.downgrade();
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
            loop {
                ticks.tick().await;
                let Some(queue) = weak.upgrade() else { return };
                // A full queue will be followed by entries whose count brings a checkpoint.
                let _ = queue.try_send(Job {
                    item: Item::Checkpoint { closing: false },
                    ack: None,
                });
            }
        });
        Ok(Self {
            name: name.to_owned(),
            queue,
            head,
        })
    }

    /// Follows the head of this device's chain as lines are written.
    pub fn head(&self) -> watch::Receiver<ChainHead> {
        self.head.clone()
    }

    /// Queue `entry` and wait until the device has written it, or `deadline` passes.
    pub async fn write(&self, entry: Value, deadline: Instant) -> Written {
        self.send_and_wait(Item::Entry(entry), deadline).await
    }

    /// Write a closing checkpoint (a clean stop) and wait for it, at most until `deadline`.
    pub async fn close(&self, deadline: Instant) -> Written {
        self.send_and_wait(Item::Checkpoint { closing: true }, deadline)
            .await
    }

    async fn send_and_wait(&self, item: Item, deadline: Instant) -> Written {
        let (ack, written) = oneshot::channel();
        let job = Job {
            item,
            ack: Some(ack),
        };
        match tokio::time::timeout_at(deadline, self.queue.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(self.stopped()),
            Err(_) => return Err(format!("audit device {} is not keeping up", self.name)),
        }
        match tokio::time::timeout_at(deadline, written).await {
            Ok(Ok(written)) => written,
            Ok(Err(_)) => Err(self.stopped()),
            Err(_) => Err(format!(
                "audit device {} did not write the entry in time",
                self.name
            )),
        }
    }

    /// Queue `entry` without waiting (lease events, which no caller waits for). Fails only when
    /// the device's queue is full or its writer is gone.
    pub fn enqueue(&self, entry: Value) -> Written {
        self.queue
            .try_send(Job {
                item: Item::Entry(entry),
                ack: None,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    format!("audit device {} is not keeping up", self.name)
                }
                mpsc::error::TrySendError::Closed(_) => self.stopped(),
            })
    }

    fn stopped(&self) -> String {
        format!("the writer of audit device {} has stopped", self.name)
    }
}

/// The writer's loop: each job's line, then the checkpoint it made due, in queue order.
async fn run(mut jobs: mpsc::Receiver<Job>, mut sink: impl AsyncSink, mut chain: Chained) {
    while let Some(Job { item, mut ack }) = jobs.recv().await {
        let mut next = match item {
            Item::Checkpoint { closing } if !chain.wants(closing) => None,
            item => Some(item),
        };
        while let Some(item) = next.take() {
            let written = match chain.prepare(item) {
                Ok(pending) => {
                    let written = sink.write_entry(&pending.line).await;
                    if written.is_ok() {
                        chain.written(pending);
                    }
                    written
                }
                Err(e) => Err(format!("audit entry cannot be linked: {e}")),
            };
            // A failed write leaves the count where it was: no checkpoint is retried in a loop
            // against a sink that is down; the next entry brings it due again.
            if written.is_ok() {
                next = chain.due();
            }
            finish(ack.take(), written);
        }
        finish(ack, Ok(()));
    }
}

/// Tell a waiting caller the outcome; an entry nobody waits for is only logged when it failed.
fn finish(ack: Option<oneshot::Sender<Written>>, written: Written) {
    match ack {
        // The caller may have stopped waiting; the entry was still written (or not) in order.
        Some(ack) => {
            let _ = ack.send(written);
        }
        None => {
            if let Err(error) = written {
                tracing::error!(error = %error, "audit entry not written: {error}");
            }
        }
    }
}
