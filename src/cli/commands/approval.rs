//! `approval list|status|approve|deny|collect`: requests held for approval (see the README's
//! "Approval before privilege"), over `sys/control-group/*`. A requester's `read` of a role
//! with an approval tier answers a wrapping token; approvers decide on its accessor; the
//! requester collects the credential with the token once approved.

use serde_json::{json, Map, Value};

use crate::cli::client::Client;
use crate::cli::commands::columns::print_columns;
use crate::cli::commands::kv::with_query;
use crate::cli::commands::unwrap::unwrap;
use crate::cli::error::CliError;
use crate::cli::output::{go_duration, plain, Format, Output};

/// `approval ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ApprovalCommand {
    /// Open requests (waiting for approval or collection), oldest first.
    List(List),
    /// One request: its state, approvals, purpose and ticket.
    Status(Status),
    /// Approve the request behind ACCESSOR (the wrapping token's accessor).
    Approve(Decide),
    /// Deny the request behind ACCESSOR; it can never be collected.
    Deny(Decide),
    /// Collect an approved request's credential with its wrapping token (once).
    Collect(Collect),
}

/// `approval list [-role=R] [-mount=M] [-requester=W] [-min-age=D] [-approvable]`.
#[derive(Debug, clap::Args)]
pub struct List {
    /// Only requests for this role.
    #[arg(long)]
    pub role: Option<String>,
    /// Only requests on this mount (`database`).
    #[arg(long)]
    pub mount: Option<String>,
    /// Only requests of this workload or token accessor.
    #[arg(long)]
    pub requester: Option<String>,
    /// Only requests at least this old (`10m`).
    #[arg(long)]
    pub min_age: Option<String>,
    /// Only requests the caller may decide.
    #[arg(long)]
    pub approvable: bool,
    #[command(flatten)]
    pub out: Output,
}

/// `approval status ACCESSOR`.
#[derive(Debug, clap::Args)]
pub struct Status {
    /// The wrapping token's accessor.
    pub accessor: String,
    #[command(flatten)]
    pub out: Output,
}

/// `approval approve|deny ACCESSOR [-comment=TEXT]`.
#[derive(Debug, clap::Args)]
pub struct Decide {
    /// The wrapping token's accessor.
    pub accessor: String,
    /// Why, for the audit log (at most 1024 characters).
    #[arg(long)]
    pub comment: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

/// `approval collect WRAPPING_TOKEN`.
#[derive(Debug, clap::Args)]
pub struct Collect {
    /// The wrapping token the held `read` answered.
    pub token: String,
    #[command(flatten)]
    pub out: Output,
}

impl ApprovalCommand {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        match self {
            ApprovalCommand::List(c) => c.run(client).await,
            ApprovalCommand::Status(c) => c.run(client).await,
            ApprovalCommand::Approve(c) => c.run(client, true).await,
            ApprovalCommand::Deny(c) => c.run(client, false).await,
            ApprovalCommand::Collect(c) => c.run(client).await,
        }
    }
}

impl List {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let mut query = Map::new();
        for (k, v) in [
            ("role", self.role),
            ("mount", self.mount),
            ("requester", self.requester),
            ("min_age", self.min_age),
        ] {
            if let Some(v) = v {
                query.insert(k.into(), json!(v));
            }
        }
        if self.approvable {
            query.insert("approvable".into(), json!("true"));
        }
        let path = with_query("sys/control-group/requests", &query)?;
        let answer = match client.list(&path).await {
            Ok(a) => a,
            // The server answers 404 for an empty list, as every LIST does.
            Err(e) if e.status() == Some(404) => Value::Null,
            Err(e) => return Err(e),
        };
        let info = answer
            .pointer("/data/key_info")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut requests: Vec<(String, Value)> = info.into_iter().collect();
        requests.sort_by_key(|(_, r)| r.get("created").map(Value::to_string));
        if self.out.format() == Format::Json {
            return self.out.rows(&requests);
        }
        if requests.is_empty() {
            println!("No approval requests are open.");
            return Ok(());
        }
        let text = |r: &Value, k: &str| plain(r.get(k).unwrap_or(&Value::Null));
        let rows: Vec<Vec<String>> = requests
            .iter()
            .map(|(accessor, r)| {
                let requester = r
                    .get("requester_workload")
                    .and_then(Value::as_str)
                    .filter(|w| !w.is_empty())
                    .or_else(|| r.get("requester_display_name").and_then(Value::as_str))
                    .unwrap_or("")
                    .to_owned();
                vec![
                    accessor.clone(),
                    format!("{}{}", text(r, "mount"), text(r, "role")),
                    text(r, "state"),
                    requester,
                    go_duration(r.get("age_seconds").and_then(Value::as_u64).unwrap_or(0)),
                    text(r, "approvals"),
                    text(r, "purpose"),
                    text(r, "ticket"),
                ]
            })
            .collect();
        print_columns(
            &[
                "Accessor",
                "Role",
                "State",
                "Requester",
                "Age",
                "Approvals",
                "Purpose",
                "Ticket",
            ],
            &rows,
        );
        Ok(())
    }
}

impl Status {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = client
            .write(
                "sys/control-group/request",
                &json!({ "accessor": self.accessor }),
            )
            .await?;
        self.out.secret(&answer)
    }
}

impl Decide {
    async fn run(self, client: &Client, approve: bool) -> Result<(), CliError> {
        let mut body = Map::new();
        body.insert("accessor".into(), json!(self.accessor));
        if let Some(c) = &self.comment {
            body.insert("comment".into(), json!(c));
        }
        let body = Value::Object(body);
        let verb = if approve { "authorize" } else { "deny" };
        let answer = client
            .write(&format!("sys/control-group/{verb}"), &body)
            .await?;
        if self.out.field.is_some() || self.out.format() == Format::Json {
            return self.out.secret(&answer);
        }
        let approved = answer
            .pointer("/data/approved")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !approve {
            println!(
                "Success! Denied request {}; it can never be collected.",
                self.accessor
            );
        } else if approved {
            println!(
                "Success! Request {} is approved; the requester can collect it now with \
                 `approval collect <wrapping token>`.",
                self.accessor
            );
        } else {
            println!(
                "Success! Approval recorded for {}; the request still needs more approvals \
                 (one approver counts once).",
                self.accessor
            );
        }
        Ok(())
    }
}

impl Collect {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = unwrap(client, Some(&self.token)).await?;
        self.out.secret(&answer)
    }
}
