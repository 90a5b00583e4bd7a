//! pg_churn: the whole lifecycle — issue, then revoke at once (sync) — through the API vs
//! CREATE ROLE and DROP ROLE run directly. Afterwards no account may be left.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;

use super::{clean_target, database_server};
use crate::cpu_split::Meter;
use crate::load::alternate_metered;
use crate::report::Figure;
use crate::server::{call, http_client};
use crate::target::{suffix, valid_until};
use crate::Ctx;

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let server = database_server(ctx, "pg_churn", "bench", "1h").await?;
    let clients = 8;
    let (http, addr, token) = (http_client()?, server.addr.clone(), server.token.clone());
    let api = Arc::new(move |_c: usize, _n: u64| {
        let (http, addr, token) = (http.clone(), addr.clone(), token.clone());
        async move {
            let r = call(&http, &addr, &token, "GET", "database/creds/bench", None).await?;
            let lease = r["lease_id"].as_str().context("no lease_id")?.to_owned();
            call(
                &http,
                &addr,
                &token,
                "PUT",
                "sys/leases/revoke",
                Some(json!({ "lease_id": lease })),
            )
            .await?;
            Ok(())
        }
    });
    let target = ctx.target.clone();
    let direct = Arc::new(move |c: usize, n: u64| {
        let target = target.clone();
        async move {
            let name = format!("d-{c}-{n}-{}", suffix(8));
            target.create_direct(&name, &valid_until(3600)).await?;
            target.drop_direct(&name).await
        }
    });
    let meter = Meter::new(ctx.target.clone(), server.pid());
    let (ours, base, [ours_cpu, base_cpu]) =
        alternate_metered(ctx.rounds, clients, ctx.round, api, direct, Some(&meter)).await;
    let leaked = ctx.target.roles("v-").await?.len();
    let mut f = Figure::throughput(
        "pg_churn",
        format!("clients={clients}"),
        &ours.stats(),
        &base.stats(),
        "≥ 0.8 of direct, 0 leaked",
    );
    f.notes = json!({
        "leaked_roles": leaked,
        "first_error": ours.first_error,
        "cpu_per_op": { "leasehold": ours_cpu.per_op(), "direct": base_cpu.per_op() },
    });
    clean_target(ctx).await?;
    Ok(vec![f])
}
