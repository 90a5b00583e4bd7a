//! Whose CPU an operation costs: the server's, the target PostgreSQL's (every process of its
//! cluster) and this process's (the load's clients), per contender of an alternating run. On a
//! machine where all of them share the cores, a contender's rate is bounded by that sum, so the
//! split says what bounds a ratio: the target's extra work, the server, or the clients.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::cpu::CpuSnapshot;
use crate::target::Target;

/// CPU seconds spent while one contender ran, summed over its measured rounds, and the
/// operations those rounds completed.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct CpuSplit {
    pub server: f64,
    pub target: f64,
    pub client: f64,
    pub ops: u64,
}

impl CpuSplit {
    pub fn add(&mut self, other: CpuSplit) {
        self.server += other.server;
        self.target += other.target;
        self.client += other.client;
        self.ops += other.ops;
    }

    /// Milliseconds of each per successful operation (null without operations).
    pub fn per_op(&self) -> Value {
        let ops = self.ops as f64;
        if ops == 0.0 {
            return Value::Null;
        }
        let ms = |s: f64| (s * 1e6 / ops).round() / 1e3;
        json!({
            "server_ms": ms(self.server),
            "target_ms": ms(self.target),
            "client_ms": ms(self.client),
            "total_ms": ms(self.server + self.target + self.client),
        })
    }
}

/// What a window is measured on: the target cluster and, when there is one, the server.
pub struct Meter {
    target: Arc<Target>,
    server: Option<u32>,
}

/// The counters at the start of a window.
pub struct Mark {
    server: CpuSnapshot,
    target: CpuSnapshot,
    client: CpuSnapshot,
}

impl Meter {
    pub fn new(target: Arc<Target>, server: Option<u32>) -> Self {
        Self { target, server }
    }

    /// Every process of the target cluster: client backends (ours and the direct pool's, which
    /// stay connected) and the background processes that write and flush the WAL. A backend
    /// that exits within a window loses its last interval; none do here, as both contenders
    /// keep their connections pooled.
    async fn target_pids(&self) -> anyhow::Result<Vec<u32>> {
        self.target.process_ids(None).await
    }

    pub async fn mark(&self) -> anyhow::Result<Mark> {
        Ok(Mark {
            target: CpuSnapshot::take(&self.target_pids().await?),
            server: CpuSnapshot::take(self.server.as_slice()),
            client: CpuSnapshot::take(&[std::process::id()]),
        })
    }

    /// What the window from `mark` cost, for `ops` operations done in it.
    pub async fn since(&self, mark: &Mark, ops: u64) -> anyhow::Result<CpuSplit> {
        Ok(CpuSplit {
            ops,
            target: CpuSnapshot::take(&self.target_pids().await?).since(&mark.target),
            server: CpuSnapshot::take(self.server.as_slice()).since(&mark.server),
            client: CpuSnapshot::take(&[std::process::id()]).since(&mark.client),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_op_divides_each_part_by_the_measured_operations() {
        let mut split = CpuSplit {
            server: 0.5,
            target: 2.0,
            client: 0.25,
            ops: 1000,
        };
        split.add(CpuSplit {
            server: 0.5,
            target: 2.0,
            client: 0.25,
            ops: 1000,
        });
        assert_eq!(
            split.per_op(),
            json!({ "server_ms": 0.5, "target_ms": 2.0, "client_ms": 0.25, "total_ms": 2.75 })
        );
    }

    #[test]
    fn no_measured_operations_is_no_figure() {
        let split = CpuSplit {
            server: 1.0,
            ..CpuSplit::default()
        };
        assert_eq!(split.per_op(), Value::Null);
    }
}
