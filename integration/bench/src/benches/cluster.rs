//! cluster: three nodes on one PostgreSQL storage database against one node on the same kind of
//! storage (the leasehold column is 3 nodes, the baseline column 1 node).
//!
//! - issue: `database/creds` with the load spread round-robin over the nodes' addresses,
//!   alternating rounds of the two.
//! - expiry: N leases issued over the nodes, the nodes stopped until all have expired, then
//!   restarted together: the time until every role is gone from pg_roles.
//!
//! Each case also reports what one operation cost: storage round trips and bytes (counted by a
//! proxy in front of the storage database), CPU of the leasehold processes and of the storage
//! database's backends. Background traffic is taken away: for issue, an idle window of the same
//! length; for expiry, a restart with nothing due watched for as long as the drain took (so the
//! start-up is taken away too). On one 2-core machine the nodes share the cores, so this shows
//! the cost per operation, not scaling.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::clean_target;
use crate::load::{round, Sample};
use crate::nodes::{round2, Cost, Nodes};
use crate::report::Figure;
use crate::server::{call, http_client};
use crate::Ctx;

const TARGET: &str = "3 nodes vs 1 on one machine: cost per operation, not scaling";

/// One load operation; boxed so that both contenders' operations have one type.
type OpFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// `GET database/creds/<role>`, the n-th call of client c on node (c + n) mod nodes.
fn issue_op(
    nodes: &Nodes,
    role: &str,
) -> Result<Arc<impl Fn(usize, u64) -> OpFuture + Send + Sync + 'static>> {
    let (http, addrs, token) = (http_client()?, nodes.addrs(), nodes.token());
    let path = format!("database/creds/{role}");
    Ok(Arc::new(move |c: usize, n: u64| {
        let addr = addrs[(c + n as usize) % addrs.len()].clone();
        let (http, token, path) = (http.clone(), token.clone(), path.clone());
        Box::pin(async move {
            let r = call(&http, &addr, &token, "GET", &path, None).await?;
            r["data"]["username"].as_str().context("no username")?;
            Ok(())
        }) as OpFuture
    }))
}

async fn issue(ctx: &Ctx, one: &Nodes, three: &Nodes) -> Result<Vec<Figure>> {
    one.setup_database(ctx, "bench", "1h").await?;
    three.setup_database(ctx, "bench", "1h").await?;
    // Contender 0 is three nodes, 1 is one node; both have their idle window measured at once.
    let contenders = [three, one];
    let window = ctx.round * u32::try_from(ctx.rounds)?;
    let marks = [three.mark(ctx).await?, one.mark(ctx).await?];
    tokio::time::sleep(window).await;
    let idle = [
        three.cost_since(ctx, &marks[0]).await?,
        one.cost_since(ctx, &marks[1]).await?,
    ];
    let ops = [issue_op(three, "bench")?, issue_op(one, "bench")?];
    let mut figures = Vec::new();
    for clients in [8usize, 32] {
        let mut samples = [Sample::default(), Sample::default()];
        let mut costs = [Cost::default(), Cost::default()];
        for r in 0..ctx.rounds {
            for i in if r % 2 == 0 { [0, 1] } else { [1, 0] } {
                let mark = contenders[i].mark(ctx).await?;
                let s = round(clients, ctx.round, ops[i].clone()).await;
                costs[i].add(&contenders[i].cost_since(ctx, &mark).await?);
                samples[i].merge(s);
            }
        }
        let (s3, s1) = (samples[0].stats(), samples[1].stats());
        let mut f = Figure::throughput(
            "cluster",
            format!("issue, clients={clients}"),
            &s3,
            &s1,
            TARGET,
        );
        f.notes = json!({
            "per_issue_3_nodes": costs[0].per_op(&idle[0], s3.ops),
            "per_issue_1_node": costs[1].per_op(&idle[1], s1.ops),
            "idle_per_sec_3_nodes": idle[0].per_sec(),
            "idle_per_sec_1_node": idle[1].per_sec(),
            "idle_subtracted": "an idle window of the same length, measured before the load",
        });
        if let Some(e) = samples[0]
            .first_error
            .take()
            .or(samples[1].first_error.take())
        {
            eprintln!("cluster issue clients={clients}: first error: {e}");
        }
        figures.push(f);
        clean_target(ctx).await?;
    }
    Ok(figures)
}

/// How many of `names` are still roles on the target.
async fn alive(ctx: &Ctx, names: &[String]) -> Result<i64> {
    let client = ctx.target.pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)",
            &[&names],
        )
        .await?;
    Ok(row.get(0))
}

/// Issue `n` leases of `role` with 16 clients spread over the nodes; the accounts' names.
async fn issue_n(nodes: &Nodes, role: &str, n: usize) -> Result<Vec<String>> {
    let (http, addrs, token) = (http_client()?, nodes.addrs(), nodes.token());
    let next = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, addrs, token) = (http.clone(), addrs.clone(), token.clone());
        let (next, names, path) = (
            next.clone(),
            names.clone(),
            format!("database/creds/{role}"),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let addr = &addrs[i % addrs.len()];
                let r = call(&http, addr, &token, "GET", &path, None).await?;
                let name = r["data"]["username"].as_str().context("no username")?;
                names
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(name.to_owned());
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let names = names.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(names.clone())
}

/// N leases due at once on `nodes`: drain time, rate and cost per destruction.
async fn expiry(ctx: &Ctx, nodes: &mut Nodes, n: usize, ttl: u64) -> Result<Value> {
    nodes.setup_database(ctx, "exp", &format!("{ttl}s")).await?;
    let t = Instant::now();
    let names = issue_n(nodes, "exp", n).await?;
    let issue_secs = t.elapsed().as_secs_f64();
    let due = Instant::now() + Duration::from_secs(ttl + 1);
    nodes.stop().await;
    // Leases that fell due while the rest were issued are gone already: not part of the burst.
    let destroyed = u64::try_from(alive(ctx, &names).await?)?;
    tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;

    let mark = nodes.mark(ctx).await?;
    let t0 = Instant::now();
    nodes.restart().await?;
    let start_ms = t0.elapsed().as_secs_f64() * 1e3;
    while alive(ctx, &names).await? > 0 {
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("roles still there 600 s after the restart");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain = t0.elapsed();
    let cost = nodes.cost_since(ctx, &mark).await?;

    // The same restart with nothing due, watched as long: its start-up and idle traffic.
    nodes.stop().await;
    let mark = nodes.mark(ctx).await?;
    let t1 = Instant::now();
    nodes.restart().await?;
    tokio::time::sleep(drain.saturating_sub(t1.elapsed())).await;
    let quiet = nodes.cost_since(ctx, &mark).await?;

    let drain_s = drain.as_secs_f64();
    Ok(json!({
        "leases": n,
        "destroyed": destroyed,
        "drain_ms": round2(drain_s * 1e3),
        "per_sec": round2(destroyed as f64 / drain_s.max(1e-9)),
        "start_ms": round2(start_ms),
        "issue_per_sec": round2(n as f64 / issue_secs.max(1e-9)),
        "per_destruction": cost.per_op(&quiet, destroyed),
    }))
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let mut one = Nodes::start(ctx, "cluster-1", 1).await?;
    let mut three = Nodes::start(ctx, "cluster-3", 3).await?;
    let mut figures = issue(ctx, &one, &three).await?;

    let (n, ttl) = if ctx.quick { (500, 30) } else { (2_000, 60) };
    let o = expiry(ctx, &mut one, n, ttl).await?;
    clean_target(ctx).await?;
    let t = expiry(ctx, &mut three, n, ttl).await?;
    clean_target(ctx).await?;
    let rate = |v: &Value| v["per_sec"].as_f64().unwrap_or(0.0);
    figures.push(Figure {
        bench: "cluster".into(),
        case: format!("expiry: {n} leases due at once"),
        ratio: (rate(&o) > 0.0).then(|| rate(&t) / rate(&o)),
        leasehold: t,
        baseline: o,
        target: TARGET.into(),
        notes: json!({
            "subtracted": "a restart with nothing due, watched as long as the drain took \
                           (start-up and idle traffic)",
        }),
    });
    one.remove(ctx).await?;
    three.remove(ctx).await?;
    Ok(figures)
}
