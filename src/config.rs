//! The server's one typed configuration. Layers: defaults < the `-config` file (TOML) <
//! `LEASEHOLD_*` environment variables < command-line flags. Unknown keys are rejected; errors
//! name the key and the bad value. The README documents every key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use leasehold_backend::duration::parse_duration;
use secrecy::SecretString;
use serde::Deserialize;

use crate::lease::LeaseSettings;

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// Parser message (names the key).
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid value for {key}: {message}")]
    Value {
        /// Dotted key (`lease.retry_base`) or env var.
        key: String,
        /// Why.
        message: String,
    },
}

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[listener]`.
    #[serde(default)]
    pub listener: ListenerConfig,
    /// `[storage]`.
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[seal]`.
    #[serde(default)]
    pub seal: SealConfig,
    /// `[lease]`.
    #[serde(default)]
    pub lease: LeaseConfig,
    /// `[telemetry]`.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// System default lease TTL (`768h` if unset).
    pub default_lease_ttl: Option<String>,
    /// System max lease TTL (`768h` if unset).
    pub max_lease_ttl: Option<String>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    /// Where clients reach this node (`https://10.0.0.5:8200`), as Vault's `api_addr`: what
    /// `sys/leader` and `sys/ha-status` report to other nodes' clients.
    pub api_addr: Option<String>,
    /// Serve the web console at `/ui/` (default: on in dev mode, off otherwise).
    pub ui: Option<bool>,
}

/// `[listener]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `host:port`; default `127.0.0.1:8200`.
    pub address: Option<String>,
    /// PEM certificate chain; with `tls_key_file`, serve HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key.
    pub tls_key_file: Option<PathBuf>,
    /// Time allowed for a request's headers, from the first byte (and for a new connection's
    /// first request, from the accept; the TLS handshake counts too). Vault's name; default `10s`.
    pub http_read_header_timeout: Option<String>,
    /// Time allowed for reading a request's body once its headers are in. Vault's name (Vault
    /// counts the headers too); default `30s`.
    pub http_read_timeout: Option<String>,
    /// How long a keep-alive connection may wait for its next request. Vault's name; default `5m`.
    pub http_idle_timeout: Option<String>,
    /// Longest time one request may take, body included, before the client gets a 503. Vault's
    /// name; default `90s`.
    pub max_request_duration: Option<String>,
    /// Largest request body, in bytes, for a request with a valid token. Vault's name; default
    /// 32 MiB.
    pub max_request_size: Option<usize>,
    /// Largest request body, in bytes, for a request without a valid token (logins, unwrapping,
    /// `sys/init`-style paths). Not in Vault; default 64 KiB.
    pub max_unauthenticated_request_size: Option<usize>,
    /// Open connections at most; the next ones wait in the kernel's backlog. Default 512.
    pub max_connections: Option<usize>,
}

/// `[storage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite` (default: one node, a local file) or `postgresql` (several nodes, one database).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// SQLite file; default `./leasehold.db`.
    pub path: Option<PathBuf>,
    /// PostgreSQL: `postgres://user:password@host:5432/db` or a `key=value` string. Better set
    /// through `LEASEHOLD_STORAGE_CONNECTION_URL`, which keeps the password out of the file.
    pub connection_url: Option<SecretString>,
    /// PostgreSQL: pooled connections at most (default 16), as Vault's `max_parallel`.
    pub max_parallel: Option<usize>,
}

/// Which storage the server uses, resolved.
#[derive(Debug, Clone)]
pub enum StorageSettings {
    /// One SQLite file; one node.
    Sqlite(PathBuf),
    /// A PostgreSQL database that several nodes share.
    Postgres {
        /// The connection URL (holds the password).
        connection_url: SecretString,
        /// Pool size.
        max_parallel: usize,
    },
}

/// `[seal]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealConfig {
    /// File holding the 32-byte AES-256-GCM key (raw, hex or base64). Required outside dev mode.
    pub key_file: Option<PathBuf>,
}

/// `[lease]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// First retry delay after a failed destruction (default `1s`).
    pub retry_base: Option<String>,
    /// Longest retry delay (default `5m`).
    pub retry_max: Option<String>,
    /// Failed attempts before a lease is listed as irrevocable (default 6).
    pub irrevocable_after: Option<i64>,
    /// Destructions at once (default 16).
    pub revoke_concurrency: Option<usize>,
    /// Time allowed for one target call (default `60s`).
    pub target_timeout: Option<String>,
    /// How long revoked tombstones are kept (default `168h`).
    pub tombstone_ttl: Option<String>,
    /// How long the access history keeps an ended lease (default `9600h`, 400 days).
    pub history_retention: Option<String>,
}

/// `[telemetry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Serve `/metrics`, and `sys/metrics`, without a token (default false), as Vault's
    /// `unauthenticated_metrics_access`.
    pub unauthenticated_metrics_access: Option<bool>,
}

/// The listener's limits, resolved (see [`ListenerConfig`] for what each one bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// `http_read_header_timeout`.
    pub header_read_timeout: Duration,
    /// `http_read_timeout`: the body.
    pub body_read_timeout: Duration,
    /// `http_idle_timeout`.
    pub idle_timeout: Duration,
    /// `max_request_duration`.
    pub max_request_duration: Duration,
    /// `max_request_size`, for requests with a valid token.
    pub max_request_size: usize,
    /// `max_unauthenticated_request_size`.
    pub max_unauthenticated_request_size: usize,
    /// `max_connections`.
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    /// Vault's defaults for the keys Vault has; 64 KiB and 512 connections for the others.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_request_duration: Duration::from_secs(90),
            max_request_size: 32 * 1024 * 1024,
            max_unauthenticated_request_size: 64 * 1024,
            max_connections: 512,
        }
    }
}

/// `[listener]`'s limits resolved. Every timeout must be above zero: Vault reads zero as "no
/// limit", which is the hole this closes, so zero is refused rather than honoured.
fn listener_limits(l: &ListenerConfig) -> Result<ListenerLimits, ConfigError> {
    let d = ListenerLimits::default();
    let timeout = |key: &str, value: Option<&String>, default: Duration| {
        let v = duration(
            &format!("listener.{key}"),
            value.map(String::as_str),
            default,
        )?;
        if v.is_zero() {
            return Err(ConfigError::Value {
                key: format!("listener.{key}"),
                message: "must be above zero (a listener without this limit can be held open \
                          by a slow client)"
                    .into(),
            });
        }
        Ok(v)
    };
    let limits = ListenerLimits {
        header_read_timeout: timeout(
            "http_read_header_timeout",
            l.http_read_header_timeout.as_ref(),
            d.header_read_timeout,
        )?,
        body_read_timeout: timeout(
            "http_read_timeout",
            l.http_read_timeout.as_ref(),
            d.body_read_timeout,
        )?,
        idle_timeout: timeout(
            "http_idle_timeout",
            l.http_idle_timeout.as_ref(),
            d.idle_timeout,
        )?,
        max_request_duration: timeout(
            "max_request_duration",
            l.max_request_duration.as_ref(),
            d.max_request_duration,
        )?,
        max_request_size: l.max_request_size.unwrap_or(d.max_request_size),
        max_unauthenticated_request_size: l
            .max_unauthenticated_request_size
            .unwrap_or(d.max_unauthenticated_request_size),
        max_connections: l.max_connections.unwrap_or(d.max_connections),
    };
    let positive = [
        ("max_request_size", limits.max_request_size),
        (
            "max_unauthenticated_request_size",
            limits.max_unauthenticated_request_size,
        ),
        ("max_connections", limits.max_connections),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(ConfigError::Value {
                key: format!("listener.{key}"),
                message: "must be at least 1".into(),
            });
        }
    }
    if limits.max_unauthenticated_request_size > limits.max_request_size {
        return Err(ConfigError::Value {
            key: "listener.max_unauthenticated_request_size".into(),
            message: "cannot exceed listener.max_request_size".into(),
        });
    }
    Ok(limits)
}

/// Everything the server needs, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub address: String,
    /// Listener timeouts, size limits and connection cap.
    pub limits: ListenerLimits,
    /// TLS cert and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The storage.
    pub storage: StorageSettings,
    /// This node's address for clients (`api_addr`); derived from the listener when unset.
    pub api_addr: Option<String>,
    /// Key file; `None` = generated (dev mode only).
    pub key_file: Option<PathBuf>,
    /// Lease engine tunables.
    pub lease: LeaseSettings,
    /// System default TTL.
    pub default_lease_ttl: Duration,
    /// System max TTL.
    pub max_lease_ttl: Duration,
    /// JSON logs.
    pub json_logs: bool,
    /// Metrics readable without a token, at `/metrics` and `sys/metrics`.
    pub unauthenticated_metrics_access: bool,
    /// The web console at `/ui/`; `None`: on in dev mode only.
    pub ui: Option<bool>,
}

fn duration(key: &str, value: Option<&str>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse_duration(v).map_err(|e| ConfigError::Value {
            key: key.into(),
            message: e.to_string(),
        }),
    }
}

/// An environment variable, if set and non-empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Every configuration key, the environment variable that sets it (over the file), and what it
/// is; `leasehold server --help` prints this table. A variable is named after its key:
/// `LEASEHOLD_` then the section and key, upper-cased, with `_` for `.`.
pub const ENV_KEYS: &[(&str, &str, &str)] = &[
    (
        "listener.address",
        "LEASEHOLD_LISTENER_ADDRESS",
        "host:port to listen on [127.0.0.1:8200]",
    ),
    (
        "listener.tls_cert_file",
        "LEASEHOLD_LISTENER_TLS_CERT_FILE",
        "PEM certificate chain; with tls_key_file, HTTPS",
    ),
    (
        "listener.tls_key_file",
        "LEASEHOLD_LISTENER_TLS_KEY_FILE",
        "PEM private key",
    ),
    (
        "listener.http_read_header_timeout",
        "LEASEHOLD_LISTENER_HTTP_READ_HEADER_TIMEOUT",
        "[10s]",
    ),
    (
        "listener.http_read_timeout",
        "LEASEHOLD_LISTENER_HTTP_READ_TIMEOUT",
        "request body [30s]",
    ),
    (
        "listener.http_idle_timeout",
        "LEASEHOLD_LISTENER_HTTP_IDLE_TIMEOUT",
        "keep-alive [5m]",
    ),
    (
        "listener.max_request_duration",
        "LEASEHOLD_LISTENER_MAX_REQUEST_DURATION",
        "[90s]",
    ),
    (
        "listener.max_request_size",
        "LEASEHOLD_LISTENER_MAX_REQUEST_SIZE",
        "bytes [33554432]",
    ),
    (
        "listener.max_unauthenticated_request_size",
        "LEASEHOLD_LISTENER_MAX_UNAUTHENTICATED_REQUEST_SIZE",
        "bytes [65536]",
    ),
    (
        "listener.max_connections",
        "LEASEHOLD_LISTENER_MAX_CONNECTIONS",
        "[512]",
    ),
    (
        "storage.type",
        "LEASEHOLD_STORAGE_TYPE",
        "sqlite or postgresql [sqlite]",
    ),
    (
        "storage.path",
        "LEASEHOLD_STORAGE_PATH",
        "SQLite file [./leasehold.db]",
    ),
    (
        "storage.connection_url",
        "LEASEHOLD_STORAGE_CONNECTION_URL",
        "PostgreSQL URL (holds a password: prefer the variable)",
    ),
    (
        "storage.max_parallel",
        "LEASEHOLD_STORAGE_MAX_PARALLEL",
        "PostgreSQL pool size [16]",
    ),
    (
        "seal.key_file",
        "LEASEHOLD_SEAL_KEY_FILE",
        "file holding the 32-byte seal key (required)",
    ),
    (
        "lease.retry_base",
        "LEASEHOLD_LEASE_RETRY_BASE",
        "first retry after a failed destruction [1s]",
    ),
    (
        "lease.retry_max",
        "LEASEHOLD_LEASE_RETRY_MAX",
        "longest retry delay [5m]",
    ),
    (
        "lease.irrevocable_after",
        "LEASEHOLD_LEASE_IRREVOCABLE_AFTER",
        "failed attempts before irrevocable [6]",
    ),
    (
        "lease.revoke_concurrency",
        "LEASEHOLD_LEASE_REVOKE_CONCURRENCY",
        "destructions at once on targets that do not pool or batch (IAM, RabbitMQ); database engines may have 16x in flight [64]",
    ),
    (
        "lease.target_timeout",
        "LEASEHOLD_LEASE_TARGET_TIMEOUT",
        "one target call [60s]",
    ),
    (
        "lease.tombstone_ttl",
        "LEASEHOLD_LEASE_TOMBSTONE_TTL",
        "[168h]",
    ),
    (
        "lease.history_retention",
        "LEASEHOLD_LEASE_HISTORY_RETENTION",
        "ended leases in the access history [9600h]",
    ),
    (
        "telemetry.unauthenticated_metrics_access",
        "LEASEHOLD_TELEMETRY_UNAUTHENTICATED_METRICS_ACCESS",
        "true or false [false]",
    ),
    ("default_lease_ttl", "LEASEHOLD_DEFAULT_LEASE_TTL", "[768h]"),
    ("max_lease_ttl", "LEASEHOLD_MAX_LEASE_TTL", "[768h]"),
    ("log_format", "LEASEHOLD_LOG_FORMAT", "text or json [text]"),
    (
        "api_addr",
        "LEASEHOLD_API_ADDR",
        "where clients reach this node",
    ),
    (
        "ui",
        "LEASEHOLD_UI",
        "true or false: the web console at /ui/ [true in -dev, else false]",
    ),
];

/// Earlier names of some variables, still read when the new name is unset.
const ENV_ALIASES: &[(&str, &str)] = &[
    ("LEASEHOLD_LISTENER_ADDRESS", "LEASEHOLD_ADDRESS"),
    ("LEASEHOLD_SEAL_KEY_FILE", "LEASEHOLD_KEY_FILE"),
    ("LEASEHOLD_LEASE_RETRY_BASE", "LEASEHOLD_RETRY_BASE"),
    ("LEASEHOLD_LEASE_RETRY_MAX", "LEASEHOLD_RETRY_MAX"),
];

impl FileConfig {
    /// Overlay the environment's values ([`ENV_KEYS`]) on the file's. A malformed value is an
    /// error naming the variable.
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
        for (key, var, _) in ENV_KEYS {
            let alias = ENV_ALIASES.iter().find(|(v, _)| v == var).map(|(_, a)| *a);
            if let Some(value) = env(var).or_else(|| alias.and_then(env)) {
                self.set(key, var, value)?;
            }
        }
        Ok(())
    }

    /// Set one key from a variable's text.
    fn set(&mut self, key: &str, var: &str, v: String) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::Value {
            key: var.into(),
            message,
        };
        let count = |v: &str| {
            v.parse::<usize>()
                .map_err(|e| bad(format!("{v:?} is not a count: {e}")))
        };
        let flag = |v: &str| match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(bad(format!("{v:?} is not true or false"))),
        };
        let (l, lease) = (&mut self.listener, &mut self.lease);
        match key {
            "listener.address" => l.address = Some(v),
            "listener.tls_cert_file" => l.tls_cert_file = Some(v.into()),
            "listener.tls_key_file" => l.tls_key_file = Some(v.into()),
            "listener.http_read_header_timeout" => l.http_read_header_timeout = Some(v),
            "listener.http_read_timeout" => l.http_read_timeout = Some(v),
            "listener.http_idle_timeout" => l.http_idle_timeout = Some(v),
            "listener.max_request_duration" => l.max_request_duration = Some(v),
            "listener.max_request_size" => l.max_request_size = Some(count(&v)?),
            "listener.max_unauthenticated_request_size" => {
                l.max_unauthenticated_request_size = Some(count(&v)?)
            }
            "listener.max_connections" => l.max_connections = Some(count(&v)?),
            "storage.type" => self.storage.kind = Some(v),
            "storage.path" => self.storage.path = Some(v.into()),
            "storage.connection_url" => self.storage.connection_url = Some(v.into()),
            "storage.max_parallel" => self.storage.max_parallel = Some(count(&v)?),
            "seal.key_file" => self.seal.key_file = Some(v.into()),
            "lease.retry_base" => lease.retry_base = Some(v),
            "lease.retry_max" => lease.retry_max = Some(v),
            "lease.irrevocable_after" => {
                lease.irrevocable_after = Some(
                    v.parse()
                        .map_err(|e| bad(format!("{v:?} is not a count: {e}")))?,
                )
            }
            "lease.revoke_concurrency" => lease.revoke_concurrency = Some(count(&v)?),
            "lease.target_timeout" => lease.target_timeout = Some(v),
            "lease.tombstone_ttl" => lease.tombstone_ttl = Some(v),
            "lease.history_retention" => lease.history_retention = Some(v),
            "telemetry.unauthenticated_metrics_access" => {
                self.telemetry.unauthenticated_metrics_access = Some(flag(&v)?)
            }
            "ui" => self.ui = Some(flag(&v)?),
            "default_lease_ttl" => self.default_lease_ttl = Some(v),
            "max_lease_ttl" => self.max_lease_ttl = Some(v),
            "log_format" => self.log_format = Some(v),
            "api_addr" => self.api_addr = Some(v),
            _ => return Err(bad(format!("internal: no config key {key}"))),
        }
        Ok(())
    }
}

/// `[storage]` resolved, with its environment overrides.
fn storage_settings(file: StorageConfig) -> Result<StorageSettings, ConfigError> {
    let kind = file.kind;
    match kind.as_deref() {
        None | Some("sqlite") => {
            if file.connection_url.is_some() || file.max_parallel.is_some() {
                return Err(ConfigError::Value {
                    key: "storage.connection_url".into(),
                    message: "is for type = \"postgresql\"; the sqlite storage takes only path"
                        .into(),
                });
            }
            Ok(StorageSettings::Sqlite(
                file.path.unwrap_or_else(|| "leasehold.db".into()),
            ))
        }
        Some("postgresql") => {
            if file.path.is_some() {
                return Err(ConfigError::Value {
                    key: "storage.path".into(),
                    message: "is for type = \"sqlite\"; postgresql takes connection_url".into(),
                });
            }
            let connection_url = file.connection_url.ok_or_else(|| ConfigError::Value {
                key: "storage.connection_url".into(),
                message: "is required for type = \"postgresql\" (or set \
                              LEASEHOLD_STORAGE_CONNECTION_URL)"
                    .into(),
            })?;
            let max_parallel = file.max_parallel.unwrap_or(16);
            if max_parallel < 2 {
                return Err(ConfigError::Value {
                    key: "storage.max_parallel".into(),
                    message: "must be at least 2".into(),
                });
            }
            Ok(StorageSettings::Postgres {
                connection_url,
                max_parallel,
            })
        }
        Some(other) => Err(ConfigError::Value {
            key: "storage.type".into(),
            message: format!("{other:?} is not \"sqlite\" or \"postgresql\""),
        }),
    }
}

impl Settings {
    /// Read a config file.
    pub fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Resolve a file config (or [`FileConfig::default`], for a configuration from the
    /// environment alone) plus the environment's overrides ([`ENV_KEYS`]).
    pub fn resolve(mut file: FileConfig) -> Result<Self, ConfigError> {
        file.apply_env()?;
        let d = LeaseSettings::default();
        let l = &file.lease;
        let lease = LeaseSettings {
            retry_base: duration("lease.retry_base", l.retry_base.as_deref(), d.retry_base)?,
            retry_max: duration("lease.retry_max", l.retry_max.as_deref(), d.retry_max)?,
            irrevocable_after: l.irrevocable_after.unwrap_or(d.irrevocable_after),
            revoke_concurrency: l.revoke_concurrency.unwrap_or(d.revoke_concurrency),
            target_timeout: duration(
                "lease.target_timeout",
                l.target_timeout.as_deref(),
                d.target_timeout,
            )?,
            tombstone_ttl: duration(
                "lease.tombstone_ttl",
                l.tombstone_ttl.as_deref(),
                d.tombstone_ttl,
            )?,
            history_retention: duration(
                "lease.history_retention",
                l.history_retention.as_deref(),
                d.history_retention,
            )?,
            claim_timeout: d.claim_timeout,
            integrity_sweep_interval: d.integrity_sweep_interval,
        };
        if lease.retry_base.is_zero() || lease.retry_base > lease.retry_max {
            return Err(ConfigError::Value {
                key: "lease.retry_base".into(),
                message: "must be above zero and not above lease.retry_max".into(),
            });
        }
        if lease.history_retention.is_zero() {
            return Err(ConfigError::Value {
                key: "lease.history_retention".into(),
                message: "must be above zero".into(),
            });
        }
        if lease.revoke_concurrency == 0 {
            return Err(ConfigError::Value {
                key: "lease.revoke_concurrency".into(),
                message: "must be at least 1".into(),
            });
        }
        let system = Duration::from_secs(768 * 3600);
        let default_lease_ttl = duration(
            "default_lease_ttl",
            file.default_lease_ttl.as_deref(),
            system,
        )?;
        let max_lease_ttl = duration("max_lease_ttl", file.max_lease_ttl.as_deref(), system)?;
        if default_lease_ttl > max_lease_ttl {
            return Err(ConfigError::Value {
                key: "default_lease_ttl".into(),
                message: "cannot exceed max_lease_ttl".into(),
            });
        }
        let limits = listener_limits(&file.listener)?;
        let tls = match (file.listener.tls_cert_file, file.listener.tls_key_file) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Value {
                    key: "listener.tls_cert_file".into(),
                    message: "tls_cert_file and tls_key_file must be set together".into(),
                })
            }
        };
        let json_logs = match file.log_format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(ConfigError::Value {
                    key: "log_format".into(),
                    message: format!("{other:?} is not \"text\" or \"json\""),
                })
            }
        };
        Ok(Self {
            address: file
                .listener
                .address
                .unwrap_or_else(|| "127.0.0.1:8200".into()),
            limits,
            tls,
            storage: storage_settings(file.storage)?,
            api_addr: file.api_addr,
            key_file: file.seal.key_file,
            lease,
            default_lease_ttl,
            max_lease_ttl,
            json_logs,
            unauthenticated_metrics_access: file
                .telemetry
                .unauthenticated_metrics_access
                .unwrap_or(false),
            ui: file.ui,
        })
    }
}

impl Settings {
    /// Settings for tests: SQLite at `storage_path`, key at `key_file`, fast destruction retries.
    /// No environment variables are read.
    pub fn for_tests(storage_path: PathBuf, key_file: PathBuf) -> Self {
        Self {
            address: "127.0.0.1:0".into(),
            limits: ListenerLimits::default(),
            tls: None,
            storage: StorageSettings::Sqlite(storage_path),
            api_addr: None,
            key_file: Some(key_file),
            lease: LeaseSettings {
                retry_base: Duration::from_millis(200),
                retry_max: Duration::from_secs(2),
                target_timeout: Duration::from_secs(15),
                integrity_sweep_interval: Duration::from_secs(1),
                ..LeaseSettings::default()
            },
            default_lease_ttl: Duration::from_secs(768 * 3600),
            max_lease_ttl: Duration::from_secs(768 * 3600),
            json_logs: false,
            unauthenticated_metrics_access: false,
            ui: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = toml::from_str::<FileConfig>("[lease]\nretry_bse = \"1s\"").unwrap_err();
        assert!(e.to_string().contains("retry_bse"));
        let file: FileConfig = toml::from_str("[lease]\nretry_base = \"soon\"").unwrap();
        let e = Settings::resolve(file).unwrap_err();
        assert!(e.to_string().contains("lease.retry_base"));
    }

    #[test]
    fn listener_limits_default_to_vaults_and_refuse_zero() {
        let s = Settings::resolve(FileConfig::default()).unwrap();
        assert_eq!(s.limits, ListenerLimits::default());
        assert_eq!(s.limits.header_read_timeout, Duration::from_secs(10));
        let text = "[listener]\nhttp_read_header_timeout = \"2s\"\nmax_request_size = 1000\n\
                    max_unauthenticated_request_size = 10\nmax_connections = 3";
        let s = Settings::resolve(toml::from_str(text).unwrap()).unwrap();
        assert_eq!(s.limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(s.limits.max_request_size, 1000);
        assert_eq!(s.limits.max_unauthenticated_request_size, 10);
        assert_eq!(s.limits.max_connections, 3);
        for (text, key) in [
            (
                "[listener]\nhttp_idle_timeout = \"0s\"",
                "listener.http_idle_timeout",
            ),
            (
                "[listener]\nmax_request_duration = \"soon\"",
                "listener.max_request_duration",
            ),
            (
                "[listener]\nmax_connections = 0",
                "listener.max_connections",
            ),
            (
                "[listener]\nmax_request_size = 100\nmax_unauthenticated_request_size = 200",
                "listener.max_unauthenticated_request_size",
            ),
        ] {
            let e = Settings::resolve(toml::from_str(text).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        // A Vault key leasehold does not implement is refused, not ignored.
        assert!(toml::from_str::<FileConfig>("[listener]\nhttp_write_timeout = \"5s\"").is_err());
    }

    #[test]
    fn storage_types_take_their_own_keys() {
        let pg = "[storage]\ntype = \"postgresql\"\nconnection_url = \"host=db user=lh password=s3cret\"";
        let file: FileConfig = toml::from_str(pg).unwrap();
        match Settings::resolve(file).unwrap().storage {
            StorageSettings::Postgres {
                max_parallel,
                connection_url,
            } => {
                assert_eq!(max_parallel, 16);
                // The password never reaches Debug output.
                assert!(!format!("{connection_url:?}").contains("s3cret"));
            }
            other => panic!("not postgresql: {other:?}"),
        }
        for (text, key) in [
            ("[storage]\ntype = \"postgresql\"", "storage.connection_url"),
            (
                "[storage]\ntype = \"postgresql\"\npath = \"x.db\"",
                "storage.path",
            ),
            (
                "[storage]\nconnection_url = \"host=db\"",
                "storage.connection_url",
            ),
            ("[storage]\ntype = \"consul\"", "storage.type"),
        ] {
            let file: FileConfig = toml::from_str(text).unwrap();
            let e = Settings::resolve(file).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn every_key_has_a_variable_named_after_it_and_the_variable_sets_it() {
        for (key, var, _) in ENV_KEYS {
            assert_eq!(
                *var,
                format!("LEASEHOLD_{}", key.replace('.', "_").to_uppercase()),
                "{key}"
            );
            let value = match *key {
                k if k.ends_with("_size") || k.ends_with("connections") => "7",
                "storage.max_parallel" | "lease.irrevocable_after" => "7",
                "lease.revoke_concurrency" => "7",
                "telemetry.unauthenticated_metrics_access" | "ui" => "true",
                _ => "1s",
            };
            let mut file = FileConfig::default();
            file.set(key, var, value.into()).unwrap();
        }
        let mut file = FileConfig::default();
        let e = file
            .set(
                "listener.max_connections",
                "LEASEHOLD_LISTENER_MAX_CONNECTIONS",
                "many".into(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("LEASEHOLD_LISTENER_MAX_CONNECTIONS"));
    }
}
