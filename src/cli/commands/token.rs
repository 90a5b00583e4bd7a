//! `token create|lookup|renew|revoke|capabilities`: the `vault token` commands, on
//! `auth/token/*` and `sys/capabilities*`.

use serde_json::{json, Map, Value};

use crate::cli::args::parse_pairs;
use crate::cli::client::Client;
use crate::cli::commands::columns::print_columns;
use crate::cli::commands::lease::{at, prefix_in_url, print_warnings};
use crate::cli::error::CliError;
use crate::cli::output::{data, plain, Format, Output};

/// The `token` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Token {
    /// Create a token (a child of the caller's, unless -orphan).
    Create(Create),
    /// Look up a token (the caller's when none is given) or, with -accessor, a token by accessor.
    Lookup(Lookup),
    /// Renew a token (the caller's when none is given).
    Renew(Renew),
    /// Revoke a token and its children, and destroy every account obtained with them.
    Revoke(Revoke),
    /// What a token may do on a path: `token capabilities PATH` for the caller's token,
    /// `token capabilities TOKEN PATH` for another.
    Capabilities(Capabilities),
}

/// `token create`.
#[derive(Debug, clap::Args)]
pub struct Create {
    /// A policy for the token; repeat for several.
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    /// Initial time to live (`1h`, `30m`, seconds).
    #[arg(long)]
    pub ttl: Option<String>,
    /// A limit the token can never be renewed past.
    #[arg(long = "explicit-max-ttl")]
    pub explicit_max_ttl: Option<String>,
    /// Make a periodic token, renewable by this much for ever.
    #[arg(long)]
    pub period: Option<String>,
    /// Create the token with no parent (needs root or sudo), so it outlives the caller's.
    #[arg(long)]
    pub orphan: bool,
    /// A name to show in lookups and the audit log.
    #[arg(long = "display-name")]
    pub display_name: Option<String>,
    /// How many uses the token has (0: unlimited).
    #[arg(long = "use-limit")]
    pub use_limit: Option<u64>,
    /// Metadata `k=v`; repeat for several.
    #[arg(long)]
    pub metadata: Vec<String>,
    /// Create the token with this token role (`auth/token/create/ROLE`).
    #[arg(long)]
    pub role: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

/// `token lookup [-accessor] [TOKEN|ACCESSOR]`.
#[derive(Debug, clap::Args)]
pub struct Lookup {
    /// The argument is an accessor, not a token.
    #[arg(long)]
    pub accessor: bool,
    /// The token (or accessor); the caller's own token when absent.
    pub token: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

/// `token renew [-increment=DUR] [TOKEN]`.
#[derive(Debug, clap::Args)]
pub struct Renew {
    /// Ask for this much more time; the server caps it.
    #[arg(long, short = 'i')]
    pub increment: Option<String>,
    /// The token; the caller's own when absent.
    pub token: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

/// How `token revoke` treats the token's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The token and every descendant (the default).
    Tree,
    /// The token only: its children become orphans (needs root or sudo).
    Orphan,
    /// Every token created at this path (the argument is the creation path, a lease prefix).
    Path,
}

/// `token revoke [-accessor] [-self] [-mode=orphan|path] [TOKEN]`.
#[derive(Debug, clap::Args)]
pub struct Revoke {
    /// The argument is an accessor.
    #[arg(long)]
    pub accessor: bool,
    /// Revoke the caller's own token.
    #[arg(long = "self")]
    pub self_: bool,
    /// `orphan`: keep the children (as orphans); `path`: revoke every token created at a path.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// The token, accessor (-accessor) or path (-mode=path).
    pub token: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

/// `token capabilities [-accessor] [TOKEN|ACCESSOR] PATH`.
#[derive(Debug, clap::Args)]
pub struct Capabilities {
    /// The first argument is an accessor (`sys/capabilities-accessor`).
    #[arg(long)]
    pub accessor: bool,
    /// `PATH`, or `TOKEN PATH`.
    #[arg(num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub out: Output,
}

impl Token {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        match self {
            Token::Create(c) => c.run(client).await,
            Token::Lookup(c) => {
                let answer = match (c.accessor, &c.token) {
                    (true, None) => return Err(CliError::local("-accessor needs an ACCESSOR")),
                    (true, Some(a)) => {
                        client
                            .write("auth/token/lookup-accessor", &json!({ "accessor": a }))
                            .await?
                    }
                    (false, Some(t)) => {
                        client
                            .write("auth/token/lookup", &json!({ "token": t }))
                            .await?
                    }
                    (false, None) => client.read("auth/token/lookup-self").await?,
                };
                c.out.secret(&answer)
            }
            Token::Renew(c) => {
                let mut body = Map::new();
                if let Some(i) = &c.increment {
                    body.insert("increment".into(), json!(i));
                }
                let answer = match &c.token {
                    Some(t) => {
                        body.insert("token".into(), json!(t));
                        client
                            .write("auth/token/renew", &Value::Object(body))
                            .await?
                    }
                    None => {
                        client
                            .write("auth/token/renew-self", &Value::Object(body))
                            .await?
                    }
                };
                print_warnings(&answer);
                c.out.secret(&answer)
            }
            Token::Revoke(c) => c.run(client).await,
            Token::Capabilities(c) => c.run(client).await,
        }
    }
}

impl Create {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let mut body = Map::new();
        if !self.policies.is_empty() {
            body.insert("policies".into(), json!(self.policies));
        }
        for (k, v) in [
            ("ttl", &self.ttl),
            ("explicit_max_ttl", &self.explicit_max_ttl),
            ("period", &self.period),
            ("display_name", &self.display_name),
        ] {
            if let Some(v) = v {
                body.insert(k.into(), json!(v));
            }
        }
        if let Some(n) = self.use_limit {
            body.insert("num_uses".into(), json!(n));
        }
        if !self.metadata.is_empty() {
            let meta = parse_pairs(&self.metadata)?;
            if let Some((k, _)) = meta.iter().find(|(_, v)| !v.is_string()) {
                return Err(CliError::local(format!(
                    "-metadata {k}: a value must be text"
                )));
            }
            body.insert("meta".into(), Value::Object(meta));
        }
        let path = match (&self.role, self.orphan) {
            (Some(role), _) => {
                if self.orphan {
                    body.insert("no_parent".into(), json!(true));
                }
                format!("auth/token/create/{role}")
            }
            (None, true) => "auth/token/create-orphan".to_owned(),
            (None, false) => "auth/token/create".to_owned(),
        };
        let answer = client.write(&path, &Value::Object(body)).await?;
        print_warnings(&answer);
        self.out.secret(&answer)
    }
}

impl Revoke {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let mode = self.mode.unwrap_or(Mode::Tree);
        let answer = match (self.self_, &self.token) {
            (true, Some(_)) => {
                return Err(CliError::local(
                    "-self revokes the caller's token: give no TOKEN with it",
                ))
            }
            (true, None) if self.accessor || mode != Mode::Tree => {
                return Err(CliError::local("-self cannot be combined with -accessor or -mode"))
            }
            (true, None) => client.write("auth/token/revoke-self", &json!({})).await?,
            (false, None) => {
                return Err(CliError::local(
                    "token revoke needs a TOKEN (or an accessor with -accessor, a path with -mode=path), or -self",
                ))
            }
            (false, Some(t)) => match (self.accessor, mode) {
                (true, Mode::Tree) => {
                    client
                        .write("auth/token/revoke-accessor", &json!({ "accessor": t }))
                        .await?
                }
                (true, _) => {
                    return Err(CliError::local(
                        "-accessor revokes a token's tree; it cannot be combined with -mode",
                    ))
                }
                (false, Mode::Tree) => {
                    client
                        .write("auth/token/revoke", &json!({ "token": t }))
                        .await?
                }
                (false, Mode::Orphan) => {
                    client
                        .write("auth/token/revoke-orphan", &json!({ "token": t }))
                        .await?
                }
                (false, Mode::Path) => {
                    let prefix = t.trim_start_matches('/');
                    client
                        .write(
                            &format!("sys/leases/revoke-prefix/{}", prefix_in_url(prefix)),
                            &json!({ "prefix": prefix }),
                        )
                        .await?
                }
            },
        };
        print_warnings(&answer);
        if self.out.field.is_some() || self.out.format() == Format::Json {
            return self.out.secret(&answer);
        }
        println!("Success! Revoked token (if it existed)");
        // leasehold says what went with the token: each account destroyed or still retried.
        let leases = data(&answer)
            .get("leases")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !leases.is_empty() {
            let rows: Vec<Vec<String>> = leases
                .iter()
                .map(|l| {
                    vec![
                        if *at(l, "destroyed") == Value::Bool(true) {
                            "destroyed"
                        } else {
                            "retrying"
                        }
                        .to_owned(),
                        plain(at(l, "lease_id")),
                        plain(at(l, "account")),
                        plain(at(l, "mount")),
                    ]
                })
                .collect();
            println!();
            print_columns(&["Outcome", "Lease ID", "Account", "Mount"], &rows);
        }
        Ok(())
    }
}

impl Capabilities {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let (answer, path) = match self.args.as_slice() {
            [_] if self.accessor => {
                return Err(CliError::local("-accessor needs ACCESSOR PATH"));
            }
            [accessor, path] if self.accessor => (
                client
                    .write(
                        "sys/capabilities-accessor",
                        &json!({ "accessor": accessor, "paths": [path] }),
                    )
                    .await?,
                path,
            ),
            [path] => (
                client
                    .write("sys/capabilities-self", &json!({ "paths": [path] }))
                    .await?,
                path,
            ),
            [token, path] => (
                client
                    .write(
                        "sys/capabilities",
                        &json!({ "token": token, "paths": [path] }),
                    )
                    .await?,
                path,
            ),
            _ => return Err(CliError::local("token capabilities takes [TOKEN] PATH")),
        };
        let d = data(&answer);
        let caps = d
            .get(path.as_str())
            .or_else(|| d.get("capabilities"))
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        if self.out.format() == Format::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(&caps).map_err(|e| CliError::local(e.to_string()))?
            );
            return Ok(());
        }
        let words: Vec<String> = caps
            .as_array()
            .map(|a| a.iter().map(plain).collect())
            .unwrap_or_default();
        println!("{}", words.join(", "));
        Ok(())
    }
}
