//! The benchmarks, one file each; each returns its [`crate::report::Figure`]s.

pub mod api_floor;
pub mod aws_iam;
pub mod cluster;
pub mod expiry;
pub mod history;
pub mod issue_cost;
pub mod pg_churn;
pub mod pg_issue;
pub mod renew;
pub mod restart;

use anyhow::Result;

use crate::server::Server;
use crate::Ctx;

/// Pool size on both sides: the server's connection (`max_open_connections`) and the direct
/// baseline's pool.
pub const POOL: usize = 16;

/// A started server in `ctx.dir(name)` with `database/` on the target and role `role`.
pub async fn database_server(ctx: &Ctx, name: &str, role: &str, ttl: &str) -> Result<Server> {
    let mut server = Server::new(&ctx.binary, &ctx.dir(name)?, "")?;
    server.start().await?;
    server.setup_database(&ctx.target, POOL, role, ttl).await?;
    Ok(server)
}

/// Drop what a benchmark left on the target: leasehold's accounts (`v-`) and the baseline's
/// (`d-`), so the next one starts from an empty catalog.
pub async fn clean_target(ctx: &Ctx) -> Result<()> {
    ctx.target.drop_all("v-").await?;
    ctx.target.drop_all("d-").await?;
    Ok(())
}
