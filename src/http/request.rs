//! Parse an HTTP request into an [`ApiRequest`], with Vault's leniency: the LIST verb or
//! `?list=true` (any case), query parameters as fields, an empty body as `{}` whatever the content
//! type, form bodies when declared, the token from `X-Vault-Token` or `Authorization: Bearer`, and
//! the response-wrapping headers (`X-Vault-Wrap-TTL`, `X-Vault-Wrap-Format`).

use axum::body::Body;
use axum::http::{HeaderMap, Method as HttpMethod, Request};
use leasehold_backend::request::parse_bool;
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::path::CanonicalPath;
use crate::core::api::{ApiRequest, Method};
use crate::core::wrapping;
use crate::error::{Error, Result};

/// How large a request's body may be and how long it may take to arrive (see
/// [`super::limits::body_limit`] for how the size is chosen).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    /// Bytes at most; a larger body is refused with 413 as soon as that is known.
    pub max_size: usize,
    /// Time allowed for the whole body.
    pub timeout: std::time::Duration,
}

impl Default for BodyLimit {
    /// The listener's defaults for a request with a valid token.
    fn default() -> Self {
        let limits = crate::config::ListenerLimits::default();
        Self {
            max_size: limits.max_request_size,
            timeout: limits.body_read_timeout,
        }
    }
}

/// Parse the whole request; `path` is its canonical path ([`super::path::resolve`]).
pub async fn parse(
    req: Request<Body>,
    path: CanonicalPath,
    limit: BodyLimit,
) -> Result<ApiRequest> {
    let (parts, body) = req.into_parts();
    refuse_unsupported_headers(&parts.headers)?;
    let mut method = match parts.method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "LIST" => Method::List,
        "POST" | "PUT" => Method::Write,
        "DELETE" => Method::Delete,
        _ => return Err(Error::UnsupportedOperation),
    };
    let mut data = query(parts.uri.query().unwrap_or_default())?;
    if let Some(list) = data.remove("list") {
        let list = list
            .as_str()
            .and_then(parse_bool)
            .ok_or_else(|| Error::invalid("invalid value for \"list\""))?;
        if list && method == Method::Get {
            method = Method::List;
        }
    }
    // A declared length over the limit is refused before a byte of the body is read.
    if super::limits::declared_length(&parts.headers).is_some_and(|n| n > limit.max_size as u64) {
        return Err(Error::PayloadTooLarge);
    }
    let bytes =
        match tokio::time::timeout(limit.timeout, axum::body::to_bytes(body, limit.max_size)).await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => return Err(Error::PayloadTooLarge),
            Err(_) => return Err(Error::BodyTimeout),
        };
    if parts.method != HttpMethod::HEAD {
        for (k, v) in parse_body(&parts.headers, &bytes)? {
            data.insert(k, v);
        }
    }
    // Vault appends the `/` to every list path: policies see list paths that way.
    let path = if method == Method::List {
        path.for_list()
    } else {
        path
    };
    let header = |name: &str| -> Result<Option<&str>> {
        parts
            .headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| Error::invalid(format!("{name} header is not ASCII")))
            })
            .transpose()
    };
    let wrap_ttl =
        wrapping::parse_headers(header("x-vault-wrap-ttl")?, header("x-vault-wrap-format")?)?;
    Ok(ApiRequest {
        method,
        path,
        data,
        token: token(&parts.headers),
        remote_addr: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip()),
        request_id: String::new(),
        purpose_header: parts
            .headers
            .get("x-leasehold-purpose")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        wrap_ttl,
    })
}

/// Headers that ask for a security behaviour leasehold does not have. Ignoring them would
/// serve the request without what the caller asked for, so they are refused (400).
fn refuse_unsupported_headers(headers: &HeaderMap) -> Result<()> {
    let value = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not text)").trim().to_owned())
    };
    if let Some(ns) = value("x-vault-namespace") {
        // The root namespace is the only one there is: naming it (or nothing) is fine.
        if !matches!(ns.trim_matches('/'), "" | "root") {
            return Err(Error::invalid(format!(
                "namespaces are not supported: X-Vault-Namespace {ns:?} cannot be honoured"
            )));
        }
    }
    if value("x-vault-mfa").is_some() {
        return Err(Error::invalid(
            "login MFA is not supported: the X-Vault-MFA header cannot be honoured",
        ));
    }
    Ok(())
}

fn query(q: &str) -> Result<Map<String, Value>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
        .map_err(|e| Error::invalid(format!("invalid query string: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect())
}

fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Map<String, Value>> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Ok(Map::new());
    };
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if form && *first != b'{' && *first != b'[' {
        let text =
            std::str::from_utf8(bytes).map_err(|_| Error::invalid("form body is not UTF-8"))?;
        return query(text);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::invalid("request body must be a JSON object")),
        Err(e) => Err(Error::invalid(format!("failed to parse JSON input: {e}"))),
    }
}

/// The token a request carries, from `X-Vault-Token` or `Authorization: Bearer`.
pub(super) fn token(headers: &HeaderMap) -> Option<SecretString> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        return Some(SecretString::from(t.trim().to_owned()));
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| SecretString::from(t.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse_req(method: &str, uri: &str, body: &str) -> Result<ApiRequest> {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let path = match super::super::path::resolve(req.uri().path(), None)? {
            super::super::path::Resolved::Canonical(p) => p,
            other => panic!("{other:?}"),
        };
        parse(req, path, BodyLimit::default()).await
    }

    #[tokio::test]
    async fn list_paths_carry_one_trailing_slash() {
        let r = parse_req("GET", "/v1/database/roles?list=true", "")
            .await
            .unwrap();
        assert_eq!(r.path.as_str(), "database/roles/");
        let r = parse_req("LIST", "/v1/database/roles/", "").await.unwrap();
        assert_eq!(r.path.as_str(), "database/roles/");
        let r = parse_req("GET", "/v1/database/roles", "").await.unwrap();
        assert_eq!(r.path.as_str(), "database/roles");
    }

    #[tokio::test]
    async fn unsupported_security_headers_are_refused() {
        let with = |name: &str, value: &str| {
            Request::builder()
                .method("GET")
                .uri("/v1/sys/mounts")
                .header(name, value)
                .body(Body::empty())
                .unwrap()
        };
        let path = || CanonicalPath::parse("sys/mounts").unwrap();
        let e = parse(
            with("X-Vault-Namespace", "team-a"),
            path(),
            BodyLimit::default(),
        )
        .await
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("namespaces are not supported"),
            "{e}"
        );
        assert!(parse(
            with("X-Vault-Namespace", "root"),
            path(),
            BodyLimit::default()
        )
        .await
        .is_ok());
        assert!(
            parse(with("X-Vault-Namespace", ""), path(), BodyLimit::default())
                .await
                .is_ok()
        );
        let e = parse(with("X-Vault-MFA", "m:123"), path(), BodyLimit::default())
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("MFA"), "{e}");
    }

    #[tokio::test]
    async fn list_forms() {
        assert_eq!(
            parse_req("LIST", "/v1/database/roles", "")
                .await
                .unwrap()
                .method,
            Method::List
        );
        assert_eq!(
            parse_req("GET", "/v1/database/roles?list=True", "")
                .await
                .unwrap()
                .method,
            Method::List
        );
        assert_eq!(
            parse_req("GET", "/v1/database/roles?list=1", "")
                .await
                .unwrap()
                .method,
            Method::List
        );
        assert!(parse_req("GET", "/v1/x?list=maybe", "").await.is_err());
    }

    #[tokio::test]
    async fn wrap_headers() {
        let with = |ttl: &str| {
            Request::builder()
                .method("GET")
                .uri("/v1/database/creds/ro")
                .header("X-Vault-Wrap-TTL", ttl)
                .body(Body::empty())
                .unwrap()
        };
        let path = || CanonicalPath::parse("database/creds/ro").unwrap();
        let r = parse(with("5m"), path(), BodyLimit::default())
            .await
            .unwrap();
        assert_eq!(r.wrap_ttl, Some(std::time::Duration::from_secs(300)));
        assert_eq!(
            parse(with("0"), path(), BodyLimit::default())
                .await
                .unwrap()
                .wrap_ttl,
            None
        );
        assert!(parse_req("GET", "/v1/x", "")
            .await
            .unwrap()
            .wrap_ttl
            .is_none());
        assert!(matches!(
            parse(with("-1"), path(), BodyLimit::default()).await,
            Err(Error::InvalidRequest(m)) if m.contains("negative")
        ));
    }

    #[tokio::test]
    async fn bodies() {
        let r = parse_req(
            "PUT",
            "/v1/sys/leases/renew?increment=5",
            "{\"lease_id\":\"a/b\"}",
        )
        .await
        .unwrap();
        assert_eq!(r.data["lease_id"], "a/b");
        assert_eq!(r.data["increment"], "5");
        assert!(parse_req("POST", "/v1/x", "   ")
            .await
            .unwrap()
            .data
            .is_empty());
        let e = parse_req("POST", "/v1/x", "{bad").await.err().unwrap();
        assert!(e.to_string().contains("failed to parse JSON"));
        assert!(parse_req("POST", "/v1/x", "[1]").await.is_err());
        assert!(matches!(
            parse_req("PATCH", "/v1/x", "").await,
            Err(Error::UnsupportedOperation)
        ));
    }
}
