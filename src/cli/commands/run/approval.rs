//! `-wait-approval`: a credential held for approval is polled for (`sys/control-group/request`
//! by accessor, which the `default` policy allows) and collected with its wrapping token once
//! approved. The account is created at collection, so the wait costs no privilege.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};

use super::lease::{from_answer, Leased};
use crate::cli::client::Client;
use crate::cli::error::CliError;

/// How often the request is looked at.
const POLL: Duration = Duration::from_secs(2);

/// Wait until the request behind `accessor` is approved, then collect `path`'s credential.
/// A denied or expired request, or SIGINT/SIGTERM/SIGHUP while waiting, ends the wait.
pub async fn wait(
    client: &Client,
    path: &str,
    accessor: &str,
    token: &SecretString,
) -> Result<Leased, CliError> {
    let listen = |k| signal(k).map_err(|e| CliError::local(format!("cannot handle signals: {e}")));
    let mut sigint = listen(SignalKind::interrupt())?;
    let mut sigterm = listen(SignalKind::terminate())?;
    let mut sighup = listen(SignalKind::hangup())?;
    eprintln!("{path} needs approval: waiting for request {accessor} to be approved...");
    loop {
        let answer = client
            .write("sys/control-group/request", &json!({"accessor": accessor}))
            .await?;
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        if data.get("approved").and_then(Value::as_bool) == Some(true) {
            break;
        }
        let state = data.get("state").and_then(Value::as_str).unwrap_or("");
        if matches!(state, "denied" | "expired" | "collected") {
            return Err(CliError::local(format!(
                "the approval request {accessor} for {path} is {state}; nothing was issued"
            )));
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = sigint.recv() => return Err(interrupted(accessor)),
            _ = sigterm.recv() => return Err(interrupted(accessor)),
            _ = sighup.recv() => return Err(interrupted(accessor)),
        }
    }
    let answer = client
        .write(
            "sys/wrapping/unwrap",
            &json!({"token": token.expose_secret()}),
        )
        .await?;
    Ok(from_answer(path, &answer))
}

fn interrupted(accessor: &str) -> CliError {
    CliError::local(format!(
        "interrupted while waiting for approval of {accessor}; nothing was issued"
    ))
}
