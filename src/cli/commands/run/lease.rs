//! Obtaining the credentials (a GET of each path, with the purpose and ticket) and ending them
//! (a synchronous revoke: when it answers, the account is gone from the target).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Map, Value};

use super::mapping::Fields;
use super::purpose;
use crate::cli::client::Client;
use crate::cli::commands::kv::with_query;
use crate::cli::error::CliError;
use crate::cli::output::plain;

/// One leased credential.
pub struct Leased {
    /// The `-secret` path.
    pub path: String,
    /// Empty for a secret without a lease (nothing to renew or revoke).
    pub lease_id: String,
    /// The lease's TTL when issued.
    pub ttl: Duration,
    /// Whether the server will renew it.
    pub renewable: bool,
    /// Its fields.
    pub fields: Fields,
}

/// Why leasing stopped short of a credential.
pub enum NotLeased {
    /// The request is held for approval: its accessor, for the approvers and for `-wait-approval`.
    Held {
        accessor: String,
        token: SecretString,
    },
    /// Any other failure.
    Failed(CliError),
}

impl From<CliError> for NotLeased {
    fn from(e: CliError) -> Self {
        NotLeased::Failed(e)
    }
}

/// Ask for `path`'s credential.
pub async fn obtain(
    client: &Client,
    path: &str,
    purpose: Option<&str>,
    ticket: Option<&str>,
) -> Result<Leased, NotLeased> {
    let mut query = Map::new();
    if let Some(p) = purpose {
        query.insert("purpose".into(), json!(p));
    }
    if let Some(t) = ticket {
        query.insert("ticket".into(), json!(t));
    }
    let answer = match client.read(&with_query(path, &query)?).await {
        Ok(a) => a,
        Err(CliError::Server {
            status,
            url,
            mut errors,
        }) if purpose.is_none() && mentions_purpose(&errors) => {
            // Still the server's refusal (exit 2), with what `run` could have done about it.
            errors.push(format!(
                "no -purpose was given and no CI job was recognised ({})",
                purpose::KNOWN
            ));
            return Err(NotLeased::Failed(CliError::Server {
                status,
                url,
                errors,
            }));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(wrap) = answer.get("wrap_info").filter(|w| w.is_object()) {
        let text = |k: &str| wrap.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        return Err(NotLeased::Held {
            accessor: text("accessor"),
            token: SecretString::from(text("token")),
        });
    }
    Ok(from_answer(path, &answer))
}

/// A secret answer (a creds read, or an unwrapped approved request) as a [`Leased`].
pub fn from_answer(path: &str, answer: &Value) -> Leased {
    let fields = answer
        .get("data")
        .and_then(Value::as_object)
        .map(|data| {
            data.iter()
                .map(|(k, v)| (k.clone(), SecretString::from(plain(v))))
                .collect()
        })
        .unwrap_or_default();
    Leased {
        path: path.to_owned(),
        lease_id: answer
            .get("lease_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        ttl: Duration::from_secs(
            answer
                .get("lease_duration")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        ),
        renewable: answer
            .get("renewable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        fields,
    }
}

fn mentions_purpose(errors: &[String]) -> bool {
    errors.iter().any(|m| m.contains("requires a purpose"))
}

/// Revoke every lease, synchronously; `false` (and a line on stderr each) if any failed.
pub async fn revoke_all(client: &Client, leased: &[Leased]) -> bool {
    let mut ok = true;
    for l in leased.iter().filter(|l| !l.lease_id.is_empty()) {
        let body = json!({"lease_id": l.lease_id, "sync": true});
        if let Err(e) = client.write("sys/leases/revoke", &body).await {
            // The `default` policy grants renewal but not revocation; say what is missing.
            let hint = if e.status() == Some(403) {
                "\n(the token needs the update capability on sys/leases/revoke)"
            } else {
                ""
            };
            eprintln!(
                "Error: revoking lease {} ({}) failed; it still ends when its TTL runs out.\n{e}{hint}",
                l.lease_id, l.path
            );
            ok = false;
        }
    }
    ok
}
