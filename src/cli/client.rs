//! The CLI's connection to a server, configured as the `vault` CLI is: `VAULT_ADDR` (default
//! `http://127.0.0.1:8200`, where `make run` listens), `VAULT_TOKEN` or else `~/.vault-token`,
//! `VAULT_CACERT` (a PEM bundle to trust) and `VAULT_SKIP_VERIFY` (trust any certificate; for
//! tests only). Every call answers the server's JSON, or a [`CliError`] that says whose fault it
//! was, which decides the exit code.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::error::CliError;

/// Where the server is and who we are.
pub struct Client {
    addr: String,
    token: Option<SecretString>,
    http: reqwest::Client,
}

/// The default address: the dev server's.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8200";

/// `~/.vault-token`, where `login` keeps the token (as the `vault` CLI does).
pub fn token_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".vault-token"))
}

impl Client {
    /// From the environment (and `~/.vault-token`).
    pub fn from_env() -> Result<Client, CliError> {
        let addr = std::env::var("VAULT_ADDR")
            .ok()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let token = match std::env::var("VAULT_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            Some(t) => Some(SecretString::from(t.trim().to_owned())),
            None => token_file()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::limited(3));
        if let Some(path) = std::env::var_os("VAULT_CACERT").filter(|p| !p.is_empty()) {
            let pem = std::fs::read(&path).map_err(|e| {
                CliError::Local(format!(
                    "VAULT_CACERT {}: {e}",
                    PathBuf::from(&path).display()
                ))
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| CliError::Local(format!("VAULT_CACERT: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if truthy(std::env::var("VAULT_SKIP_VERIFY").ok().as_deref()) {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| CliError::Local(format!("HTTP client: {e}")))?;
        Ok(Client {
            addr: addr.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// The same server as another token.
    pub fn with_token(&self, token: SecretString) -> Client {
        Client {
            addr: self.addr.clone(),
            token: Some(token),
            http: self.http.clone(),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether a token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `method /v1/path` with `body` (JSON) and extra `headers`; the answer's JSON (`Null` for
    /// an empty 204). A non-2xx answer is [`CliError::Server`] with Vault's `errors`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, CliError> {
        let url = format!("{}/v1/{}", self.addr, path.trim_start_matches('/'));
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| CliError::Local(format!("method {method}: {e}")))?;
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.header("X-Vault-Token", t.expose_secret());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| {
            CliError::Local(format!("error making API request to {url}: {}", cause(&e)))
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| CliError::Local(format!("reading the answer from {url}: {e}")))?;
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(value);
        }
        let errors = value
            .get("errors")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Err(CliError::Server {
            status: status.as_u16(),
            url,
            errors,
        })
    }

    /// GET.
    pub async fn read(&self, path: &str) -> Result<Value, CliError> {
        self.call("GET", path, None, &[]).await
    }

    /// PUT with a JSON body.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call("PUT", path, Some(body), &[]).await
    }

    /// LIST.
    pub async fn list(&self, path: &str) -> Result<Value, CliError> {
        self.call("LIST", path, None, &[]).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.call("DELETE", path, None, &[]).await
    }
}

fn truthy(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

/// The innermost cause of a transport error (connection refused, certificate unknown), which
/// is what a person needs to read.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}
