//! An error's text followed by its causes: tokio-postgres's own text is only "error performing
//! TLS handshake" or "error connecting to server"; the causes say which certificate or which
//! I/O failure.

/// `err`'s text and every cause behind it, joined by `": "`. For tokio-postgres errors the
/// causes never hold the password.
pub fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
