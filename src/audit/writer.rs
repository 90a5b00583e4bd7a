//! Each device's writer: one task (a thread, for sinks whose I/O blocks) owns the device's file
//! handle or socket and writes entries in the order they were queued. Callers never touch the
//! sink and hold no lock while it works: the request path queues an entry and waits a bounded
//! time for its acknowledgement; lease events are queued without waiting. A stalled device
//! therefore delays a request by at most the bound and never stalls a tokio worker.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Entries that may wait for one device before the queue counts as stalled.
const QUEUE_DEPTH: usize = 1024;

/// What a sink answers for one entry: written, or why not.
pub type Written = Result<(), String>;

/// One queued entry and, when the caller waits, where its outcome goes.
struct Job {
    line: String,
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

/// The caller's end of a device's queue; dropping it ends the writer once the queue is drained.
pub struct Writer {
    name: String,
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Start a thread that owns `sink`.
    pub fn on_thread(name: &str, mut sink: impl BlockingSink) -> Result<Self, String> {
        let (queue, mut jobs) = mpsc::channel::<Job>(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                while let Some(job) = jobs.blocking_recv() {
                    let written = sink.write_entry(&with_newline(&job.line));
                    finish(job, written);
                }
            })
            .map_err(|e| format!("cannot start the writer of audit device {name}: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            queue,
        })
    }

    /// Start a tokio task that owns `sink` (sockets: their I/O is async).
    pub fn on_task(name: &str, mut sink: impl AsyncSink) -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("audit device {name} needs a runtime: {e}"))?;
        let (queue, mut jobs) = mpsc::channel::<Job>(QUEUE_DEPTH);
        runtime.spawn(async move {
            while let Some(job) = jobs.recv().await {
                let written = sink.write_entry(&with_newline(&job.line)).await;
                finish(job, written);
            }
        });
        Ok(Self {
            name: name.to_owned(),
            queue,
        })
    }

    /// Queue `line` and wait until the device has written it, or `deadline` passes.
    pub async fn write(&self, line: String, deadline: Instant) -> Written {
        let (ack, written) = oneshot::channel();
        let job = Job {
            line,
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

    /// Queue `line` without waiting (lease events, which no caller waits for). Fails only when
    /// the device's queue is full or its writer is gone.
    pub fn enqueue(&self, line: String) -> Written {
        self.queue
            .try_send(Job { line, ack: None })
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

/// One buffer per entry, so each is written in one piece.
fn with_newline(line: &str) -> Vec<u8> {
    let mut entry = Vec::with_capacity(line.len() + 1);
    entry.extend_from_slice(line.as_bytes());
    entry.push(b'\n');
    entry
}

/// Tell a waiting caller the outcome; an entry nobody waits for is only logged when it failed.
fn finish(job: Job, written: Written) {
    match job.ack {
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
