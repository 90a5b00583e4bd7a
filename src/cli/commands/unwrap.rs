//! `unwrap [TOKEN]`: the response behind a wrapping token, once. With no TOKEN the caller's own
//! token is the wrapping token (as `VAULT_TOKEN=<wrapping token> leasehold unwrap`).

use secrecy::SecretString;
use serde_json::{json, Value};

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::output::Output;

/// `unwrap [TOKEN]`.
#[derive(Debug, clap::Args)]
pub struct Unwrap {
    /// The wrapping token (default: the token in use).
    pub token: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

impl Unwrap {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = unwrap(client, self.token.as_deref()).await?;
        self.out.secret(&answer)
    }
}

/// POST `sys/wrapping/unwrap`. A named token goes in the body when we have a token of our own
/// to call with; without one it is sent as the caller, which the server also accepts.
pub async fn unwrap(client: &Client, token: Option<&str>) -> Result<Value, CliError> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    match token {
        Some(t) if client.has_token() => {
            client
                .write("sys/wrapping/unwrap", &json!({ "token": t }))
                .await
        }
        Some(t) => {
            client
                .with_token(SecretString::from(t.to_owned()))
                .call("POST", "sys/wrapping/unwrap", None, &[])
                .await
        }
        None if client.has_token() => client.call("POST", "sys/wrapping/unwrap", None, &[]).await,
        None => Err(CliError::local(
            "unwrap needs a wrapping token: `unwrap TOKEN`, or VAULT_TOKEN set to it",
        )),
    }
}
