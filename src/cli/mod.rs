//! The `leasehold` command. `server` and `operator generate-root` run on the server's machine;
//! everything else is a client of the HTTP API in the `vault` CLI's shapes — the same commands,
//! flags, environment (`VAULT_ADDR`, `VAULT_TOKEN`, `~/.vault-token`, `VAULT_CACERT`,
//! `VAULT_SKIP_VERIFY`, `VAULT_FORMAT`), output and exit codes (0 ok, 1 a local error, 2 an error
//! the server answered). Vault's single-dash long flags (`-format=json`) are accepted as well as
//! `--`.
//!
//! - `client.rs`: the connection; `error.rs`: failures and exit codes; `output.rs`: table, JSON
//!   and `-field`; `args.rs`: `k=v` arguments;
//! - `server.rs`: the server and generate-root; `commands/`: one file per command family.

pub mod args;
pub mod client;
pub mod commands;
pub mod completion;
pub mod error;
pub mod output;
pub mod server;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use client::Client;
use error::CliError;

#[derive(Parser)]
#[command(
    name = "leasehold",
    version,
    about = "Vault-compatible dynamic secrets whose leases really end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    ///
    /// With -config FILE (TOML), or with the environment alone: every config key has an
    /// environment variable (listed below) that overrides the file. Outside dev mode a seal key
    /// is required (seal.key_file or LEASEHOLD_SEAL_KEY_FILE; make one with `openssl rand -hex 32
    /// > leasehold.key`). SQLite storage defaults to ./leasehold.db.
    ///
    /// With -dev: in-memory storage, a generated seal key, a root token printed at start, and no
    /// secrets engine mounted (as `vault server -dev`). Never for production.
    Server(server::ServerArgs),
    /// Operator tasks.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Print the server's seal and HA status.
    Status(commands::status::Status),
    /// Read a path (GET).
    Read(commands::kv::Read),
    /// Write to a path (PUT) with k=v, k=@file, k=- or - (a JSON object on stdin).
    Write(commands::kv::Write),
    /// List the keys below a path.
    List(commands::kv::List),
    /// Delete a path.
    Delete(commands::kv::Delete),
    /// Look up, renew, revoke and list leases.
    #[command(subcommand)]
    Lease(commands::lease::Lease),
    /// Create, look up, renew and revoke tokens; ask what a token may do.
    #[command(subcommand)]
    Token(commands::token::Token),
    /// Secrets engines: enable, disable, list.
    #[command(subcommand)]
    Secrets(commands::secrets::SecretsCommand),
    /// ACL policies: write, read, list, delete, fmt.
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Audit devices: enable, list, disable; print a device's chain key; verify audit files.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Authenticate and store the token in ~/.vault-token.
    Login(commands::login::Login),
    /// The response behind a wrapping token.
    Unwrap(commands::unwrap::Unwrap),
    /// Requests held for approval: list, status, approve, deny, collect.
    #[command(subcommand)]
    Approval(commands::approval::ApprovalCommand),
    /// Run a command with credentials that are leased for it, renewed while it runs and
    /// revoked when it ends.
    Run(commands::run::Run),
    /// Print a shell completion script: `leasehold completion bash > /etc/bash_completion.d/leasehold`.
    Completion(completion::CompletionArgs),
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Mint a new root token with the seal key (when the root token is lost or revoked), print it
    /// once, and log its accessor. Runs on the server's machine, against its storage.
    GenerateRoot(server::GenerateRootArgs),
    /// The seal keyring's current term, when it was installed and how much it sealed.
    KeyStatus(commands::operator::KeyStatus),
    /// Add a new seal key term; new values are sealed with it at once.
    Rotate(commands::operator::Rotate),
    /// The nodes sharing this server's storage.
    Members(commands::operator::Members),
    /// Accounts on the targets that no live lease describes; -destroy removes ours.
    Reconcile(commands::operator::Reconcile),
}

/// Turn `-flag` into `--flag` for multi-letter flags, as Vault users type them. Arguments after
/// `--` are left alone (they belong to a child command).
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut passthrough = false;
    args.into_iter()
        .map(|a| {
            if passthrough {
                return a;
            }
            if a == "--" {
                passthrough = true;
                return a;
            }
            if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 {
                format!("-{a}")
            } else {
                a
            }
        })
        .collect()
}

/// Parse the process's arguments and run the command; the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args())) {
        Ok(cli) => cli,
        // Help and version go to stdout with 0; a usage error is a local error (1), as the
        // `vault` CLI's — clap's own default (2) would read as "the server said no".
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Server(args) => return report_anyhow(server::server_command(args).await),
        Command::Completion(args) => {
            return report_anyhow(completion::completion(args, Cli::command()))
        }
        Command::Operator(OperatorCommand::GenerateRoot(args)) => {
            return report_anyhow(server::generate_root_command(args).await)
        }
        // Local: needs no server, so no client configuration can fail it.
        Command::Policy(commands::policy::PolicyCommand::Fmt(c)) => c.run(),
        Command::Audit(commands::audit::AuditCommand::Verify(c)) => c.run(),
        other => match Client::from_env() {
            Ok(client) => client_command(other, &client).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A verdict was printed by its command; it has nothing more to say.
        Err(e @ CliError::Verdict(_)) => ExitCode::from(e.exit_code()),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn client_command(command: Command, client: &Client) -> Result<(), CliError> {
    match command {
        Command::Status(c) => c.run(client).await,
        Command::Read(c) => c.run(client).await,
        Command::Write(c) => c.run(client).await,
        Command::List(c) => c.run(client).await,
        Command::Delete(c) => c.run(client).await,
        Command::Lease(c) => c.run(client).await,
        Command::Token(c) => c.run(client).await,
        Command::Secrets(c) => c.run(client).await,
        Command::Policy(c) => c.run(client).await,
        Command::Audit(c) => c.run(client).await,
        Command::Login(c) => c.run(client).await,
        Command::Unwrap(c) => c.run(client).await,
        Command::Approval(c) => c.run(client).await,
        Command::Operator(OperatorCommand::KeyStatus(c)) => c.run(client).await,
        Command::Operator(OperatorCommand::Rotate(c)) => c.run(client).await,
        Command::Operator(OperatorCommand::Members(c)) => c.run(client).await,
        Command::Operator(OperatorCommand::Reconcile(c)) => c.run(client).await,
        Command::Run(c) => c.run(client).await,
        Command::Server(_)
        | Command::Completion(_)
        | Command::Operator(OperatorCommand::GenerateRoot(_)) => Err(CliError::local(
            "internal: a server-side command reached the client dispatcher",
        )),
    }
}

/// A server-side command's error: its cause chain once, no backtrace.
fn report_anyhow(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Already in the log (JSON mode): printing it again would break the JSON stream.
        Err(e) if e.is::<server::Logged>() => ExitCode::from(1),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_dash_flags_become_double_but_not_after_the_separator() {
        let got = normalize_args(
            [
                "leasehold",
                "read",
                "-format=json",
                "-x",
                "x",
                "--",
                "-child-flag",
            ]
            .map(String::from),
        );
        assert_eq!(
            got,
            [
                "leasehold",
                "read",
                "--format=json",
                "-x",
                "x",
                "--",
                "-child-flag"
            ]
        );
    }
}
