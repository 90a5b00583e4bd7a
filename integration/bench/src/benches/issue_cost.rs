//! pg_issue_cost (issue 22, the quota and audit cost line): the issue load of pg_issue against
//! servers that differ only in what they check and record on the way: none (plain), a chained
//! file audit device, a lease-count quota on the role with a limit the run never reaches, and
//! both. Each is its own server on its own files, all on the same target; their rounds rotate
//! ([`rotate`]) and each is reported against plain. The run fails unless the audit file holds
//! a request and a response line for every issue sent (the device was on) and the quota counted
//! the leases and refused none (it was checked, never hit).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::{clean_target, database_server};
use crate::load::{rotate, Stats};
use crate::report::Figure;
use crate::server::{call, http_client, Server};
use crate::Ctx;

const BENCH: &str = "pg_issue_cost";
const ROLE: &str = "bench";
const QUOTA: &str = "bench-cost";
/// Far above what a run issues: the check runs on every issue, the refusal never.
const MAX_LEASES: u64 = 1_000_000;
const ISSUE_PATH: &str = "database/creds/bench";

/// One configuration under test.
struct Config {
    name: &'static str,
    audit: bool,
    quota: bool,
}

/// Plain first: every other one is reported against it.
const CONFIGS: [Config; 4] = [
    Config {
        name: "plain",
        audit: false,
        quota: false,
    },
    Config {
        name: "audit",
        audit: true,
        quota: false,
    },
    Config {
        name: "quota",
        audit: false,
        quota: true,
    },
    Config {
        name: "audit+quota",
        audit: true,
        quota: true,
    },
];

/// A configured server and what was sent to it.
struct Contender {
    config: &'static Config,
    server: Server,
    audit_file: Option<PathBuf>,
    /// Requests answered 429 by the quota (must stay 0).
    refused: Arc<AtomicU64>,
    /// Issues answered with a credential, over every case.
    issued: u64,
    /// Issues sent, answered or not.
    sent: u64,
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let mut contenders = Vec::new();
    for config in &CONFIGS {
        contenders.push(start(ctx, config).await?);
    }
    let mut figures = Vec::new();
    for clients in [1usize, 8] {
        let ops: Vec<_> = contenders
            .iter()
            .map(|c| -> Result<_> {
                let (http, addr) = (http_client()?, c.server.addr.clone());
                let (token, refused) = (c.server.token.clone(), c.refused.clone());
                Ok(Arc::new(move |_c: usize, _n: u64| {
                    let (http, addr) = (http.clone(), addr.clone());
                    let (token, refused) = (token.clone(), refused.clone());
                    async move {
                        let r = call(&http, &addr, &token, "GET", ISSUE_PATH, None)
                            .await
                            .inspect_err(|e| {
                                if e.to_string().contains("429") {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                }
                            })?;
                        r["data"]["username"].as_str().context("no username")?;
                        Ok(())
                    }
                }))
            })
            .collect::<Result<_>>()?;
        let samples = rotate(ctx.rounds, clients, ctx.round, &ops).await;
        let plain = samples.first().map(|s| s.stats()).context("no plain run")?;
        for (c, s) in contenders.iter_mut().zip(&samples) {
            c.issued += s.latencies.len() as u64;
            c.sent += s.latencies.len() as u64 + s.errors;
            if let Some(e) = &s.first_error {
                eprintln!(
                    "{BENCH} clients={clients} {}: first error: {e}",
                    c.config.name
                );
            }
        }
        for (c, s) in contenders.iter().zip(&samples).skip(1) {
            let mut f = Figure::throughput(
                BENCH,
                format!("clients={clients} {}", c.config.name),
                &s.stats(),
                &plain,
                "report: cost vs plain",
            );
            f.notes = latency_ratios(&s.stats(), &plain);
            figures.push(f);
        }
        clean_target(ctx).await?;
    }
    // The device was on and the quota was checked, never hit: otherwise the figures above
    // measure something else, and the bench fails.
    for c in &contenders {
        let mut checked = serde_json::Map::new();
        if let Some(file) = &c.audit_file {
            let lines = audit_lines(file, c.issued, c.sent).await?;
            checked.insert("audit".into(), lines);
        }
        if c.config.quota {
            checked.insert("quota".into(), quota_counted(c).await?);
        }
        for f in figures
            .iter_mut()
            .filter(|f| f.case.ends_with(&format!(" {}", c.config.name)))
        {
            if let Value::Object(notes) = &mut f.notes {
                notes.extend(checked.clone());
            }
        }
    }
    Ok(figures)
}

/// A server with `database/` and the role, then the config's audit device and quota.
async fn start(ctx: &Ctx, config: &'static Config) -> Result<Contender> {
    let name = format!("{BENCH}-{}", config.name.replace('+', "-"));
    let server = database_server(ctx, &name, ROLE, "1h").await?;
    let audit_file = config.audit.then(|| ctx.work.join(&name).join("audit.log"));
    if let Some(file) = &audit_file {
        server
            .call(
                "PUT",
                "sys/audit/file",
                Some(json!({"type": "file", "options": {"file_path": file}})),
            )
            .await?;
    }
    if config.quota {
        server
            .call(
                "PUT",
                &format!("sys/quotas/lease-count/{QUOTA}"),
                Some(json!({"path": "database/", "role": ROLE, "max_leases": MAX_LEASES})),
            )
            .await?;
    }
    Ok(Contender {
        config,
        server,
        audit_file,
        refused: Arc::new(AtomicU64::new(0)),
        issued: 0,
        sent: 0,
    })
}

/// p50 and p99 of `ours` over plain's (lower is better).
fn latency_ratios(ours: &Stats, plain: &Stats) -> Value {
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| (a / b * 100.0).round() / 100.0);
    json!({
        "p50_vs_plain": ratio(ours.p50_ms, plain.p50_ms),
        "p99_vs_plain": ratio(ours.p99_ms, plain.p99_ms),
    })
}

/// Count the audit file's lines by kind, waiting a little for the last entries; fail unless
/// there is one request and one response line on the issue path per issue answered (at least)
/// and per issue sent (at most).
async fn audit_lines(file: &Path, issued: u64, sent: u64) -> Result<Value> {
    let mut counts = AuditCounts::default();
    for _ in 0..30 {
        counts = AuditCounts::read(file)?;
        if counts.requests >= issued && counts.responses >= issued {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let within = |n: u64| (issued..=sent).contains(&n);
    if !within(counts.requests) || !within(counts.responses) {
        bail!(
            "audit file {}: {} request and {} response lines for {ISSUE_PATH}, expected \
             between {issued} (issued) and {sent} (sent) of each",
            file.display(),
            counts.requests,
            counts.responses
        );
    }
    Ok(json!({
        "lines": counts.lines,
        "issue_requests": counts.requests,
        "issue_responses": counts.responses,
        "lease_events": counts.lease_events,
        "checkpoints": counts.checkpoints,
        "lines_per_issue": (counts.lines as f64 / issued.max(1) as f64 * 100.0).round() / 100.0,
        "bytes": std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
    }))
}

/// The audit file's lines by kind.
#[derive(Default)]
struct AuditCounts {
    lines: u64,
    requests: u64,
    responses: u64,
    lease_events: u64,
    checkpoints: u64,
}

impl AuditCounts {
    fn read(file: &Path) -> Result<Self> {
        let f = std::fs::File::open(file).with_context(|| format!("{}", file.display()))?;
        let mut counts = Self::default();
        for line in std::io::BufReader::new(f).lines() {
            let line = line?;
            counts.lines += 1;
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("audit line {} is not JSON", counts.lines))?;
            let on_issue = v["request"]["path"] == ISSUE_PATH;
            match v["type"].as_str() {
                Some("request") if on_issue => counts.requests += 1,
                Some("response") if on_issue => counts.responses += 1,
                Some("lease") => counts.lease_events += 1,
                Some("checkpoint") => counts.checkpoints += 1,
                _ => {}
            }
        }
        Ok(counts)
    }
}

/// The quota's own counter holds every lease issued (it counted them) and nothing was refused.
async fn quota_counted(c: &Contender) -> Result<Value> {
    let refused = c.refused.load(Ordering::Relaxed);
    if refused > 0 {
        bail!(
            "the lease-count quota refused {refused} issues; the limit was meant never to be hit"
        );
    }
    let q = c
        .server
        .call("GET", &format!("sys/quotas/lease-count/{QUOTA}"), None)
        .await?;
    let counter = q["data"]["counter"].as_u64().context("no quota counter")?;
    if counter < c.issued || counter >= MAX_LEASES {
        bail!(
            "lease-count quota counter {counter}, expected at least the {} leases issued",
            c.issued
        );
    }
    Ok(json!({"counter": counter, "max_leases": MAX_LEASES, "refused": refused}))
}
