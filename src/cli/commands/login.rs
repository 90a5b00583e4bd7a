//! `login`: authenticate and keep the token in `~/.vault-token` (mode 0600), where every later
//! command finds it when `VAULT_TOKEN` is not set — the `vault` CLI's token helper, without the
//! helper program. Methods: `token` (check a token you already have), `approle`, `jwt`.

use std::io::{Read as _, Write as _};

use secrecy::SecretString;
use serde_json::{json, Map, Value};

use crate::cli::args::parse_pairs;
use crate::cli::client::{token_file, Client};
use crate::cli::error::CliError;
use crate::cli::output::{print_table, secret_rows, Format, Output};

/// The auth methods `login` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// An existing token, checked with `auth/token/lookup-self`.
    Token,
    /// AppRole: `role_id=... secret_id=...`.
    Approle,
    /// JWT/OIDC: `role=... jwt=...`.
    Jwt,
}

/// `login [-method=token|approle|jwt] [-path=P] [-no-store] [TOKEN | - | k=v ...]`.
#[derive(Debug, clap::Args)]
pub struct Login {
    /// How to authenticate.
    #[arg(long, value_enum, default_value = "token")]
    pub method: Method,
    /// Where the auth method is mounted (default: the method's name).
    #[arg(long)]
    pub path: Option<String>,
    /// Do not write the token to ~/.vault-token.
    #[arg(long)]
    pub no_store: bool,
    /// token: the token, or `-` to read it from standard input. Other methods: k=v fields.
    pub args: Vec<String>,
    #[command(flatten)]
    pub out: Output,
}

impl Login {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = match self.method {
            Method::Token => token_login(client, &self.args).await?,
            Method::Approle | Method::Jwt => {
                let name = if self.method == Method::Approle {
                    "approle"
                } else {
                    "jwt"
                };
                let mount = self.path.as_deref().unwrap_or(name).trim_matches('/');
                let body = Value::Object(parse_pairs(&self.args)?);
                client
                    .call("POST", &format!("auth/{mount}/login"), Some(&body), &[])
                    .await?
            }
        };
        let token = answer
            .pointer("/auth/client_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CliError::local("the server's answer carries no token"))?;
        if !self.no_store {
            store_token(token)?;
        }
        if self.out.field.is_some() || self.out.format() == Format::Json {
            return self.out.secret(&answer);
        }
        if self.no_store {
            println!(
                "Success! You are now authenticated. The token below was not stored; set\n\
                 VAULT_TOKEN to it for later commands to use it.\n"
            );
        } else {
            if std::env::var("VAULT_TOKEN").is_ok_and(|t| !t.trim().is_empty()) {
                println!(
                    "WARNING! VAULT_TOKEN is set in the environment, and it wins over the token\n\
                     stored by this login. Unset it for later commands to use the new token.\n"
                );
            }
            println!(
                "Success! You are now authenticated. The token below is stored in\n\
                 ~/.vault-token; later commands use it, so there is no need to log in again.\n"
            );
        }
        print_table(&secret_rows(&answer), &["Key", "Value"]);
        Ok(())
    }
}

/// The token method: the token from the argument, `token=...` or standard input, checked by
/// looking itself up, and answered in the shape of a login.
async fn token_login(client: &Client, args: &[String]) -> Result<Value, CliError> {
    let raw =
        match args {
            [one] if one == "-" => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| CliError::local(format!("reading standard input: {e}")))?;
                text
            }
            [one] if one.starts_with("token=") => parse_pairs(args)?
                .get("token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            [one] => one.clone(),
            [] => return Err(CliError::local(
                "login needs a token: `login TOKEN`, or `login -` to read it from standard input",
            )),
            _ => return Err(CliError::local("login -method=token takes one token")),
        };
    let token = raw.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::local("the token is empty"));
    }
    let me = client
        .with_token(SecretString::from(token.clone()))
        .read("auth/token/lookup-self")
        .await?;
    let data = me.get("data").cloned().unwrap_or(Value::Null);
    let pick = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
    let meta = match pick("meta") {
        Value::Object(m) => Value::Object(m),
        _ => Value::Object(Map::new()),
    };
    Ok(json!({
        "auth": {
            "client_token": token,
            "accessor": pick("accessor"),
            "lease_duration": pick("ttl"),
            "renewable": pick("renewable"),
            "policies": pick("policies"),
            "token_policies": pick("policies"),
            "metadata": meta,
        }
    }))
}

/// Write `token` to `~/.vault-token`, readable by its owner only. The mode is set on the file
/// itself too, in case it existed with a looser one.
pub fn store_token(token: &str) -> Result<(), CliError> {
    let path =
        token_file().ok_or_else(|| CliError::local("HOME is not set: cannot store the token"))?;
    let shown = path.display();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| CliError::local(format!("storing the token in {shown}: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::local(format!("storing the token in {shown}: {e}")))?;
    }
    file.write_all(token.as_bytes())
        .map_err(|e| CliError::local(format!("storing the token in {shown}: {e}")))?;
    Ok(())
}
