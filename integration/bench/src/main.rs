#![doc = include_str!("../README.md")]
// Harness code reads API answers as `serde_json::Value`s by key: `v["data"]["x"]` yields Null
// for a missing key rather than panicking, and a missing field fails the benchmark's own check.
// tests read the wall clock to compare against the server's
#![allow(clippy::disallowed_methods)]
#![allow(clippy::indexing_slicing)]
//! `leasehold-bench`: runs the benchmarks named on the command line (all by default) and prints
//! one Markdown row per case; `--out` keeps the full figures as JSON.

mod bare;
mod benches;
mod cores;
mod cpu;
mod cpu_split;
mod load;
mod nodes;
mod proxy;
mod report;
mod server;
mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

use report::Figure;
use target::Target;

/// Command line.
#[derive(Parser)]
#[command(about = "leasehold side by side with the same work done directly")]
struct Cli {
    /// Smaller sizes and shorter rounds: a smoke run, not figures to quote.
    #[arg(long)]
    quick: bool,
    /// Write every figure here as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The leasehold binary (a release build).
    #[arg(long, env = "LEASEHOLD_BIN")]
    binary: PathBuf,
    /// Pin the target cluster to the first CPU and the harness, with the servers it starts, to
    /// the others: a stand-in for a target on a machine of its own.
    #[arg(long)]
    split_cores: bool,
    /// Serve the bare handler api_floor compares with (internal: the harness runs this).
    #[arg(long, hide = true)]
    bare_server: Option<u16>,
    /// Benchmarks to run; all when none is named.
    benches: Vec<String>,
}

/// What every benchmark gets.
pub struct Ctx {
    pub binary: PathBuf,
    pub work: PathBuf,
    pub quick: bool,
    pub target: Arc<Target>,
    /// Length of one round of one contender.
    pub round: Duration,
    /// Rounds per contender.
    pub rounds: usize,
}

impl Ctx {
    /// A new directory for one server or baseline.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let d = self.work.join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }
}

const ALL: &[&str] = &[
    "pg_issue",
    "pg_issue_cost",
    "pg_churn",
    "renew",
    "api_floor",
    "restart",
    "expiry_precision",
    "aws_iam",
    "history",
    "cluster",
];

/// Parts of a benchmark above that can be run alone (never by default: they would run twice).
const PARTS: &[&str] = &["burst"];

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(port) = cli.bare_server {
        return bare::serve(port).await;
    }
    let names: Vec<String> = if cli.benches.is_empty() {
        ALL.iter().map(|s| s.to_string()).collect()
    } else {
        cli.benches.clone()
    };
    if let Some(bad) = names
        .iter()
        .find(|n| !ALL.contains(&n.as_str()) && !PARTS.contains(&n.as_str()))
    {
        bail!(
            "unknown benchmark {bad}; known: {}, {}",
            ALL.join(", "),
            PARTS.join(", ")
        );
    }
    let work = std::env::temp_dir().join(format!("leasehold-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let ctx = Ctx {
        binary: cli.binary.clone(),
        work: work.clone(),
        quick: cli.quick,
        target: Arc::new(Target::start(16).await?),
        round: Duration::from_secs(if cli.quick { 2 } else { 5 }),
        rounds: if cli.quick { 1 } else { 3 },
    };
    println!("{}", machine());
    if cli.split_cores {
        println!("{}", cores::split(&ctx.target).await?);
    }
    println!("| bench | case | leasehold | baseline | ratio | target | notes |");
    println!("|---|---|---|---|---|---|---|");
    let mut all: Vec<Figure> = Vec::new();
    for name in &names {
        let figures = match name.as_str() {
            "pg_issue" => benches::pg_issue::run(&ctx).await,
            "pg_issue_cost" => benches::issue_cost::run(&ctx).await,
            "pg_churn" => benches::pg_churn::run(&ctx).await,
            "renew" => benches::renew::run(&ctx).await,
            "api_floor" => benches::api_floor::run(&ctx).await,
            "restart" => benches::restart::run(&ctx).await,
            "expiry_precision" => benches::expiry::run(&ctx).await,
            "burst" => benches::expiry::run_burst(&ctx).await,
            "aws_iam" => benches::aws_iam::run(&ctx).await,
            "history" => benches::history::run(&ctx).await,
            "cluster" => benches::cluster::run(&ctx).await,
            _ => continue,
        };
        match figures {
            Ok(fs) => {
                for f in &fs {
                    println!("{}", f.row());
                }
                all.extend(fs);
            }
            Err(e) => println!("| {name} | FAILED | {e:#} | | | | |"),
        }
    }
    if let Some(out) = &cli.out {
        std::fs::write(
            out,
            serde_json::to_string_pretty(&serde_json::json!({
                "machine": machine(),
                "figures": all,
            }))?,
        )?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// The machine and versions, recorded with the figures.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "machine: {cpu}, {cores} cores; leasehold {}; {}",
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}
