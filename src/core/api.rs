//! The core's request and response, independent of HTTP: the http layer parses into
//! [`ApiRequest`] and renders [`ApiResponse`] (Vault's envelope, raw JSON, or an empty status).

use secrecy::SecretString;

use crate::http::path::CanonicalPath;
use serde_json::{Map, Value};

/// The HTTP verb, reduced to what the core distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET (read, or list with `?list=true`).
    Get,
    /// HEAD (health only).
    Head,
    /// LIST.
    List,
    /// PUT or POST.
    Write,
    /// DELETE.
    Delete,
}

/// One API call.
#[derive(Clone)]
pub struct ApiRequest {
    /// Verb.
    pub method: Method,
    /// Logical path after `/v1/`, canonical (see [`crate::http::path`]): the one value that is
    /// authorized, routed, audited and written into lease ids. List paths end in `/`.
    pub path: CanonicalPath,
    /// Query parameters with the body's fields over them.
    pub data: Map<String, Value>,
    /// The client token, if any was sent.
    pub token: Option<SecretString>,
    /// The client's address, when the listener knows it.
    pub remote_addr: Option<std::net::IpAddr>,
    /// Request id (`request_id` in the envelope, `request.id` in the audit log).
    pub request_id: String,
    /// Why the caller needs a credential, from the `X-Leasehold-Purpose` header.
    pub purpose_header: Option<String>,
    /// The `X-Vault-Wrap-TTL` the caller asked for: `Some` means wrap the response (see
    /// [`crate::core::wrapping`]); always at least a second.
    pub wrap_ttl: Option<std::time::Duration>,
}

impl ApiRequest {
    /// True for LIST or `GET ?list=true`.
    pub fn is_list(&self) -> bool {
        self.method == Method::List
    }

    /// The path handlers match on: the canonical path, less the one `/` a list path carries.
    /// Any other trailing `/` is kept, so that `creds/admin/` never matches `creds/admin`.
    pub fn route_path(&self) -> &str {
        let path = self.path.as_str();
        if self.is_list() {
            path.strip_suffix('/').unwrap_or(path)
        } else {
            path
        }
    }
}

/// Vault's success envelope, before rendering.
#[derive(Debug, Default)]
pub struct Envelope {
    /// `lease_id`, empty when no lease.
    pub lease_id: String,
    /// `renewable`.
    pub renewable: bool,
    /// `lease_duration` in seconds.
    pub lease_duration: u64,
    /// `data`.
    pub data: Option<Map<String, Value>>,
    /// Secret values to merge into `data` when the body is written, and only then.
    pub secret_data: Vec<(String, SecretString)>,
    /// `warnings` (rendered `null` when empty).
    pub warnings: Vec<String>,
    /// `auth`.
    pub auth: Option<Value>,
    /// The token `auth` hands out, set into `auth.client_token` when the body is written, and
    /// only then (like `secret_data`).
    pub client_token: Option<SecretString>,
    /// `mount_type`.
    pub mount_type: String,
    /// Copy `data`'s keys to the top level too (Vault does for a few `sys/` paths).
    pub data_at_top_level: bool,
    /// `wrap_info`: set when the response was wrapped, and then every other field is empty.
    pub wrap_info: Option<WrapInfo>,
    /// The `request_id` to answer instead of this request's: an unwrapped response keeps the
    /// id of the request that produced it, as in Vault.
    pub request_id: Option<String>,
}

/// Vault's `wrap_info`: how to reach a response stored behind a single-use wrapping token.
/// `Debug` shows no token (it is a [`SecretString`]).
#[derive(Debug, Clone)]
pub struct WrapInfo {
    /// The wrapping token, in plaintext only on its way to the caller.
    pub token: SecretString,
    /// The wrapping token's accessor.
    pub accessor: String,
    /// Seconds the wrapping token lives.
    pub ttl: u64,
    /// When it was created.
    pub creation_time: chrono::DateTime<chrono::Utc>,
    /// The path whose response it wraps.
    pub creation_path: String,
    /// The accessor of the token (or AppRole secret id) inside, empty when none.
    pub wrapped_accessor: String,
    /// The lease of the credential inside, if any. Not rendered: kept so that a response that
    /// cannot be handed out (no audit device wrote it) still has its credential revoked.
    pub wrapped_lease_id: String,
}

/// What to answer.
#[derive(Debug)]
pub enum ApiResponse {
    /// 200 with the envelope.
    Ok(Envelope),
    /// 202 with the envelope (tidy).
    AcceptedEnvelope(Envelope),
    /// 204, no body.
    NoContent,
    /// 202, no body (async revoke).
    Accepted,
    /// 308 to the cleaned spelling of the request's path (`Location`: path and query).
    Redirect(String),
    /// A body outside the envelope (`sys/health`, `sys/seal-status`), with its status.
    Raw {
        /// HTTP status.
        status: u16,
        /// Body; `None` for HEAD.
        body: Option<Value>,
    },
    /// 200 with a body that is not JSON (`sys/metrics?format=prometheus`, a history export).
    Text {
        /// `Content-Type` of the body.
        content_type: &'static str,
        /// The body.
        body: String,
        /// A paged export's cursor for the next page, sent as `X-Leasehold-Next-After`.
        next_after: Option<String>,
    },
}

impl ApiResponse {
    /// A 200 envelope with `data`, served by a mount of `mount_type`.
    pub fn data(mount_type: &str, data: Map<String, Value>) -> Self {
        Self::Ok(Envelope {
            data: Some(data),
            mount_type: mount_type.into(),
            ..Envelope::default()
        })
    }
}

/// Build a JSON object from pairs.
#[macro_export]
macro_rules! obj {
    ($($k:expr => $v:expr),* $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( m.insert(($k).to_string(), serde_json::json!($v)); )*
        m
    }};
}
