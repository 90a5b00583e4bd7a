//! Errors a backend reports to the core. Named for what went wrong for the caller; the core's
//! `http::error` module is the one place that turns them into status codes.

use secrecy::{ExposeSecret, SecretString};

/// A backend failure. Messages must never contain secret values: drivers scrub what they were handed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The caller sent something wrong (missing field, bad value, unknown role). 400.
    #[error("{0}")]
    InvalidRequest(String),
    /// No path of this backend matches. 404 `unsupported path`.
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path exists but not for this operation. 405.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// The target system (database, cloud API) failed or refused. The text is safe to show.
    #[error("{0}")]
    Target(String),
    /// The target could not be reached and the request provably never arrived there: the
    /// connection was refused, the name did not resolve, or the TLS handshake failed, before
    /// anything was sent. Returned by `create` only when nothing can exist on the target: the
    /// core then ends the lease at once instead of retrying a destruction of nothing. When in
    /// doubt (a timeout after sending, a reset mid-answer), a backend returns
    /// [`BackendError::Target`] instead. The text is safe to show.
    #[error("{0}")]
    TargetNotReached(String),
    /// Our own storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// A bug or broken invariant on our side; the text is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl BackendError {
    /// Shorthand for [`BackendError::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidRequest(msg.into())
    }
}

/// `err` and its causes, each by its Display, joined by `: ` ("error sending request: client
/// error (Connect): tcp connect error: Connection refused (os error 111)"): what a transport
/// failure says, without the Debug dumps some libraries end their own chains with.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let link = c.to_string();
        // Wrappers often repeat their source's text; say each thing once.
        if !text.ends_with(&link) {
            text.push_str(": ");
            text.push_str(&link);
        }
        cause = c.source();
    }
    text
}

/// The text that replaces a secret in error messages.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every occurrence of each non-empty secret replaced by [`REDACTED`]: what an engine
/// does to a target's error text before building it into an error, so no secret it holds can
/// reach a log or a response.
pub fn scrub<'a>(mut text: String, secrets: impl IntoIterator<Item = &'a SecretString>) -> String {
    for secret in secrets {
        let raw = secret.expose_secret();
        if !raw.is_empty() && text.contains(raw) {
            text = text.replace(raw, REDACTED);
        }
    }
    text
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn scrub_replaces_every_secret_and_ignores_empty_ones() {
        let secrets = [SecretString::from("s3cr3t"), SecretString::from("")];
        assert_eq!(
            scrub("a s3cr3t b s3cr3t".into(), &secrets),
            "a [REDACTED] b [REDACTED]"
        );
    }
}
