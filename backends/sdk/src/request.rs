//! What the core hands a backend: the operation, the path below the mount, the caller's fields
//! (weakly typed, as Vault's framework accepts them) and a storage view scoped to the mount.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::duration::parse_duration_value;
use crate::error::BackendError;
use crate::storage::MountStorage;

/// The logical operation, decided by the core from the HTTP verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// GET.
    Read,
    /// LIST or `GET ?list=true`.
    List,
    /// POST or PUT of an item that does not exist yet (paths with an existence check).
    Create,
    /// POST or PUT.
    Update,
    /// DELETE.
    Delete,
}

impl Operation {
    /// True for the two write operations, which backends usually handle alike.
    pub fn is_write(self) -> bool {
        matches!(self, Operation::Create | Operation::Update)
    }
}

/// One call into a backend.
#[derive(Clone)]
pub struct Request {
    /// What the caller wants done.
    pub operation: Operation,
    /// Path below the mount, canonical (no empty, `.` or `..` segments, no leading `/`), as it was
    /// authorized. A list request's one trailing `/` is removed; any other trailing `/` is kept, and
    /// a backend must match anchored, so that `creds/admin/` is not `creds/admin`.
    pub path: String,
    /// Body fields merged over query parameters; `null` values are already removed.
    pub fields: Fields,
    /// The mount's own storage view.
    pub storage: Arc<dyn MountStorage>,
    /// The mount path with its trailing slash (`database/`).
    pub mount_path: String,
    /// Display name of the calling token (`root`, `token`, `approle`), used in generated user names.
    pub display_name: String,
    /// The client's address, for CIDR-bound logins.
    pub remote_addr: Option<std::net::IpAddr>,
}

impl std::fmt::Debug for Request {
    // Fields may hold passwords; show only their names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("fields", &self.fields.names())
            .field("mount_path", &self.mount_path)
            .finish()
    }
}

/// The caller's fields with Vault's weak typing: numbers may come as strings, booleans as
/// `"true"`, lists as JSON arrays or comma strings, durations as seconds or `"1h30m"`.
/// Every accessor's error names the field.
#[derive(Clone, Default)]
pub struct Fields(Map<String, Value>);

impl Fields {
    /// Wrap a JSON object, dropping `null`s: clients send them for "not given".
    pub fn new(map: Map<String, Value>) -> Self {
        Self(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
    }

    /// The field names present, for diagnostics that must not show values.
    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }

    /// True if the field was given.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The raw JSON value.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string field; numbers and booleans are accepted and printed.
    pub fn str(&self, name: &str) -> Result<Option<String>, BackendError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(BackendError::invalid(format!(
                "field {name:?} must be a string"
            ))),
        }
    }

    /// A required, non-empty string field.
    pub fn required_str(&self, name: &str) -> Result<String, BackendError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(BackendError::invalid(format!("{name} is required"))),
        }
    }

    /// A boolean field: `true`, `"true"`, `"True"`, `"1"`, `1` and their opposites.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, BackendError> {
        let bad = || BackendError::invalid(format!("field {name:?} must be a boolean"));
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(bad()),
            },
            Some(Value::String(s)) => parse_bool(s).map(Some).ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }

    /// An integer field, given as a number or a numeric string.
    pub fn int(&self, name: &str) -> Result<Option<i64>, BackendError> {
        let bad = || BackendError::invalid(format!("field {name:?} must be an integer"));
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// A list of strings: a JSON array, or a comma-separated string (`"a,b"`). Blank items dropped.
    pub fn comma_list(&self, name: &str) -> Result<Option<Vec<String>>, BackendError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_owned()),
                    _ => Err(BackendError::invalid(format!(
                        "field {name:?} must be a list of strings"
                    ))),
                })
                .filter(|r| !matches!(r, Ok(s) if s.is_empty()))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(BackendError::invalid(format!(
                "field {name:?} must be a list of strings"
            ))),
        }
    }

    /// A list of strings kept whole: a JSON array, a string holding a JSON array, or one string.
    /// Statement lists use this; splitting SQL is the driver's business.
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, BackendError> {
        let bad = || BackendError::invalid(format!("field {name:?} must be a list of strings"));
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(Vec::new())),
            Some(Value::String(s)) => {
                if s.trim_start().starts_with('[') {
                    if let Ok(items) = serde_json::from_str::<Vec<String>>(s) {
                        return Ok(Some(items));
                    }
                }
                Ok(Some(vec![s.clone()]))
            }
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| Some(v.into_iter().filter(|s| !s.trim().is_empty()).collect())),
            Some(_) => Err(bad()),
        }
    }

    /// A duration: seconds as a number or string, a Go duration (`1h30m`), or days (`7d`).
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, BackendError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => parse_duration_value(v)
                .map(Some)
                .map_err(|e| BackendError::invalid(format!("invalid value for {name:?}: {e}"))),
        }
    }

    /// Names of given fields not in `known`, sorted, for Vault's "ignored these parameters" warning.
    pub fn unknown(&self, known: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        names.sort();
        names
    }
}

/// Vault's (Go's `strconv.ParseBool`) spellings, case-insensitive as hvac sends `True`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => Fields::new(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn weak_typing() {
        let f = fields(
            json!({"a": "True", "b": 1, "n": "42", "l": "x, y,", "s": "[\"p\",\"q\"]", "z": null}),
        );
        assert_eq!(f.bool("a").unwrap(), Some(true));
        assert_eq!(f.bool("b").unwrap(), Some(true));
        assert_eq!(f.int("n").unwrap(), Some(42));
        assert_eq!(
            f.comma_list("l").unwrap(),
            Some(vec!["x".into(), "y".into()])
        );
        assert_eq!(
            f.string_list("s").unwrap(),
            Some(vec!["p".into(), "q".into()])
        );
        assert!(!f.has("z"));
        assert!(f.int("a").unwrap_err().to_string().contains("\"a\""));
    }
}
