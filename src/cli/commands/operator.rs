//! The client-side `operator` commands, over the server's `sys/` handlers: `key-status` and
//! `rotate` (the seal keyring's terms), `members` (the nodes sharing the storage) and
//! `reconcile` (accounts on the targets that no live lease describes). `operator generate-root`
//! is not here: it runs on the server's machine (`cli/server.rs`).

use serde_json::{json, Value};

use crate::cli::client::Client;
use crate::cli::commands::columns::print_columns;
use crate::cli::error::CliError;
use crate::cli::output::{plain, Format, Output};

/// `operator key-status`.
#[derive(Debug, clap::Args)]
pub struct KeyStatus {
    #[command(flatten)]
    pub out: Output,
}

/// `operator rotate`.
#[derive(Debug, clap::Args)]
pub struct Rotate {
    #[command(flatten)]
    pub out: Output,
}

/// `operator members`.
#[derive(Debug, clap::Args)]
pub struct Members {
    #[command(flatten)]
    pub out: Output,
}

/// `operator reconcile [-mount=M] [-destroy]`.
#[derive(Debug, clap::Args)]
pub struct Reconcile {
    /// Only this secrets mount (default: every one).
    #[arg(long)]
    pub mount: Option<String>,
    /// Destroy the orphans whose names carry this mount's marker (the others are only listed).
    #[arg(long)]
    pub destroy: bool,
    #[command(flatten)]
    pub out: Output,
}

fn key_rows(answer: &Value) -> Vec<(String, Value)> {
    // sys/key-status answers its fields under `data` and at the top level.
    let data = answer.get("data").unwrap_or(answer);
    let pick = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
    vec![
        ("Key Term".to_owned(), pick("term")),
        ("Install Time".to_owned(), pick("install_time")),
        ("Encryption Count".to_owned(), pick("encryptions")),
    ]
}

impl KeyStatus {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = client.read("sys/key-status").await?;
        self.out.rows(&key_rows(&answer))
    }
}

impl Rotate {
    /// Run: a new key term, which seals new values at once (older ones are re-sealed in the
    /// background); then the new term.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        client.write("sys/rotate", &json!({})).await?;
        let answer = client.read("sys/key-status").await?;
        if self.out.field.is_none() && self.out.format() == Format::Table {
            println!("Success! Rotated key\n");
        }
        self.out.rows(&key_rows(&answer))
    }
}

impl Members {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = client.read("sys/ha-status").await?;
        let nodes = answer
            .pointer("/data/nodes")
            .or_else(|| answer.get("nodes"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if self.out.format() == Format::Json {
            return self.out.rows(&[("nodes".to_owned(), Value::Array(nodes))]);
        }
        let text = |n: &Value, k: &str| plain(n.get(k).unwrap_or(&Value::Null));
        let rows: Vec<Vec<String>> = nodes
            .iter()
            .map(|n| {
                vec![
                    text(n, "hostname"),
                    text(n, "node_id"),
                    text(n, "api_address"),
                    text(n, "active_node"),
                    text(n, "version"),
                    text(n, "last_echo"),
                ]
            })
            .collect();
        print_columns(
            &[
                "Host Name",
                "Node ID",
                "API Address",
                "Active Node",
                "Version",
                "Last Echo",
            ],
            &rows,
        );
        Ok(())
    }
}

impl Reconcile {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let mount = self.mount.as_deref().map(|m| m.trim_matches('/'));
        let answer = if self.destroy {
            let mut body = serde_json::Map::new();
            body.insert("destroy".into(), json!(true));
            if let Some(m) = mount {
                body.insert("mount".into(), json!(m));
            }
            let body = Value::Object(body);
            client.write("sys/leases/reconcile", &body).await?
        } else {
            let path = match mount {
                Some(m) => format!("sys/leases/reconcile/{m}"),
                None => "sys/leases/reconcile".to_owned(),
            };
            client.read(&path).await?
        };
        if self.out.field.is_some() || self.out.format() == Format::Json {
            return self.out.secret(&answer);
        }
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        let orphans = data
            .get("orphans")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        println!(
            "Mounts checked: {}",
            plain(data.get("mounts_checked").unwrap_or(&Value::Null))
        );
        if let Some(errors) = data.get("mount_errors").and_then(Value::as_object) {
            for (m, e) in errors {
                println!("Could not list {m}: {}", plain(e));
            }
        }
        if orphans.is_empty() {
            println!("No orphaned accounts.");
            return Ok(());
        }
        println!("Orphaned accounts: {}\n", orphans.len());
        let text = |o: &Value, k: &str| plain(o.get(k).unwrap_or(&Value::Null));
        let rows: Vec<Vec<String>> = orphans
            .iter()
            .map(|o| {
                let outcome = match o.get("destroyed") {
                    Some(Value::Bool(true)) => "destroyed".to_owned(),
                    Some(Value::Bool(false)) => format!("not destroyed: {}", text(o, "error")),
                    _ if text(o, "marked") == "true" => "kept (ours; -destroy removes it)".into(),
                    _ => "kept (not marked as ours)".into(),
                };
                vec![
                    text(o, "mount"),
                    text(o, "target"),
                    text(o, "account"),
                    text(o, "marked"),
                    outcome,
                ]
            })
            .collect();
        print_columns(&["Mount", "Target", "Account", "Marked", "Outcome"], &rows);
        Ok(())
    }
}
