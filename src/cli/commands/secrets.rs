//! `secrets enable|disable|list`: the secrets engines mounted at `sys/mounts`, in the `vault`
//! CLI's shapes. Disabling an engine destroys the accounts its leases hold first (the server's
//! rule, see `core::system::mounts`).

use serde_json::{json, Map, Value};

use crate::cli::client::Client;
use crate::cli::commands::columns::print_columns;
use crate::cli::error::CliError;
use crate::cli::output::{go_duration, Format, Output};

/// `secrets ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SecretsCommand {
    /// Mount a secrets engine of TYPE (database, aws) at -path (default: TYPE).
    Enable(Enable),
    /// Unmount the engine at PATH, destroying the accounts of its leases first.
    Disable(Disable),
    /// The mounted secrets engines.
    List(List),
}

/// `secrets enable [-path=P] [-description=D] [-default-lease-ttl=T] [-max-lease-ttl=T] TYPE`.
#[derive(Debug, clap::Args)]
pub struct Enable {
    /// Where to mount it (default: the type's name).
    #[arg(long)]
    pub path: Option<String>,
    /// A description shown by `secrets list`.
    #[arg(long)]
    pub description: Option<String>,
    /// The mount's default lease TTL (`1h`, `30m`, seconds).
    #[arg(long)]
    pub default_lease_ttl: Option<String>,
    /// The mount's maximum lease TTL.
    #[arg(long)]
    pub max_lease_ttl: Option<String>,
    /// The engine's type.
    #[arg(value_name = "TYPE")]
    pub kind: String,
}

/// `secrets disable PATH`.
#[derive(Debug, clap::Args)]
pub struct Disable {
    /// The mount path.
    pub path: String,
}

/// `secrets list [-detailed]`.
#[derive(Debug, clap::Args)]
pub struct List {
    /// Show TTLs and UUIDs too.
    #[arg(long)]
    pub detailed: bool,
    #[command(flatten)]
    pub out: Output,
}

impl SecretsCommand {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        match self {
            SecretsCommand::Enable(c) => c.run(client).await,
            SecretsCommand::Disable(c) => c.run(client).await,
            SecretsCommand::List(c) => c.run(client).await,
        }
    }
}

/// `a/b` → `a/b/`, as mount paths are shown.
pub fn mount_path(raw: &str) -> String {
    format!("{}/", raw.trim_matches('/'))
}

impl Enable {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let path = mount_path(self.path.as_deref().unwrap_or(&self.kind));
        let mut config = Map::new();
        if let Some(t) = self.default_lease_ttl {
            config.insert("default_lease_ttl".into(), json!(t));
        }
        if let Some(t) = self.max_lease_ttl {
            config.insert("max_lease_ttl".into(), json!(t));
        }
        let body = json!({
            "type": self.kind,
            "description": self.description.unwrap_or_default(),
            "config": config,
        });
        client
            .write(&format!("sys/mounts/{}", path.trim_end_matches('/')), &body)
            .await?;
        println!(
            "Success! Enabled the {} secrets engine at: {path}",
            self.kind
        );
        Ok(())
    }
}

impl Disable {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let path = mount_path(&self.path);
        client
            .delete(&format!("sys/mounts/{}", path.trim_end_matches('/')))
            .await?;
        println!("Success! Disabled the secrets engine (if it existed) at: {path}");
        Ok(())
    }
}

impl List {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = client.read("sys/mounts").await?;
        let mounts = mounts_of(&answer);
        if self.out.format() == Format::Json {
            return self.out.rows(&mounts.into_iter().collect::<Vec<_>>());
        }
        let text = |m: &Value, k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let ttl =
            |m: &Value, k: &str| match m.pointer(&format!("/config/{k}")).and_then(Value::as_u64) {
                None | Some(0) => "system".to_owned(),
                Some(s) => go_duration(s),
            };
        let rows: Vec<Vec<String>> = mounts
            .iter()
            .map(|(path, m)| {
                if self.detailed {
                    vec![
                        path.clone(),
                        text(m, "type"),
                        text(m, "accessor"),
                        ttl(m, "default_lease_ttl"),
                        ttl(m, "max_lease_ttl"),
                        text(m, "description"),
                        text(m, "uuid"),
                    ]
                } else {
                    vec![
                        path.clone(),
                        text(m, "type"),
                        text(m, "accessor"),
                        text(m, "description"),
                    ]
                }
            })
            .collect();
        if self.detailed {
            print_columns(
                &[
                    "Path",
                    "Plugin",
                    "Accessor",
                    "Default TTL",
                    "Max TTL",
                    "Description",
                    "UUID",
                ],
                &rows,
            );
        } else {
            print_columns(&["Path", "Type", "Accessor", "Description"], &rows);
        }
        Ok(())
    }
}

/// The `path/ → entry` map of a `sys/mounts` or `sys/auth` answer, sorted by path. The server
/// puts it under `data` and at the top level; only `data` is read, so the envelope's own fields
/// are never taken for mounts.
pub fn mounts_of(answer: &Value) -> Vec<(String, Value)> {
    let mut mounts: Vec<(String, Value)> = answer
        .get("data")
        .and_then(Value::as_object)
        .map(|d| {
            d.iter()
                .filter(|(_, v)| v.is_object())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    mounts
}
