//! `run`: a credential that lives exactly as long as a command. Each `-secret` is leased (with
//! the purpose and ticket), handed to the command in its environment or in files, renewed in
//! the background while it runs, and revoked synchronously when it ends — however it ends — so
//! that the account is gone from the target when `run` exits.
//!
//! - `run/purpose.rs`: the default purpose from the CI job;
//! - `run/mapping.rs`: `-env` and `-file`;
//! - `run/lease.rs`: obtaining and revoking; `run/approval.rs`: `-wait-approval`;
//! - `run/renew.rs`: the renewal of one lease; `run/child.rs`: the command, signals, max TTL.

mod approval;
mod child;
mod lease;
mod mapping;
mod purpose;
mod renew;

use std::io::Write as _;
use std::path::PathBuf;

use futures_util::future::join_all;
use leasehold_backend::duration::parse_duration;
use tokio::time::Instant;

use self::child::OnMaxTtl;
use self::lease::{Leased, NotLeased};
use self::mapping::Plan;
use crate::cli::client::Client;
use crate::cli::error::CliError;

/// `run -secret PATH [...] [-env NAME=FIELD ...] [-file PATH[=FIELD] ...] -- COMMAND [ARGS]`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Run {
    /// A path to lease a credential from (e.g. database/creds/migrate); repeat for several.
    #[arg(long = "secret", required = true, value_name = "PATH")]
    pub secrets: Vec<String>,
    /// Why the credential is needed, stored on the lease and in the audit log (default: the CI
    /// job's URL on GitHub Actions, GitLab, Jenkins, Buildkite or CircleCI; else none).
    #[arg(long)]
    pub purpose: Option<String>,
    /// A change or incident ticket, stored with the purpose.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Put a field in the command's environment: NAME=field, or with several -secret
    /// NAME=PATH:field or NAME=N:field (N counts -secret from 1). Repeatable.
    #[arg(long = "env", value_name = "NAME=FIELD")]
    pub env: Vec<String>,
    /// Write a field's value (PATH=FIELD), or all fields as JSON (PATH), to a new file readable
    /// only by you; removed when the command ends. Repeatable.
    #[arg(long = "file", value_name = "PATH[=FIELD]")]
    pub files: Vec<String>,
    /// When a credential cannot be renewed past its max TTL before the command ends: `warn`
    /// on stderr, or `kill` (warn, then SIGTERM the command, and SIGKILL after -kill-grace,
    /// before the credential ends).
    #[arg(long = "on-max-ttl", value_enum, default_value = "warn")]
    pub on_max_ttl: OnMaxTtl,
    /// With -on-max-ttl=kill: how long the command has between SIGTERM and SIGKILL.
    #[arg(long = "kill-grace", default_value = "10s", value_name = "DURATION")]
    pub kill_grace: String,
    /// When a credential needs approval, wait for it (polling the request) instead of exiting 2.
    #[arg(long = "wait-approval")]
    pub wait_approval: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

const AFTER_HELP: &str = "\
Without -env or -file, every field goes into the environment as <ROLE>_<FIELD>, upper-cased
(database/creds/migrate gives MIGRATE_USERNAME and MIGRATE_PASSWORD).

Leases are renewed when two thirds of their TTL have passed. When the command ends (success,
failure, or a signal to run, which is passed on to it: SIGINT, SIGTERM, SIGHUP), every lease is
revoked synchronously, and run exits with the command's exit code (128+N if signal N killed it).
If a revocation fails, run says so and exits non-zero; that lease still ends at its TTL.

If run itself is killed with SIGKILL, nothing revokes the leases: each credential lives until its
current TTL runs out (at most one TTL after run died), and then the server's expiry destroys it.

A credential that needs approval: run prints the request's accessor and exits 2, or with
-wait-approval waits for the approval and collects it.";

impl Run {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let plan = Plan::parse(&self.secrets, &self.env, &self.files)?;
        let grace = parse_duration(&self.kill_grace)
            .map_err(|e| CliError::local(format!("-kill-grace: {e}")))?;
        let purpose = self
            .purpose
            .clone()
            .filter(|p| !p.trim().is_empty())
            .or_else(|| purpose::from_ci(|k| std::env::var(k).ok()));

        let mut leases: Vec<Leased> = Vec::new();
        let mut obtained: Vec<Instant> = Vec::new();
        for path in &self.secrets {
            let asked = Instant::now();
            let got = match lease::obtain(client, path, purpose.as_deref(), self.ticket.as_deref())
                .await
            {
                Ok(l) => Ok(l),
                Err(NotLeased::Held { accessor, token }) if self.wait_approval => {
                    approval::wait(client, path, &accessor, &token).await
                }
                Err(NotLeased::Held { accessor, .. }) => {
                    lease::revoke_all(client, &leases).await;
                    eprintln!(
                        "{path} needs approval before it is issued; nothing was issued for it.\n\n\
                         Request accessor: {accessor}\n\n\
                         Ask an approver to approve it, then run again with -wait-approval, or \
                         start with -wait-approval to wait for it."
                    );
                    exit_now(2);
                }
                Err(NotLeased::Failed(e)) => Err(e),
            };
            match got {
                Ok(l) => {
                    leases.push(l);
                    obtained.push(asked);
                }
                Err(e) => {
                    lease::revoke_all(client, &leases).await;
                    return Err(e);
                }
            }
        }
        let fields: Vec<mapping::Fields> = leases.iter().map(|l| l.fields.clone()).collect();
        let mut written: Vec<PathBuf> = Vec::new();
        let prepared = plan.environment(&self.secrets, &fields).and_then(|env| {
            plan.write_files(&self.secrets, &fields, &mut written)
                .map(|()| env)
        });
        let env = match prepared {
            Ok(env) => env,
            Err(e) => {
                mapping::remove_files(&written);
                lease::revoke_all(client, &leases).await;
                return Err(e);
            }
        };

        let (tx, endings) = tokio::sync::mpsc::unbounded_channel();
        let renewals = join_all(
            leases
                .iter()
                .zip(&obtained)
                .map(|(l, asked)| renew::keep_alive(client, l, *asked, tx.clone())),
        );
        drop(tx);
        let status = child::supervise(
            &self.command,
            &env,
            async {
                renewals.await;
            },
            endings,
            self.on_max_ttl,
            grace,
        )
        .await;
        // The renewals ended with `supervise`: none can race the revocations below.
        let files_ok = mapping::remove_files(&written);
        let revoked = lease::revoke_all(client, &leases).await;
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                exit_now(1);
            }
        };
        let code = child::exit_code(status);
        if (!revoked || !files_ok) && code == 0 {
            exit_now(2);
        }
        exit_now(code)
    }
}

/// Exit with `code` now. `run`'s code is the command's, which the CLI's error type cannot
/// carry; everything that needs doing (revocations, files) is done by the time this is called.
fn exit_now(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(i32::from(code))
}
