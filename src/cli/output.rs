//! Printing answers the way the `vault` CLI does: a two-column table by default, the server's
//! JSON with `-format=json` (or `VAULT_FORMAT=json`), one raw value with `-field=NAME`.

use serde_json::{Map, Value};

use super::error::CliError;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Key/value table (the default).
    #[default]
    Table,
    /// The server's JSON, indented.
    Json,
}

/// `-format` and `-field`, shared by every command that prints an answer.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Output {
    /// Print as `table` or `json` (default: `VAULT_FORMAT`, else table).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Print only this field's value, raw (no key, no quotes).
    #[arg(long)]
    pub field: Option<String>,
}

impl Output {
    /// The format to use: the flag, else `VAULT_FORMAT`, else table.
    pub fn format(&self) -> Format {
        self.format.unwrap_or_else(|| {
            match std::env::var("VAULT_FORMAT")
                .unwrap_or_default()
                .to_ascii_lowercase()
                .as_str()
            {
                "json" => Format::Json,
                _ => Format::Table,
            }
        })
    }

    /// Print a server answer (secret, auth or wrapped envelope, or plain data).
    pub fn secret(&self, answer: &Value) -> Result<(), CliError> {
        let rows = secret_rows(answer);
        if let Some(field) = &self.field {
            return print_field(&rows, field);
        }
        match self.format() {
            Format::Json => print_json(answer),
            Format::Table => {
                print_table(&rows, &["Key", "Value"]);
                Ok(())
            }
        }
    }

    /// Print the `keys` of a LIST answer.
    pub fn keys(&self, answer: &Value) -> Result<(), CliError> {
        let keys = answer
            .pointer("/data/keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match self.format() {
            Format::Json => print_json(&Value::Array(keys)),
            Format::Table => {
                println!("Keys\n----");
                for k in keys {
                    println!("{}", plain(&k));
                }
                Ok(())
            }
        }
    }

    /// Print rows of our own making (`status`, summaries): a table, or an object in JSON.
    pub fn rows(&self, rows: &[(String, Value)]) -> Result<(), CliError> {
        if let Some(field) = &self.field {
            return print_field(rows, field);
        }
        match self.format() {
            Format::Json => print_json(&Value::Object(rows.iter().cloned().collect())),
            Format::Table => {
                print_table(rows, &["Key", "Value"]);
                Ok(())
            }
        }
    }
}

/// The rows `vault read` shows: lease fields, auth fields as `token_*`, wrap info as
/// `wrapping_*`, then `data`'s keys in order.
pub fn secret_rows(answer: &Value) -> Vec<(String, Value)> {
    let mut rows = Vec::new();
    if let Some(wrap) = answer.get("wrap_info").filter(|w| w.is_object()) {
        for (ours, theirs) in [
            ("wrapping_token:", "token"),
            ("wrapping_accessor:", "accessor"),
            ("wrapping_token_ttl:", "ttl"),
            ("wrapping_token_creation_time:", "creation_time"),
            ("wrapping_token_creation_path:", "creation_path"),
        ] {
            let v = wrap.get(theirs).cloned().unwrap_or(Value::Null);
            let v = if theirs == "ttl" {
                duration_value(&v)
            } else {
                v
            };
            rows.push((ours.to_owned(), v));
        }
        return rows;
    }
    if let Some(lease) = answer
        .get("lease_id")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
    {
        rows.push(("lease_id".into(), Value::String(lease.to_owned())));
        rows.push((
            "lease_duration".into(),
            duration_value(answer.get("lease_duration").unwrap_or(&Value::Null)),
        ));
        rows.push((
            "lease_renewable".into(),
            answer
                .get("renewable")
                .cloned()
                .unwrap_or(Value::Bool(false)),
        ));
    } else if answer
        .get("lease_duration")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        > 0
    {
        rows.push((
            "refresh_interval".into(),
            duration_value(answer.get("lease_duration").unwrap_or(&Value::Null)),
        ));
    }
    if let Some(auth) = answer.get("auth").filter(|a| a.is_object()) {
        for (ours, theirs) in [
            ("token", "client_token"),
            ("token_accessor", "accessor"),
            ("token_duration", "lease_duration"),
            ("token_renewable", "renewable"),
            ("token_policies", "token_policies"),
            ("policies", "policies"),
        ] {
            let v = auth.get(theirs).cloned().unwrap_or(Value::Null);
            let v = if theirs == "lease_duration" {
                duration_value(&v)
            } else {
                v
            };
            rows.push((ours.to_owned(), v));
        }
        if let Some(Value::Object(meta)) = auth.get("metadata") {
            for (k, v) in meta {
                rows.push((format!("token_meta_{k}"), v.clone()));
            }
        }
    }
    if let Some(Value::Object(data)) = answer.get("data") {
        rows.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(Value::Array(w)) = answer.get("warnings") {
        if !w.is_empty() {
            rows.push(("warnings".into(), Value::Array(w.clone())));
        }
    }
    rows
}

fn print_field(rows: &[(String, Value)], field: &str) -> Result<(), CliError> {
    let found = rows
        .iter()
        .find(|(k, _)| k.trim_end_matches(':') == field)
        .map(|(_, v)| v);
    match found {
        Some(v) => {
            println!("{}", plain(v));
            Ok(())
        }
        None => Err(CliError::local(format!(
            "Field \"{field}\" not present in secret"
        ))),
    }
}

fn print_json(v: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::local(format!("printing JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A two-column table with a header and dashes, padded as Vault's.
pub fn print_table(rows: &[(String, Value)], header: &[&str; 2]) {
    let width = rows
        .iter()
        .map(|(k, _)| k.len())
        .chain([header[0].len()])
        .max()
        .unwrap_or(0);
    println!("{:<width$}    {}", header[0], header[1]);
    println!(
        "{:<width$}    {}",
        "-".repeat(header[0].len()),
        "-".repeat(header[1].len())
    );
    for (k, v) in rows {
        println!("{k:<width$}    {}", plain(v));
    }
}

/// A value as Vault's table shows it: strings bare, lists `[a b]`, maps `map[k:v]`, null `n/a`.
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "n/a".into(),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(plain).collect::<Vec<_>>().join(" ")
            )
        }
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Seconds as a Go duration string (`768h`, `1h30m`, `45s`), as Vault's table prints TTLs.
pub fn duration_value(v: &Value) -> Value {
    match v.as_u64() {
        Some(secs) => Value::String(go_duration(secs)),
        None => v.clone(),
    }
}

/// `3661` → `1h1m1s`; `0` → `0s` (the SDK's Go-style formatter, as Vault prints TTLs).
pub fn go_duration(secs: u64) -> String {
    leasehold_backend::duration::format_duration(std::time::Duration::from_secs(secs))
}

/// `data` of an answer, as an object (empty when absent).
pub fn data(answer: &Value) -> Map<String, Value> {
    answer
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_reads_as_vault_prints_it() {
        let rows = secret_rows(&json!({
            "lease_id": "database/creds/ro/abc", "lease_duration": 3600, "renewable": true,
            "data": {"username": "v-x", "password": "p"}
        }));
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "lease_id",
                "lease_duration",
                "lease_renewable",
                "password",
                "username"
            ]
        );
        assert_eq!(rows[1].1, "1h");
    }

    #[test]
    fn auth_and_wrap_rows() {
        let rows = secret_rows(
            &json!({"auth": {"client_token": "hvs.x", "accessor": "a", "lease_duration": 60, "renewable": true, "policies": ["default"], "token_policies": ["default"]}}),
        );
        assert!(rows.contains(&("token".into(), json!("hvs.x"))));
        assert!(rows.contains(&("token_duration".into(), json!("1m"))));
        let rows = secret_rows(
            &json!({"wrap_info": {"token": "hvs.w", "accessor": "acc", "ttl": 300, "creation_path": "database/creds/x"}}),
        );
        assert_eq!(rows[0], ("wrapping_token:".into(), json!("hvs.w")));
        assert_eq!(rows[2].1, "5m");
    }

    #[test]
    fn values_and_durations() {
        assert_eq!(plain(&json!(["a", "b"])), "[a b]");
        assert_eq!(plain(&json!({"k": 1})), "map[k:1]");
        assert_eq!(plain(&json!(null)), "n/a");
        assert_eq!(go_duration(3661), "1h1m1s");
        assert_eq!(go_duration(2764800), "768h");
        assert_eq!(go_duration(0), "0s");
    }
}
