//! `read`, `write`, `list`, `delete`: any path, as the `vault` CLI's generic commands.

use serde_json::Value;

use crate::cli::args::parse_pairs;
use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::output::Output;

/// `read PATH [k=v ...]`: GET (with the pairs as query parameters).
#[derive(Debug, clap::Args)]
pub struct Read {
    /// The path below /v1/.
    pub path: String,
    /// Query parameters, `k=v`.
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub out: Output,
}

/// `write PATH [k=v | k=@file | k=- | -] ...`: PUT with the pairs as a JSON body.
#[derive(Debug, clap::Args)]
pub struct Write {
    /// The path below /v1/.
    pub path: String,
    /// Body fields.
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub out: Output,
}

/// `list PATH`.
#[derive(Debug, clap::Args)]
pub struct List {
    /// The path below /v1/.
    pub path: String,
    #[command(flatten)]
    pub out: Output,
}

/// `delete PATH`.
#[derive(Debug, clap::Args)]
pub struct Delete {
    /// The path below /v1/.
    pub path: String,
}

impl Read {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let query = parse_pairs(&self.pairs)?;
        let path = with_query(&self.path, &query)?;
        let answer = client
            .read(&path)
            .await
            .map_err(no_value_is_not_found(&self.path))?;
        self.out.secret(&answer)
    }
}

impl Write {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let body = Value::Object(parse_pairs(&self.pairs)?);
        let answer = client.write(&self.path, &body).await?;
        if answer.is_null() {
            println!("Success! Data written to: {}", self.path);
            return Ok(());
        }
        self.out.secret(&answer)
    }
}

impl List {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        match client.list(&self.path).await {
            Ok(answer) => self.out.keys(&answer),
            Err(e) if e.status() == Some(404) => {
                Err(CliError::local(format!("No value found at {}", self.path)))
            }
            Err(e) => Err(e),
        }
    }
}

impl Delete {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        client.delete(&self.path).await?;
        println!("Success! Data deleted (if it existed) at: {}", self.path);
        Ok(())
    }
}

/// `path?k=v&...` for a GET.
pub fn with_query(path: &str, query: &serde_json::Map<String, Value>) -> Result<String, CliError> {
    if query.is_empty() {
        return Ok(path.to_owned());
    }
    let pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    let encoded =
        serde_urlencoded::to_string(pairs).map_err(|e| CliError::local(format!("query: {e}")))?;
    Ok(format!("{path}?{encoded}"))
}

/// Vault's CLI says "No value found at PATH" (exit 2) for a 404 on read.
fn no_value_is_not_found(path: &str) -> impl Fn(CliError) -> CliError + '_ {
    move |e| match e.status() {
        Some(404) => CliError::Server {
            status: 404,
            url: path.to_owned(),
            errors: vec![format!("No value found at {path}")],
        },
        _ => e,
    }
}
