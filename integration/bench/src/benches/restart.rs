//! restart: a server with 100k or 1M leases in storage is SIGKILLed and started again: time to
//! the first healthy answer, to the first issued credential, and resident memory per lease,
//! beside the same server with an empty lease table (the baseline), measured alternately.
//!
//! The table is filled by copying one real lease row in SQL while the server is down, with
//! expiries a month away, so nothing falls due during the measurement.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::database_server;
use crate::report::Figure;
use crate::server::Server;
use crate::Ctx;

/// One life after a SIGKILL.
struct Life {
    healthy_ms: f64,
    first_issue_ms: f64,
    rss: u64,
}

/// Start, SIGKILL, start again and measure the second start.
async fn kill_and_restart(server: &mut Server) -> Result<Life> {
    server.start().await?;
    server.kill();
    let t = Instant::now();
    server.spawn()?;
    let healthy = server.wait_healthy(t).await?;
    loop {
        match server.call("GET", "database/creds/bench", None).await {
            Ok(r) if r["data"]["username"].is_string() => break,
            Ok(_) | Err(_) if t.elapsed().as_secs() < 120 => {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await
            }
            other => {
                other.context("no credential within 120 s")?;
            }
        }
    }
    let first_issue = t.elapsed();
    let rss = server.rss_bytes()?;
    server.stop().await;
    Ok(Life {
        healthy_ms: healthy.as_secs_f64() * 1e3,
        first_issue_ms: first_issue.as_secs_f64() * 1e3,
        rss,
    })
}

/// Copy the table's one real lease `n` times under new ids, due a month from now.
fn fill(db: &Path, n: u64) -> Result<()> {
    let conn = rusqlite::Connection::open(db)?;
    let month_ms: i64 = 30 * 24 * 3600 * 1000;
    let t = Instant::now();
    conn.execute(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1) \
         INSERT INTO leases (id, mount_uuid, mount_path, kind, role, account, state, issue_time, \
           expire_time, max_expire_time, last_renewal, role_ttl_secs, renewable, due_at, \
           attempts, last_error, revoked_time, forced, token_accessor, internal, workload, \
           purpose, ticket, claimed_by) \
         SELECT l.mount_path || 'creds/bench/fill' || printf('%09d', seq.i), l.mount_uuid, \
           l.mount_path, l.kind, l.role, l.account || '-' || seq.i, l.state, l.issue_time, \
           l.expire_time + ?2, l.max_expire_time + ?2, l.last_renewal, l.role_ttl_secs, \
           l.renewable, l.due_at + ?2, l.attempts, l.last_error, l.revoked_time, l.forced, \
           l.token_accessor, l.internal, l.workload, l.purpose, l.ticket, l.claimed_by \
         FROM seq, (SELECT * FROM leases WHERE state = 'active' AND mount_path = 'database/' \
                    LIMIT 1) l",
        rusqlite::params![n as i64, month_ms],
    )?;
    eprintln!(
        "restart: filled {n} leases in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A server with `database/`, one live lease and nothing else, stopped.
async fn prepared(ctx: &Ctx, name: &str) -> Result<Server> {
    let mut server = database_server(ctx, name, "bench", "768h").await?;
    server.call("GET", "database/creds/bench", None).await?;
    server.stop().await;
    Ok(server)
}

fn life_json(l: &Life) -> Value {
    json!({"healthy_ms": l.healthy_ms, "first_issue_ms": l.first_issue_ms, "rss_bytes": l.rss})
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let sizes: &[u64] = if ctx.quick {
        &[10_000]
    } else {
        &[100_000, 1_000_000]
    };
    let mut empty = prepared(ctx, "restart-empty").await?;
    let mut figures = Vec::new();
    for &n in sizes {
        let mut full = prepared(ctx, &format!("restart-{n}")).await?;
        fill(&full.db_path(), n)?;
        // Alternate: empty, full, full, empty; keep the worse of each pair.
        let e1 = kill_and_restart(&mut empty).await?;
        let f1 = kill_and_restart(&mut full).await?;
        let f2 = kill_and_restart(&mut full).await?;
        let e2 = kill_and_restart(&mut empty).await?;
        let worst = |a: Life, b: Life| Life {
            healthy_ms: a.healthy_ms.max(b.healthy_ms),
            first_issue_ms: a.first_issue_ms.max(b.first_issue_ms),
            rss: a.rss.max(b.rss),
        };
        let (e, f) = (worst(e1, e2), worst(f1, f2));
        let per_lease = (f.rss as f64 - e.rss as f64) / n as f64;
        figures.push(Figure {
            bench: "restart".into(),
            case: format!("n={n}"),
            leasehold: life_json(&f),
            baseline: life_json(&e),
            ratio: None,
            target: "< 1 s to healthy and to first credential; ≤ 200 B/lease (Vault: 2–5 KB)"
                .into(),
            notes: json!({ "rss_bytes_per_lease": per_lease }),
        });
        drop(full);
    }
    Ok(figures)
}
