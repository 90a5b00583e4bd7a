//! `lease history` and `lease report`: the access history (`sys/leases/history`) and its
//! summary (`sys/leases/history/summary`), through the same API the console uses. `history`
//! prints a table, JSON (`-format=json`), or an export (`-export=jsonl|csv`, written as the
//! server writes its own exports); `-all` follows the cursor to the end.

use serde_json::{json, Map, Value};

use super::columns::print_columns;
use super::lease::{at, Paging, Scope};
use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::output::{data, plain, Format, Output};
use crate::core::system::history_export::{csv_header, csv_record};

/// The filters both commands take (each one the query field of the same name).
#[derive(Debug, Clone, clap::Args)]
pub struct Filters {
    #[command(flatten)]
    pub scope: Scope,
    /// Only leases of this account (the user name on the target).
    #[arg(long)]
    pub account: Option<String>,
    /// Only leases obtained with the token of this accessor.
    #[arg(long)]
    pub accessor: Option<String>,
    /// Only leases whose purpose contains this text.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Only leases with this ticket.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Only leases that held privilege at or after this time (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub since: Option<String>,
    /// Only leases issued before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Only `live` or `ended` leases.
    #[arg(long)]
    pub state: Option<String>,
    /// Only leases that outlived their expiry.
    #[arg(long)]
    pub overstayed: bool,
    /// Only leases whose destruction found no session open (where the target can tell).
    #[arg(long)]
    pub unused: bool,
}

impl Filters {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = self.scope.pairs();
        for (k, v) in [
            ("account", &self.account),
            ("accessor", &self.accessor),
            ("purpose", &self.purpose),
            ("ticket", &self.ticket),
            ("since", &self.since),
            ("until", &self.until),
            ("state", &self.state),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        for (k, on) in [("overstayed", self.overstayed), ("unused", self.unused)] {
            if on {
                pairs.push((k, "true".into()));
            }
        }
        pairs
    }
}

fn path(base: &str, pairs: Vec<(&str, String)>) -> Result<String, CliError> {
    if pairs.is_empty() {
        return Ok(base.to_owned());
    }
    let q =
        serde_urlencoded::to_string(pairs).map_err(|e| CliError::local(format!("query: {e}")))?;
    Ok(format!("{base}?{q}"))
}

/// How `lease history` writes the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Export {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header line.
    Csv,
}

/// `lease history [filters] [-after] [-limit] [-all] [-export=jsonl|csv]`.
#[derive(Debug, clap::Args)]
pub struct History {
    #[command(flatten)]
    pub filters: Filters,
    #[command(flatten)]
    pub paging: Paging,
    /// Write the rows as JSON lines or CSV instead of a table.
    #[arg(long, value_enum)]
    pub export: Option<Export>,
    #[command(flatten)]
    pub out: Output,
}

impl History {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let mut after = self.paging.after.clone();
        let mut rows: Vec<Value> = Vec::new();
        let next = loop {
            let mut pairs = self.filters.pairs();
            if let Some(a) = &after {
                pairs.push(("after", a.clone()));
            }
            if let Some(l) = self.paging.limit {
                pairs.push(("limit", l.to_string()));
            }
            let answer = client.read(&path("sys/leases/history", pairs)?).await?;
            let d = data(&answer);
            rows.extend(
                d.get("leases")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            let next = d
                .get("next_after")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match next {
                Some(n) if self.paging.all => after = Some(n),
                other => break other,
            }
        };
        match (self.export, self.out.format()) {
            (Some(Export::Jsonl), _) => {
                for r in &rows {
                    println!("{r}");
                }
            }
            (Some(Export::Csv), _) => {
                print!("{}", csv_header());
                for r in &rows {
                    print!("{}", csv_record(r));
                }
            }
            (None, Format::Json) => {
                let mut all = Map::new();
                all.insert("leases".into(), Value::Array(rows));
                all.insert("next_after".into(), json!(next));
                println!(
                    "{}",
                    serde_json::to_string_pretty(&Value::Object(all))
                        .map_err(|e| CliError::local(e.to_string()))?
                );
                return Ok(());
            }
            (None, Format::Table) => print_table(&rows),
        }
        if let Some(n) = next {
            eprintln!("More leases follow: rerun with -after={n} (or -all)");
        }
        Ok(())
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => plain(other),
    }
}

fn print_table(rows: &[Value]) {
    if rows.is_empty() {
        println!("No leases found");
        return;
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let state = match at(r, "ending") {
                Value::Null => cell(at(r, "state")),
                ending => cell(ending),
            };
            [
                "lease_id",
                "account",
                "workload",
                "issued_at",
                "ended_at",
                "privilege_seconds",
                "sessions_terminated",
            ]
            .iter()
            .map(|k| cell(at(r, k)))
            .chain(std::iter::once(state))
            .collect()
        })
        .collect();
    print_columns(
        &[
            "Lease ID",
            "Account",
            "Workload",
            "Issued",
            "Ended",
            "Privilege (s)",
            "Sessions",
            "Ending",
        ],
        &table,
    );
}

/// `lease report [filters] [-by=workload|role|account] [-period=day|week]`.
#[derive(Debug, clap::Args)]
pub struct Report {
    #[command(flatten)]
    pub filters: Filters,
    /// Group by `workload` (the default), `role` or `account`.
    #[arg(long)]
    pub by: Option<String>,
    /// Add up per `day` (the default) or `week` (starting Monday, UTC) of issue.
    #[arg(long)]
    pub period: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

impl Report {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let mut pairs = self.filters.pairs();
        for (k, v) in [("by", &self.by), ("period", &self.period)] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        let answer = client
            .read(&path("sys/leases/history/summary", pairs)?)
            .await?;
        if self.out.field.is_some() || self.out.format() == Format::Json {
            return self.out.secret(&answer);
        }
        let d = data(&answer);
        let groups = d
            .get("groups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if groups.is_empty() {
            println!("No leases found");
            return Ok(());
        }
        let columns = [
            "key",
            "period_start",
            "leases",
            "privilege_seconds",
            "overstayed",
            "unused",
            "live",
        ];
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| columns.iter().map(|k| cell(at(g, k))).collect())
            .collect();
        let by = d.get("by").map(cell).unwrap_or_default();
        let by = by.as_str();
        print_columns(
            &[
                by,
                "Period",
                "Leases",
                "Privilege (s)",
                "Overstayed",
                "Unused",
                "Live",
            ],
            &rows,
        );
        let totals = d.get("totals").unwrap_or(&Value::Null);
        println!(
            "Total: {} leases, {} privilege-seconds, {} overstayed, {} unused, {} live",
            cell(at(totals, "leases")),
            cell(at(totals, "privilege_seconds")),
            cell(at(totals, "overstayed")),
            cell(at(totals, "unused")),
            cell(at(totals, "live")),
        );
        Ok(())
    }
}
