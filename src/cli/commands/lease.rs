//! `lease lookup|renew|revoke|revoke-workload|list|history|report`: the `vault lease` commands,
//! and leasehold's own — `revoke-workload` (everything a workload holds, in one call, printing
//! each account destroyed and each still being retried), `list` (`LIST sys/leases/list`), and
//! `history` and `report` (the access history, `lease_history.rs`).

use serde_json::{json, Map, Value};

use crate::cli::client::Client;
use crate::cli::commands::columns::print_columns;
use crate::cli::error::CliError;
use crate::cli::output::{data, plain, Format, Output};

/// The `lease` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Lease {
    /// Look up a lease: its times, account, workload and where it is in its life.
    Lookup(Lookup),
    /// Extend a lease.
    Renew(Renew),
    /// Revoke a lease, or every lease below a prefix (-prefix), or remove them even when the
    /// account cannot be destroyed (-force -prefix).
    Revoke(Revoke),
    /// Revoke every lease and token of a workload (and of workloads below it), printing each
    /// account destroyed and each still being retried.
    RevokeWorkload(RevokeWorkload),
    /// List live leases, filtered by mount, role, workload or state.
    List(List),
    /// The access history: every lease, live and ended, filtered by mount, role, workload,
    /// account, token accessor, purpose, ticket or time; a table, JSON, or JSON lines / CSV.
    History(super::lease_history::History),
    /// Privilege-seconds, leases, overstayed and unused ones per workload, role or account and
    /// per day or week.
    Report(super::lease_history::Report),
}

/// `lease lookup ID`.
#[derive(Debug, clap::Args)]
pub struct Lookup {
    /// The lease id.
    pub id: String,
    #[command(flatten)]
    pub out: Output,
}

/// `lease renew [-increment=DUR] ID`.
#[derive(Debug, clap::Args)]
pub struct Renew {
    /// Ask for this much more time (`1h`, `30m`, seconds); the server caps it.
    #[arg(long)]
    pub increment: Option<String>,
    /// The lease id.
    pub id: String,
    #[command(flatten)]
    pub out: Output,
}

/// `lease revoke [-prefix] [-force] [-sync] ID`.
#[derive(Debug, clap::Args)]
pub struct Revoke {
    /// Treat ID as a prefix: revoke every lease whose id starts with it.
    #[arg(long)]
    pub prefix: bool,
    /// Remove the leases even when destroying their accounts fails (the accounts may then
    /// remain on the target). Requires -prefix, as in Vault.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Wait for the accounts to be destroyed instead of queuing the revocation.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub sync: bool,
    /// The lease id, or the prefix with -prefix.
    pub id: String,
}

/// `lease revoke-workload WORKLOAD`.
#[derive(Debug, clap::Args)]
pub struct RevokeWorkload {
    /// Wait for the accounts to be destroyed (the default); -sync=false queues them.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    pub sync: bool,
    /// The workload (`auth/approle/role/ci`, `ci/deploy`).
    pub workload: String,
    #[command(flatten)]
    pub out: Output,
}

/// Where leases were issued and to whom: the filters `lease list`, `lease history` and `lease
/// report` share (each the query field of the same name).
#[derive(Debug, Clone, clap::Args)]
pub struct Scope {
    /// Only leases issued on this mount (`database`).
    #[arg(long)]
    pub mount: Option<String>,
    /// Only leases of this role.
    #[arg(long)]
    pub role: Option<String>,
    /// Only leases of this workload or one below it.
    #[arg(long)]
    pub workload: Option<String>,
}

impl Scope {
    /// The given filters as query pairs.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("mount", &self.mount),
            ("role", &self.role),
            ("workload", &self.workload),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// `lease list [-mount] [-role] [-workload] [-state] [-after] [-limit] [-all]`.
#[derive(Debug, clap::Args)]
pub struct List {
    #[command(flatten)]
    pub scope: Scope,
    /// Only leases in this state: creating, active, revoking or irrevocable.
    #[arg(long)]
    pub state: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
    #[command(flatten)]
    pub out: Output,
}

/// The cursor flags of a paged listing (`lease list`, `lease history`).
#[derive(Debug, Clone, clap::Args)]
pub struct Paging {
    /// Start after this cursor (the one a previous page printed).
    #[arg(long)]
    pub after: Option<String>,
    /// At most this many leases per page (1 to 1000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Follow the cursor to the end instead of printing one page.
    #[arg(long)]
    pub all: bool,
}

impl Lease {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        match self {
            Lease::Lookup(c) => {
                let answer = client
                    .write("sys/leases/lookup", &json!({ "lease_id": c.id }))
                    .await?;
                c.out.secret(&answer)
            }
            Lease::Renew(c) => {
                let mut body = Map::new();
                body.insert("lease_id".into(), json!(c.id));
                if let Some(inc) = &c.increment {
                    body.insert("increment".into(), json!(inc));
                }
                let answer = client
                    .write("sys/leases/renew", &Value::Object(body))
                    .await?;
                print_warnings(&answer);
                c.out.secret(&answer)
            }
            Lease::Revoke(c) => c.run(client).await,
            Lease::RevokeWorkload(c) => c.run(client).await,
            Lease::List(c) => c.run(client).await,
            Lease::History(c) => c.run(client).await,
            Lease::Report(c) => c.run(client).await,
        }
    }
}

impl Revoke {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        if self.force && !self.prefix {
            return Err(CliError::local(
                "-force requires -prefix: force-revoking works on a prefix (a full lease id is its own prefix)",
            ));
        }
        if self.force {
            eprintln!(
                "Warning! Force-removing leases forgets accounts whose destruction failed: they \
                 may remain on the target, and leasehold will no longer try to destroy them."
            );
            let answer = client
                .write(
                    &format!("sys/leases/revoke-force/{}", prefix_in_url(&self.id)),
                    &json!({ "prefix": self.id }),
                )
                .await?;
            print_warnings(&answer);
            println!("Success! Force revoked any leases with prefix: {}", self.id);
            return Ok(());
        }
        if self.prefix {
            let answer = client
                .write(
                    &format!("sys/leases/revoke-prefix/{}", prefix_in_url(&self.id)),
                    &json!({ "prefix": self.id, "sync": self.sync }),
                )
                .await?;
            print_warnings(&answer);
            if self.sync {
                println!("Success! Revoked any leases with prefix: {}", self.id);
            } else {
                println!(
                    "All revocation operations queued successfully for leases with prefix: {}",
                    self.id
                );
            }
            return Ok(());
        }
        let answer = client
            .write(
                "sys/leases/revoke",
                &json!({ "lease_id": self.id, "sync": self.sync }),
            )
            .await?;
        print_warnings(&answer);
        if self.sync {
            println!("Success! Revoked lease: {}", self.id);
        } else {
            println!("All revocation operations queued successfully!");
        }
        Ok(())
    }
}

impl RevokeWorkload {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = client
            .write(
                "sys/leases/revoke-workload",
                &json!({ "workload": self.workload, "sync": self.sync }),
            )
            .await?;
        print_warnings(&answer);
        if self.out.field.is_some() || self.out.format() == Format::Json {
            return self.out.secret(&answer);
        }
        let d = data(&answer);
        let leases = d
            .get("leases")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let retrying = leases
            .iter()
            .filter(|l| *at(l, "destroyed") != Value::Bool(true))
            .count();
        println!(
            "Revoked workload {}: {} token(s), {} lease(s) {}, {} still being retried",
            self.workload,
            plain(d.get("revoked_tokens").unwrap_or(&json!(0))),
            leases.len() - retrying,
            if self.sync { "destroyed" } else { "queued" },
            retrying
        );
        if leases.is_empty() {
            return Ok(());
        }
        let rows: Vec<Vec<String>> = leases
            .iter()
            .map(|l| {
                let destroyed = *at(l, "destroyed") == Value::Bool(true);
                vec![
                    if destroyed {
                        if self.sync { "destroyed" } else { "queued" }.to_owned()
                    } else {
                        "retrying".to_owned()
                    },
                    text(at(l, "lease_id")),
                    text(at(l, "account")),
                    text(at(l, "mount")),
                    text(at(l, "error")),
                ]
            })
            .collect();
        print_columns(&["Outcome", "Lease ID", "Account", "Mount", "Error"], &rows);
        Ok(())
    }
}

impl List {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let mut after = self.paging.after.clone();
        let mut keys: Vec<Value> = Vec::new();
        let mut info = Map::new();
        let next = loop {
            let answer = client.list(&self.query(after.as_deref())?).await?;
            let d = data(&answer);
            keys.extend(
                d.get("keys")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            if let Some(Value::Object(m)) = d.get("key_info") {
                info.extend(m.clone());
            }
            let next = d
                .get("next_after")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match next {
                Some(n) if self.paging.all => after = Some(n),
                other => break other,
            }
        };
        if self.out.format() == Format::Json {
            let mut all = Map::new();
            all.insert("keys".into(), Value::Array(keys));
            all.insert("key_info".into(), Value::Object(info));
            all.insert("next_after".into(), json!(next));
            println!(
                "{}",
                serde_json::to_string_pretty(&Value::Object(all))
                    .map_err(|e| CliError::local(e.to_string()))?
            );
            return Ok(());
        }
        if keys.is_empty() {
            println!("No leases found");
        } else {
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    let id = text(k);
                    let i = info.get(&id).cloned().unwrap_or(Value::Null);
                    let state = if *at(&i, "irrevocable") == Value::Bool(true) {
                        "irrevocable".to_owned()
                    } else {
                        text(at(&i, "state"))
                    };
                    vec![
                        id,
                        text(at(&i, "mount")),
                        text(at(&i, "role")),
                        text(at(&i, "account")),
                        text(at(&i, "workload")),
                        state,
                        text(at(&i, "expire_time")),
                    ]
                })
                .collect();
            print_columns(
                &[
                    "Lease ID", "Mount", "Role", "Account", "Workload", "State", "Expires",
                ],
                &rows,
            );
        }
        if let Some(n) = next {
            eprintln!("More leases follow: rerun with -after={n} (or -all)");
        }
        Ok(())
    }

    fn query(&self, after: Option<&str>) -> Result<String, CliError> {
        let mut pairs = self.scope.pairs();
        if let Some(state) = &self.state {
            pairs.push(("state", state.clone()));
        }
        if let Some(a) = after {
            pairs.push(("after", a.to_owned()));
        }
        if let Some(l) = self.paging.limit {
            pairs.push(("limit", l.to_string()));
        }
        if pairs.is_empty() {
            return Ok("sys/leases/list".into());
        }
        let q = serde_urlencoded::to_string(pairs)
            .map_err(|e| CliError::local(format!("query: {e}")))?;
        Ok(format!("sys/leases/list?{q}"))
    }
}

/// The prefix as the URL carries it (the server takes it from there; the body repeats it, as
/// hvac does, which keeps a trailing `/` a URL may lose).
pub fn prefix_in_url(prefix: &str) -> String {
    prefix
        .trim_start_matches('/')
        .split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// What a path segment must escape.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `v[key]`, or null.
pub fn at<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

/// A cell: strings bare, null empty.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => plain(other),
    }
}

/// The answer's warnings, on stderr as Vault's CLI prints them.
pub fn print_warnings(answer: &Value) {
    if let Some(w) = answer.get("warnings").and_then(Value::as_array) {
        for w in w.iter().filter_map(Value::as_str) {
            eprintln!("WARNING! {w}");
        }
    }
}
