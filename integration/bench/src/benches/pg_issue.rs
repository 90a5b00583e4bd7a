//! pg_issue: issuing PostgreSQL credentials through the API vs the same SQL run directly through
//! a pool of the same size plus one durable lease-row write.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;

use super::{clean_target, database_server};
use crate::cpu_split::Meter;
use crate::load::alternate_metered;
use crate::report::Figure;
use crate::server::{call, http_client};
use crate::target::{suffix, valid_until, RowLog};
use crate::Ctx;

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let server = database_server(ctx, "pg_issue", "bench", "1h").await?;
    let rows = RowLog::open(&ctx.dir("pg_issue-direct")?.join("rows.db"))?;
    let mut figures = Vec::new();
    for clients in [1usize, 8, 32] {
        let (http, addr, token) = (http_client()?, server.addr.clone(), server.token.clone());
        let api = Arc::new(move |_c: usize, _n: u64| {
            let (http, addr, token) = (http.clone(), addr.clone(), token.clone());
            async move {
                let r = call(&http, &addr, &token, "GET", "database/creds/bench", None).await?;
                r["data"]["username"].as_str().context("no username")?;
                Ok(())
            }
        });
        let (target, rows) = (ctx.target.clone(), rows.clone());
        let direct = Arc::new(move |c: usize, n: u64| {
            let (target, rows) = (target.clone(), rows.clone());
            async move {
                let name = format!("d-{c}-{n}-{}", suffix(8));
                target.create_direct(&name, &valid_until(3600)).await?;
                rows.insert(format!("database/creds/bench/{}", suffix(24)), name)
                    .await
            }
        });
        let meter = Meter::new(ctx.target.clone(), server.pid());
        let (ours, base, [ours_cpu, base_cpu]) =
            alternate_metered(ctx.rounds, clients, ctx.round, api, direct, Some(&meter)).await;
        let mut figure = Figure::throughput(
            "pg_issue",
            format!("clients={clients}"),
            &ours.stats(),
            &base.stats(),
            "≥ 0.9 of direct (Vault: 226/s, 45 ms mean)",
        );
        figure.notes = json!({
            "cpu_per_op": { "leasehold": ours_cpu.per_op(), "direct": base_cpu.per_op() },
        });
        figures.push(figure);
        if let Some(e) = ours.first_error.or(base.first_error) {
            eprintln!("pg_issue clients={clients}: first error: {e}");
        }
        clean_target(ctx).await?;
    }
    Ok(figures)
}
