//! history: a year of synthetic ended leases (1M; 100k with `--quick`) in the access history —
//! bytes per ended lease on disk, and the time the API takes to answer the questions an auditor
//! asks of it (a page, by workload, by account, one day, summaries of the year).
//!
//! The rows are copies of one real history row (a lease issued and revoked through the API),
//! written in SQL while the server is down: issue times spread evenly over 365 days, privilege
//! of 5 to 60 minutes, 50 workloads, 10 roles, one account per lease, a purpose and a ticket on
//! each. Bytes per lease is the growth of the database (pages in use, WAL checkpointed) over the
//! one-row file, so it counts the table and its indexes. The baseline column is empty: there is
//! nothing like it to compare with; figures are reported, never asserted.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::database_server;
use crate::report::Figure;
use crate::server::Server;
use crate::Ctx;

const YEAR_SECS: i64 = 365 * 86_400;

/// Bytes in use by the database: pages times page size, after a checkpoint.
fn db_bytes(db: &Path) -> Result<i64> {
    let conn = rusqlite::Connection::open(db)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok((pages - free) * size)
}

/// Copy the one real history row `n` times over the year before `end` (Unix seconds).
fn fill(db: &Path, n: i64, end: i64) -> Result<()> {
    let conn = rusqlite::Connection::open(db)?;
    let t = Instant::now();
    conn.execute(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1) \
         INSERT INTO lease_history (issued_at, id, mount, role, workload, account, accessor, \
           purpose, ticket, expire_at, last_renewal, ended_at, ending, renewals, approval_id, \
           requested_at, approved_at, destroyed_by, sessions, verified_at) \
         SELECT ?2 - ?3 + seq.i * ?3 / ?1, \
           h.mount || 'creds/bench' || (seq.i % 10) || '/' || printf('%024d', seq.i), h.mount, \
           'bench' || (seq.i % 10), 'auth/approle/role/pipeline-' || (seq.i % 50), \
           'v-approle-bench' || (seq.i % 10) || '-' || printf('%020d', seq.i) || '-1796000000', \
           h.accessor, 'nightly schema migration', 'CHG-' || (seq.i % 5000), \
           ?2 - ?3 + seq.i * ?3 / ?1 + 3600, NULL, \
           ?2 - ?3 + seq.i * ?3 / ?1 + 300 + (seq.i % 3300), \
           CASE WHEN seq.i % 7 = 0 THEN 1 ELSE 2 END, seq.i % 2, NULL, NULL, NULL, \
           h.destroyed_by, seq.i % 3, ?2 - ?3 + seq.i * ?3 / ?1 + 301 + (seq.i % 3300) \
         FROM seq, (SELECT * FROM lease_history LIMIT 1) h",
        rusqlite::params![n, end, YEAR_SECS],
    )?;
    eprintln!(
        "history: filled {n} rows in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The median of 5 timed calls of `path`, in milliseconds, and the last answer.
async fn timed(server: &Server, path: &str) -> Result<(f64, Value)> {
    let mut times = Vec::new();
    let mut last = Value::Null;
    for _ in 0..5 {
        let t = Instant::now();
        last = server
            .call("GET", path, None)
            .await
            .with_context(|| format!("GET {path}"))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[2], last))
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let n: i64 = if ctx.quick { 100_000 } else { 1_000_000 };
    let mut server = database_server(ctx, "history", "bench", "1h").await?;
    let issued = server.call("GET", "database/creds/bench", None).await?;
    let lease = issued["lease_id"]
        .as_str()
        .context("no lease id")?
        .to_owned();
    server
        .call(
            "PUT",
            "sys/leases/revoke",
            Some(json!({ "lease_id": lease })),
        )
        .await?;
    server.stop().await;
    let db = server.db_path();
    let before = db_bytes(&db)?;
    let end = chrono::Utc::now().timestamp();
    fill(&db, n, end)?;
    let after = db_bytes(&db)?;
    let per_lease = (after - before) as f64 / n as f64;
    server.start().await?;

    let day_start = end - YEAR_SECS / 2;
    let cases = [
        ("first page (100 rows)", "sys/leases/history".to_owned()),
        (
            "one workload, first page",
            "sys/leases/history?workload=auth/approle/role/pipeline-7".to_owned(),
        ),
        (
            "one account",
            format!(
                "sys/leases/history?account=v-approle-bench7-{:020}-1796000000",
                n / 2 + 7 - (n / 2) % 10
            ),
        ),
        (
            "one day (since/until), first page",
            format!(
                "sys/leases/history?since={day_start}&until={}",
                day_start + 86_400
            ),
        ),
        (
            "one ticket, first page",
            "sys/leases/history?ticket=CHG-4242".to_owned(),
        ),
        (
            "summary: per workload per week, whole year",
            "sys/leases/history/summary?by=workload&period=week".to_owned(),
        ),
        (
            "summary: per role per day, one month",
            format!(
                "sys/leases/history/summary?by=role&period=day&since={}&until={}",
                end - 30 * 86_400,
                end
            ),
        ),
    ];
    let mut figures = vec![Figure {
        bench: "history".into(),
        case: format!("size, n={n}"),
        leasehold: json!({ "bytes_per_ended_lease": per_lease, "database_bytes": after }),
        baseline: Value::Null,
        ratio: None,
        target: "report (a year of a busy pipeline stays small)".into(),
        notes: json!({ "rows": n }),
    }];
    for (case, path) in cases {
        let (ms, answer) = timed(&server, &path).await?;
        let rows = answer["data"]["leases"]
            .as_array()
            .map(Vec::len)
            .or_else(|| answer["data"]["groups"].as_array().map(Vec::len));
        figures.push(Figure {
            bench: "history".into(),
            case: format!("{case}, n={n}"),
            leasehold: json!({ "median_ms": ms, "rows": rows }),
            baseline: Value::Null,
            ratio: None,
            target: "report".into(),
            notes: json!({ "path": path }),
        });
    }
    server.stop().await;
    Ok(figures)
}
