//! `audit enable|list|disable`: audit devices at `sys/audit`, in the `vault` CLI's shapes
//! (`audit enable file file_path=/var/log/leasehold/audit.log`); `audit key` prints the public
//! key a device signs its checkpoints with, and `audit verify` checks files with it offline.

mod verify;

pub use verify::Verify;

use serde_json::{json, Value};

use crate::cli::args::parse_pairs;
use crate::cli::client::Client;
use crate::cli::commands::columns::print_columns;
use crate::cli::commands::secrets::{mount_path, mounts_of};
use crate::cli::error::CliError;
use crate::cli::output::{plain, Format, Output};

/// `audit ...`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Turn on an audit device of TYPE (file, socket, stdout) with its options as k=v.
    Enable(Enable),
    /// The audit devices turned on.
    List(List),
    /// Turn off the audit device at PATH.
    Disable(Disable),
    /// Print the public key that verifies the checkpoints of the audit device at PATH.
    Key(Key),
    /// Check audit files offline: every entry linked, nothing edited, removed or reordered,
    /// checkpoints signed by the device's key (exit 0 verified, 3 broken, 4 not sealed).
    Verify(Verify),
}

/// `audit key PATH`.
#[derive(Debug, clap::Args)]
pub struct Key {
    /// The device's path.
    pub path: String,
}

/// `audit enable [-path=P] [-description=D] TYPE [k=v ...]`.
#[derive(Debug, clap::Args)]
pub struct Enable {
    /// Where the device lives (default: its type).
    #[arg(long)]
    pub path: Option<String>,
    /// A description shown by `audit list`.
    #[arg(long)]
    pub description: Option<String>,
    /// The device's type.
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// The device's options, e.g. `file_path=/var/log/audit.log`.
    pub options: Vec<String>,
}

/// `audit list [-detailed]`.
#[derive(Debug, clap::Args)]
pub struct List {
    /// Show each device's options too.
    #[arg(long)]
    pub detailed: bool,
    #[command(flatten)]
    pub out: Output,
}

/// `audit disable PATH`.
#[derive(Debug, clap::Args)]
pub struct Disable {
    /// The device's path.
    pub path: String,
}

impl AuditCommand {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        match self {
            AuditCommand::Enable(c) => c.run(client).await,
            AuditCommand::List(c) => c.run(client).await,
            AuditCommand::Disable(c) => c.run(client).await,
            AuditCommand::Key(c) => c.run(client).await,
            AuditCommand::Verify(c) => c.run(),
        }
    }
}

impl Enable {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let path = mount_path(self.path.as_deref().unwrap_or(&self.kind));
        let options = parse_pairs(&self.options)?;
        let body = json!({
            "type": self.kind,
            "description": self.description.unwrap_or_default(),
            "options": options,
        });
        client
            .write(&format!("sys/audit/{}", path.trim_end_matches('/')), &body)
            .await?;
        println!("Success! Enabled the {} audit device at: {path}", self.kind);
        Ok(())
    }
}

impl List {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = client.read("sys/audit").await?;
        let devices = mounts_of(&answer);
        if self.out.format() == Format::Json {
            return self.out.rows(&devices);
        }
        if devices.is_empty() {
            println!("No audit devices are enabled.");
            return Ok(());
        }
        let text = |d: &Value, k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let rows: Vec<Vec<String>> = devices
            .iter()
            .map(|(path, d)| {
                let mut row = vec![path.clone(), text(d, "type"), text(d, "description")];
                if self.detailed {
                    row.push(plain(d.get("options").unwrap_or(&Value::Null)));
                }
                row
            })
            .collect();
        if self.detailed {
            print_columns(&["Path", "Type", "Description", "Options"], &rows);
        } else {
            print_columns(&["Path", "Type", "Description"], &rows);
        }
        Ok(())
    }
}

impl Disable {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let path = mount_path(&self.path);
        client
            .delete(&format!("sys/audit/{}", path.trim_end_matches('/')))
            .await?;
        println!("Success! Disabled audit device (if it was enabled) at: {path}");
        Ok(())
    }
}

impl Key {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let path = mount_path(&self.path);
        let answer = client.read("sys/audit").await?;
        let key = mounts_of(&answer)
            .into_iter()
            .find(|(p, _)| *p == path)
            .and_then(|(_, d)| {
                d.get("chain_key")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .ok_or_else(|| CliError::local(format!("no audit device at {path}")))?;
        println!("{key}");
        Ok(())
    }
}
