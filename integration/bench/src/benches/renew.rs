//! renew: renewals through the API vs `ALTER ROLE ... VALID UNTIL` plus the lease-row update run
//! directly; then the same renewals vs a bare SQLite commit loop on the same disk (each renewal
//! is one durable write, so the disk's commit rate bounds it).

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;

use super::{clean_target, database_server};
use crate::load::alternate;
use crate::report::Figure;
use crate::server::{call, http_client};
use crate::target::{suffix, valid_until, RowLog};
use crate::Ctx;

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let server = database_server(ctx, "renew", "bench", "1h").await?;
    let clients = 8;
    let rows = RowLog::open(&ctx.dir("renew-direct")?.join("rows.db"))?;
    // One lease per client on each side, renewed over and over.
    let mut leases = Vec::new();
    let mut accounts = Vec::new();
    for c in 0..clients {
        let r = server.call("GET", "database/creds/bench", None).await?;
        leases.push(r["lease_id"].as_str().context("no lease_id")?.to_owned());
        let name = format!("d-renew-{c}-{}", suffix(6));
        ctx.target.create_direct(&name, &valid_until(3600)).await?;
        let id = format!("database/creds/bench/{}", suffix(24));
        rows.insert(id.clone(), name.clone()).await?;
        accounts.push((name, id));
    }
    let (leases, accounts) = (Arc::new(leases), Arc::new(accounts));
    let (http, addr, token) = (http_client()?, server.addr.clone(), server.token.clone());
    let api = Arc::new(move |c: usize, _n: u64| {
        let (http, addr, token, leases) =
            (http.clone(), addr.clone(), token.clone(), leases.clone());
        async move {
            let lease = leases.get(c).context("no lease")?;
            let body = json!({ "lease_id": lease, "increment": 3600 });
            call(&http, &addr, &token, "PUT", "sys/leases/renew", Some(body)).await?;
            Ok(())
        }
    });
    let (target, rows2, accts) = (ctx.target.clone(), rows.clone(), accounts.clone());
    let direct = Arc::new(move |c: usize, _n: u64| {
        let (target, rows, accts) = (target.clone(), rows2.clone(), accts.clone());
        async move {
            let (name, id) = accts.get(c).context("no account")?;
            target.extend_direct(name, &valid_until(3600)).await?;
            rows.touch(id.clone()).await
        }
    });
    let (ours, base) = alternate(ctx.rounds, clients, ctx.round, api.clone(), direct).await;
    let mut figures = vec![Figure::throughput(
        "renew",
        format!("clients={clients}"),
        &ours.stats(),
        &base.stats(),
        "report (no target set)",
    )];
    let commit = Arc::new(move |c: usize, _n: u64| {
        let (rows, accts) = (rows.clone(), accounts.clone());
        async move {
            let (_, id) = accts.get(c).context("no row")?;
            rows.touch(id.clone()).await
        }
    });
    let (ours, base) = alternate(ctx.rounds, clients, ctx.round, api, commit).await;
    figures.push(Figure::throughput(
        "renew",
        "durable mutations vs SQLite commit loop".into(),
        &ours.stats(),
        &base.stats(),
        "report: commits/s of the disk bound both",
    ));
    clean_target(ctx).await?;
    Ok(figures)
}
