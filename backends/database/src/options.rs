//! [`Options`]: a connection's driver-specific settings (Vault's Redis `host`/`port`/`tls`, its
//! MySQL `tls_ca`/`tls_certificate_key`, ...), handed to the driver as they were given, for it
//! to parse and validate. The engine only stores them and never interprets them: a new driver
//! needs no field here.
//!
//! The engine cannot tell which option holds a secret (a client key, say), so every value is
//! kept as a `SecretString` of its JSON text. In storage they sit at the top level of the
//! connection entry, under their own names (sealed by the core like the rest of the entry),
//! which is also where entries written before options existed kept them.

use std::collections::BTreeMap;

use leasehold_backend::Fields;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::driver::DriverError;

/// A driver's settings from the connection config; see the module docs.
#[derive(Clone, Default)]
pub struct Options(BTreeMap<String, SecretString>);

impl Options {
    /// The options of `map`; `null` values are left out (they mean "not set").
    pub fn from_map(map: Map<String, Value>) -> Self {
        let mut options = Self::default();
        for (key, value) in map {
            options.set(&key, &value);
        }
        options
    }

    /// Set `key` to `value`, or unset it for `null` or an empty string (as an update that
    /// clears a field does).
    pub(crate) fn set(&mut self, key: &str, value: &Value) {
        match value {
            Value::Null => {
                self.0.remove(key);
            }
            Value::String(s) if s.trim().is_empty() => {
                self.0.remove(key);
            }
            other => {
                self.0
                    .insert(key.to_owned(), SecretString::from(other.to_string()));
            }
        }
    }

    /// The names of the options set.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `key`'s value alone, as request fields, to parse with their rules.
    fn field(&self, key: &str) -> Fields {
        let mut map = Map::new();
        if let Some(value) = self.value(key) {
            map.insert(key.to_owned(), value);
        }
        Fields::new(map)
    }

    fn value(&self, key: &str) -> Option<Value> {
        let text = self.0.get(key)?;
        serde_json::from_str(text.expose_secret()).ok()
    }

    /// A text option as given; `None` when absent or blank. Numbers and booleans are printed.
    pub fn text(&self, key: &str) -> Result<Option<String>, DriverError> {
        let text = self.field(key).str(key).map_err(invalid)?;
        Ok(text.filter(|t| !t.trim().is_empty()))
    }

    /// A text option holding a secret; `None` when absent or blank.
    pub fn secret(&self, key: &str) -> Result<Option<SecretString>, DriverError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(SecretString::from(s))),
            Some(_) => Err(DriverError::InvalidConfig(format!(
                "field {key:?} must be a string"
            ))),
        }
    }

    /// A boolean option (`true`, `"true"`, `1`, ...); false when absent.
    pub fn flag(&self, key: &str) -> Result<bool, DriverError> {
        Ok(self.field(key).bool(key).map_err(invalid)?.unwrap_or(false))
    }

    /// An integer option, given as a number or a numeric string.
    pub fn int(&self, key: &str) -> Result<Option<i64>, DriverError> {
        self.field(key).int(key).map_err(invalid)
    }

    /// For a driver that has no use for `keys`: an error naming those that were set (to
    /// anything but `false` or zero), rather than ignoring them (a `tls = true` that did
    /// nothing would be worse than an error).
    pub fn refuse(&self, keys: &[&str], plugin: &str, instead: &str) -> Result<(), DriverError> {
        let set: Vec<&str> = keys.iter().copied().filter(|k| self.is_set(k)).collect();
        if set.is_empty() {
            return Ok(());
        }
        Err(DriverError::InvalidConfig(format!(
            "{} not used by {plugin}: {instead}",
            set.join(", ")
        )))
    }
}

impl Options {
    /// Given, and to something other than `false` or zero.
    fn is_set(&self, key: &str) -> bool {
        match self.value(key) {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Number(n)) => n.as_i64() != Some(0),
            Some(_) => true,
        }
    }
}

fn invalid(e: leasehold_backend::BackendError) -> DriverError {
    DriverError::InvalidConfig(e.to_string())
}

impl std::fmt::Debug for Options {
    // Values may be secrets: only the names show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Serialize for Options {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map: Map<String, Value> = self
            .0
            .keys()
            .filter_map(|key| Some((key.clone(), self.value(key)?)))
            .collect();
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(Self::from_map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(v: Value) -> Options {
        match v {
            Value::Object(map) => Options::from_map(map),
            _ => Options::default(),
        }
    }

    #[test]
    fn values_parse_as_request_fields_do() {
        let o = options(
            json!({"host": " db ", "port": "6379", "tls": "true", "ca_cert": "",
                               "key": "s3cret", "gone": null}),
        );
        assert_eq!(o.text("host").unwrap().as_deref(), Some(" db "));
        assert_eq!(o.int("port").unwrap(), Some(6379));
        assert!(o.flag("tls").unwrap());
        assert!(!o.flag("insecure_tls").unwrap());
        assert_eq!(o.text("ca_cert").unwrap(), None);
        assert_eq!(o.secret("key").unwrap().unwrap().expose_secret(), "s3cret");
        assert_eq!(o.keys().collect::<Vec<_>>(), ["host", "key", "port", "tls"]);
        assert!(!format!("{o:?}").contains("s3cret"));
        let err = options(json!({"tls": "maybe"})).flag("tls").unwrap_err();
        assert!(matches!(err, DriverError::InvalidConfig(_)));
        assert!(err.to_string().contains("tls"), "{err}");
    }

    #[test]
    fn refusal_names_what_was_set() {
        let o = options(json!({"host": "db", "tls": true, "port": null, "insecure_tls": false}));
        let err = o
            .refuse(
                &["host", "port", "tls", "insecure_tls"],
                "x-plugin",
                "use the URL",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "host, tls not used by x-plugin: use the URL"
        );
        assert!(o.refuse(&["port", "insecure_tls"], "x", "y").is_ok());
    }

    #[test]
    fn stored_at_the_top_level_of_the_entry() {
        #[derive(Serialize, Deserialize)]
        struct Entry {
            plugin_name: String,
            #[serde(flatten)]
            options: Options,
        }
        // As entries written before options existed stored them.
        let old = json!({"plugin_name": "redis-database-plugin", "host": "db", "port": 6379,
                         "tls": false, "ca_cert": null, "tls_certificate_key": null});
        let entry: Entry = serde_json::from_value(old).unwrap();
        assert_eq!(
            entry.options.keys().collect::<Vec<_>>(),
            ["host", "port", "tls"]
        );
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            json!({"plugin_name": "redis-database-plugin", "host": "db", "port": 6379, "tls": false})
        );
    }
}
