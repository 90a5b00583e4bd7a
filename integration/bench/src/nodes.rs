//! Several leasehold nodes on one PostgreSQL storage database (a fresh database on the target's
//! cluster), each reaching it through one counting [`Proxy`], and what a window of work cost
//! them: storage round trips and bytes, the nodes' CPU and the storage backends' CPU.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::benches::POOL;
use crate::cpu::CpuSnapshot;
use crate::proxy::{Counts, Proxy};
use crate::server::{write_seal_key, Server};
use crate::target::suffix;
use crate::Ctx;

/// Each node's storage pool (`max_parallel`), as the cluster suite runs them.
const STORAGE_POOL: usize = 8;

/// The nodes, their storage database and the proxy in front of it.
pub struct Nodes {
    pub servers: Vec<Server>,
    pub proxy: Proxy,
    db: String,
}

/// Where a window started.
pub struct Mark {
    at: Instant,
    counts: Counts,
    nodes: CpuSnapshot,
    storage: CpuSnapshot,
}

/// What a window cost, in total.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cost {
    pub secs: f64,
    pub round_trips: f64,
    pub bytes: f64,
    pub connections: f64,
    /// CPU seconds of the leasehold processes.
    pub node_cpu: f64,
    /// CPU seconds of the storage database's backends.
    pub storage_cpu: f64,
}

impl Cost {
    pub fn add(&mut self, o: &Cost) {
        self.secs += o.secs;
        self.round_trips += o.round_trips;
        self.bytes += o.bytes;
        self.connections += o.connections;
        self.node_cpu += o.node_cpu;
        self.storage_cpu += o.storage_cpu;
    }

    /// Per operation, after taking away `idle`'s rate over this window's length.
    pub fn per_op(&self, idle: &Cost, ops: u64) -> Value {
        let k = if idle.secs > 0.0 {
            self.secs / idle.secs
        } else {
            0.0
        };
        let per = |load: f64, idle: f64| round2((load - idle * k) / ops.max(1) as f64);
        json!({
            "storage_round_trips": per(self.round_trips, idle.round_trips),
            "storage_bytes": per(self.bytes, idle.bytes).round(),
            "node_cpu_ms": per(self.node_cpu * 1e3, idle.node_cpu * 1e3),
            "storage_pg_cpu_ms": per(self.storage_cpu * 1e3, idle.storage_cpu * 1e3),
        })
    }

    /// Rates per second (for the idle window's record).
    pub fn per_sec(&self) -> Value {
        let s = self.secs.max(1e-9);
        json!({
            "storage_round_trips": round2(self.round_trips / s),
            "node_cpu_ms": round2(self.node_cpu * 1e3 / s),
            "storage_pg_cpu_ms": round2(self.storage_cpu * 1e3 / s),
        })
    }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Nodes {
    /// `count` nodes in `ctx.dir(name)` on a new storage database: the first starts alone and
    /// makes the root token, the others join.
    pub async fn start(ctx: &Ctx, name: &str, count: usize) -> Result<Self> {
        let db = format!("lh_storage_{}", suffix(8).to_lowercase());
        ctx.target.cluster.create_database(&db).await?;
        let proxy = Proxy::start(ctx.target.cluster.port()).await?;
        // Plain text on purpose: it is loopback, and the proxy must see the protocol's turns.
        let url = format!(
            "postgres://postgres:{}@127.0.0.1:{}/{db}?sslmode=disable",
            ctx.target.cluster.superuser_password(),
            proxy.port
        );
        let base = ctx.dir(name)?;
        let key = base.join("seal.key");
        write_seal_key(&key)?;
        let mut servers = Vec::new();
        for i in 0..count {
            let dir = base.join(format!("node{i}"));
            servers.push(Server::on_postgres(
                &ctx.binary,
                &dir,
                &url,
                STORAGE_POOL,
                &key,
            )?);
        }
        let mut nodes = Self { servers, proxy, db };
        let first = nodes.servers.first_mut().context("no nodes")?;
        first.start().await?;
        let token = first.token.clone();
        for s in nodes.servers.iter_mut().skip(1) {
            s.token = token.clone();
            s.start().await?;
        }
        Ok(nodes)
    }

    /// `database/` on the target with role `role`, set up through the first node; returns once
    /// every node serves the role.
    pub async fn setup_database(&self, ctx: &Ctx, role: &str, ttl: &str) -> Result<()> {
        let first = self.servers.first().context("no nodes")?;
        first.setup_database(&ctx.target, POOL, role, ttl).await?;
        for s in &self.servers {
            let deadline = Instant::now() + Duration::from_secs(30);
            while s
                .call("GET", &format!("database/roles/{role}"), None)
                .await
                .is_err()
            {
                if Instant::now() > deadline {
                    bail!("{} does not see database/roles/{role} after 30 s", s.addr);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    pub fn addrs(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.addr.clone()).collect()
    }

    pub fn token(&self) -> String {
        self.servers
            .first()
            .map(|s| s.token.clone())
            .unwrap_or_default()
    }

    /// The storage database's backends (the nodes' pooled and LISTEN connections).
    async fn storage_pids(&self, ctx: &Ctx) -> Result<Vec<u32>> {
        ctx.target.process_ids(Some(&self.db)).await
    }

    /// Start a window now.
    pub async fn mark(&self, ctx: &Ctx) -> Result<Mark> {
        let storage = CpuSnapshot::take(&self.storage_pids(ctx).await?);
        let pids: Vec<u32> = self.servers.iter().filter_map(Server::pid).collect();
        Ok(Mark {
            at: Instant::now(),
            counts: self.proxy.counts(),
            nodes: CpuSnapshot::take(&pids),
            storage,
        })
    }

    /// What happened since `mark`.
    pub async fn cost_since(&self, ctx: &Ctx, mark: &Mark) -> Result<Cost> {
        let secs = mark.at.elapsed().as_secs_f64();
        let counts = self.proxy.counts() - mark.counts;
        let pids: Vec<u32> = self.servers.iter().filter_map(Server::pid).collect();
        let nodes = CpuSnapshot::take(&pids).since(&mark.nodes);
        let storage = CpuSnapshot::take(&self.storage_pids(ctx).await?).since(&mark.storage);
        Ok(Cost {
            secs,
            round_trips: counts.round_trips as f64,
            bytes: (counts.bytes_up + counts.bytes_down) as f64,
            connections: counts.connections as f64,
            node_cpu: nodes,
            storage_cpu: storage,
        })
    }

    /// SIGTERM every node and wait for each to exit.
    pub async fn stop(&mut self) {
        for s in &mut self.servers {
            s.stop().await;
        }
    }

    /// Spawn every node at once, then wait until all are healthy.
    pub async fn restart(&mut self) -> Result<()> {
        let t = Instant::now();
        for s in &mut self.servers {
            s.spawn()?;
        }
        for s in &mut self.servers {
            s.wait_healthy(t).await?;
        }
        Ok(())
    }

    /// Stop the nodes and drop their storage database.
    pub async fn remove(mut self, ctx: &Ctx) -> Result<()> {
        self.stop().await;
        let client = ctx.target.pool.get().await?;
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
            .await?;
        Ok(())
    }
}
