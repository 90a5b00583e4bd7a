//! `status`: seal status and HA state, as `vault status` prints them. Exit 0 when unsealed
//! (leasehold is never sealed while it answers), 2 when the server answers an error, 1 when it
//! cannot be reached.

use serde_json::{json, Value};

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::output::Output;

/// `status`.
#[derive(Debug, clap::Args)]
pub struct Status {
    #[command(flatten)]
    pub out: Output,
}

impl Status {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let seal = client.read("sys/seal-status").await?;
        let leader = client.read("sys/leader").await.unwrap_or(Value::Null);
        let pick = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let rows = vec![
            ("Seal Type".to_owned(), pick(&seal, "type")),
            ("Initialized".to_owned(), pick(&seal, "initialized")),
            ("Sealed".to_owned(), pick(&seal, "sealed")),
            ("Total Shares".to_owned(), pick(&seal, "n")),
            ("Threshold".to_owned(), pick(&seal, "t")),
            ("Version".to_owned(), pick(&seal, "version")),
            ("Storage Type".to_owned(), pick(&seal, "storage_type")),
            ("Cluster ID".to_owned(), pick(&seal, "cluster_id")),
            ("HA Enabled".to_owned(), pick(&leader, "ha_enabled")),
            (
                "Active Node Address".to_owned(),
                pick(&leader, "leader_address"),
            ),
            ("Address".to_owned(), json!(client.addr())),
        ];
        self.out.rows(&rows)
    }
}
