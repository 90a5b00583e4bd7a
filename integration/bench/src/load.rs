//! Closed-loop load: `clients` tasks each run one operation after another until the round ends,
//! and every latency is kept. Rounds of two contenders alternate ([`alternate`]) so a noisy
//! machine slows both alike.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cpu_split::{CpuSplit, Meter};

/// What one or more rounds of one contender measured.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    /// Latency of each successful operation.
    pub latencies: Vec<Duration>,
    /// Operations that failed.
    pub errors: u64,
    /// Wall time spent in rounds.
    pub elapsed: Duration,
    /// The first error's text, to show why.
    pub first_error: Option<String>,
}

impl Sample {
    pub fn merge(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Operations per second, mean latency and percentiles.
    pub fn stats(&self) -> Stats {
        let mut ms: Vec<f64> = self
            .latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        ms.sort_by(f64::total_cmp);
        let pick = |q: f64| -> f64 {
            if ms.is_empty() {
                return 0.0;
            }
            let i = ((ms.len() as f64 - 1.0) * q).round() as usize;
            ms.get(i).copied().unwrap_or(0.0)
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        Stats {
            ops: ms.len() as u64,
            errors: self.errors,
            per_sec: ms.len() as f64 / secs,
            mean_ms: if ms.is_empty() {
                0.0
            } else {
                ms.iter().sum::<f64>() / ms.len() as f64
            },
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Summary of a [`Sample`].
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub ops: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One round: `clients` tasks calling `op(client, n)` back to back for `duration`.
pub async fn round<F, Fut>(clients: usize, duration: Duration, op: Arc<F>) -> Sample
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut sample = Sample::default();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match op(c, n).await {
                        Ok(()) => sample.latencies.push(t.elapsed()),
                        Err(e) => {
                            sample.errors += 1;
                            if sample.first_error.is_none() {
                                sample.first_error = Some(format!("{e:#}"));
                            }
                        }
                    }
                    n += 1;
                }
                sample
            })
        })
        .collect();
    let mut total = Sample::default();
    for t in tasks {
        if let Ok(s) = t.await {
            total.merge(s);
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// `rounds` rounds of `a` and of `b`, alternating (a, b, b, a, a, b ...: each goes first
/// equally often), merged per contender.
pub async fn alternate<FA, FutA, FB, FutB>(
    rounds: usize,
    clients: usize,
    duration: Duration,
    a: Arc<FA>,
    b: Arc<FB>,
) -> (Sample, Sample)
where
    FA: Fn(usize, u64) -> FutA + Send + Sync + 'static,
    FutA: Future<Output = anyhow::Result<()>> + Send + 'static,
    FB: Fn(usize, u64) -> FutB + Send + Sync + 'static,
    FutB: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (sa, sb, _) = alternate_metered(rounds, clients, duration, a, b, None).await;
    (sa, sb)
}

/// [`alternate`], with each contender's rounds also measured by `meter` (whose CPU they
/// cost): the third value holds `a`'s and `b`'s [`CpuSplit`], zero without a meter. A round
/// whose counters cannot be read is left out of the split.
pub async fn alternate_metered<FA, FutA, FB, FutB>(
    rounds: usize,
    clients: usize,
    duration: Duration,
    a: Arc<FA>,
    b: Arc<FB>,
    meter: Option<&Meter>,
) -> (Sample, Sample, [CpuSplit; 2])
where
    FA: Fn(usize, u64) -> FutA + Send + Sync + 'static,
    FutA: Future<Output = anyhow::Result<()>> + Send + 'static,
    FB: Fn(usize, u64) -> FutB + Send + Sync + 'static,
    FutB: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (mut sa, mut sb) = (Sample::default(), Sample::default());
    let mut split = [CpuSplit::default(); 2];
    for r in 0..rounds {
        for which in if r % 2 == 0 { [0, 1] } else { [1, 0] } {
            let mark = match meter {
                Some(m) => m.mark().await.ok(),
                None => None,
            };
            let sample = if which == 0 {
                round(clients, duration, a.clone()).await
            } else {
                round(clients, duration, b.clone()).await
            };
            if let (Some(m), Some(mark)) = (meter, mark) {
                let ops = sample.latencies.len() as u64;
                if let (Ok(cost), Some(slot)) = (m.since(&mark, ops).await, split.get_mut(which)) {
                    slot.add(cost);
                }
            }
            if which == 0 {
                sa.merge(sample);
            } else {
                sb.merge(sample);
            }
        }
    }
    (sa, sb, split)
}

/// [`alternate`] for any number of contenders of one kind: `rounds` rounds of each of `ops`,
/// in their order on even rounds and in reverse on odd ones (a b c, c b a, a b c ...: over two
/// rounds every pair runs in both orders and every contender's mean position is the same),
/// merged per contender in the order of `ops`.
pub async fn rotate<F, Fut>(
    rounds: usize,
    clients: usize,
    duration: Duration,
    ops: &[Arc<F>],
) -> Vec<Sample>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut samples = vec![Sample::default(); ops.len()];
    for r in 0..rounds {
        let order: Vec<usize> = if r % 2 == 0 {
            (0..ops.len()).collect()
        } else {
            (0..ops.len()).rev().collect()
        };
        for i in order {
            if let (Some(op), Some(s)) = (ops.get(i), samples.get_mut(i)) {
                s.merge(round(clients, duration, op.clone()).await);
            }
        }
    }
    samples
}
