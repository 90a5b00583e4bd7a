//! How much body a request may send before it is read: the full `max_request_size` only for a
//! caller with a valid token, the small `max_unauthenticated_request_size` for everyone else.
//!
//! Vault reads up to `max_request_size` from anyone and authenticates afterwards, so an
//! anonymous client can make it buffer 32 MiB per request. Here the token is looked up (without
//! taking one of its uses) from the headers first, and only when the body could exceed the
//! small limit; `Core::handle` still authenticates the request as before. Paths that take no
//! token (logins, `sys/wrapping/lookup`, `sys/health`) therefore get the small limit, which is
//! far above anything they need.

use axum::http::request::Parts;
use axum::http::HeaderMap;
use secrecy::ExposeSecret;

use super::request::BodyLimit;
use crate::config::ListenerLimits;
use crate::core::wrapping;
use crate::core::Core;

/// The body's declared length (`Content-Length`), if any and well formed.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The body limit for a request whose head is `parts`.
pub async fn body_limit(core: &Core, parts: &Parts, limits: &ListenerLimits) -> BodyLimit {
    let small = BodyLimit {
        max_size: limits.max_unauthenticated_request_size,
        timeout: limits.body_read_timeout,
    };
    let large = BodyLimit {
        max_size: limits.max_request_size,
        ..small
    };
    let chunked = parts
        .headers
        .contains_key(axum::http::header::TRANSFER_ENCODING);
    let may_exceed = match declared_length(&parts.headers) {
        Some(n) => n > small.max_size as u64,
        // Without a length, HTTP/1.1 has a body only when it is chunked.
        None => chunked,
    };
    if !may_exceed {
        return small;
    }
    let Some(token) = super::request::token(&parts.headers) else {
        return small;
    };
    let remote = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    match core
        .tokens
        .lookup(token.expose_secret(), core.clock.now())
        .await
    {
        // A wrapping token can only unwrap, which needs no large body; a token bound to other
        // addresses would be refused anyway.
        Ok(Some(entry))
            if !wrapping::is_wrapping_token(&entry)
                && crate::auth::cidr::allows(&entry.bound_cidrs, remote) =>
        {
            large
        }
        _ => small,
    }
}
