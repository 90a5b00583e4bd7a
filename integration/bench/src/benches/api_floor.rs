//! api_floor: the cost of the HTTP layer, authentication and envelope — `lookup-self` (token
//! checked, policy evaluated) and `sys/health` at 64 connections — vs a bare axum handler
//! answering the same paths from another process of this harness.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::load::alternate;
use crate::report::Figure;
use crate::server::{free_port, http_client, Server};
use crate::Ctx;

/// Kills the bare server when the benchmark ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let mut server = Server::new(&ctx.binary, &ctx.dir("api_floor")?, "")?;
    server.start().await?;
    let port = free_port()?;
    let _bare = Child(
        Command::new(std::env::current_exe()?)
            .args(["--binary", "unused", "--bare-server", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()?,
    );
    let bare_addr = format!("http://127.0.0.1:{port}");
    let http = http_client()?;
    for _ in 0..500 {
        if http
            .get(format!("{bare_addr}/v1/sys/health"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let clients = 64;
    let mut figures = Vec::new();
    for path in ["auth/token/lookup-self", "sys/health"] {
        let get = |addr: String| {
            let (http, token) = (http.clone(), server.token.clone());
            Arc::new(move |_c: usize, _n: u64| {
                let (http, token, url) = (http.clone(), token.clone(), format!("{addr}/v1/{path}"));
                async move {
                    let r = http.get(url).header("X-Vault-Token", token).send().await?;
                    anyhow::ensure!(r.status().is_success(), "status {}", r.status());
                    r.bytes().await?;
                    Ok(())
                }
            })
        };
        let (ours, base) = alternate(
            ctx.rounds,
            clients,
            ctx.round,
            get(server.addr.clone()),
            get(bare_addr.clone()),
        )
        .await;
        figures.push(Figure::throughput(
            "api_floor",
            format!("{path}, {clients} connections"),
            &ours.stats(),
            &base.stats(),
            "≥ 0.5 of bare axum",
        ));
    }
    Ok(figures)
}
