//! A [`Driver`] wrapper that scrubs secrets out of errors.
//!
//! Database errors quote their input (`syntax error at or near "..."`, a URL in a connection
//! error), so a driver cannot promise on its own that a password never appears in what it
//! returns. The engine wraps every driver it opens in `ScrubbingDriver`, which knows the
//! secrets the driver was handed (the root password, any password written into the URL, the new
//! user's password during `new_user`) and replaces each occurrence, raw or URL-escaped, with
//! `[REDACTED]`.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::connection_url;
use crate::driver::{
    ConnectionConfig, DeleteUser, Driver, DriverError, NewUser, PendingUser, UpdateExpiry,
    UpdatePassword,
};

/// The text that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Wraps a driver; see the module docs.
pub(crate) struct ScrubbingDriver {
    inner: Arc<dyn Driver>,
    secrets: Vec<SecretString>,
}

impl ScrubbingDriver {
    /// Wrap `inner`, opened from `config`.
    pub(crate) fn new(inner: Arc<dyn Driver>, config: &ConnectionConfig) -> Self {
        Self {
            inner,
            secrets: config_secrets(config),
        }
    }

    fn scrub(&self, err: DriverError, extra: Option<&SecretString>) -> DriverError {
        let secrets: Vec<&SecretString> = self.secrets.iter().chain(extra).collect();
        err.map_message(|text| scrub_text(text, &secrets))
    }
}

/// The secrets a driver opened from `config` may echo.
pub(crate) fn config_secrets(config: &ConnectionConfig) -> Vec<SecretString> {
    let mut secrets: Vec<SecretString> = config.password.iter().cloned().collect();
    secrets.extend(
        connection_url::literal_passwords(&config.connection_url)
            .into_iter()
            .map(SecretString::from),
    );
    secrets
}

/// `text` with every occurrence of each secret (as given, and URL-escaped) replaced.
pub(crate) fn scrub_text(mut text: String, secrets: &[&SecretString]) -> String {
    let mut needles: Vec<String> = Vec::new();
    for secret in secrets {
        let raw = secret.expose_secret();
        if raw.is_empty() {
            continue;
        }
        needles.push(connection_url::escape(raw));
        needles.push(raw.to_owned());
    }
    // Longest first: a secret that contains another must be replaced whole.
    needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for needle in &needles {
        if text.contains(needle.as_str()) {
            text = text.replace(needle.as_str(), REDACTED);
        }
    }
    text
}

#[async_trait]
impl Driver for ScrubbingDriver {
    async fn verify(&self) -> Result<(), DriverError> {
        self.inner.verify().await.map_err(|e| self.scrub(e, None))
    }

    async fn new_user(&self, req: NewUser<'_>) -> Result<(), DriverError> {
        let password = req.password;
        self.inner
            .new_user(req)
            .await
            .map_err(|e| self.scrub(e, Some(password)))
    }

    fn prepares_users(&self) -> bool {
        self.inner.prepares_users()
    }

    async fn prepare_user(
        &self,
        req: NewUser<'_>,
    ) -> Result<Option<Box<dyn PendingUser>>, DriverError> {
        let password = req.password.clone();
        let pending = self
            .inner
            .prepare_user(req)
            .await
            .map_err(|e| self.scrub(e, Some(&password)))?;
        Ok(pending.map(|inner| {
            let mut secrets = self.secrets.clone();
            secrets.push(password);
            Box::new(ScrubbingPending { inner, secrets }) as Box<dyn PendingUser>
        }))
    }

    async fn update_expiry(&self, req: UpdateExpiry<'_>) -> Result<(), DriverError> {
        self.inner
            .update_expiry(req)
            .await
            .map_err(|e| self.scrub(e, None))
    }

    async fn delete_user(&self, req: DeleteUser<'_>) -> Result<crate::Revoked, DriverError> {
        self.inner
            .delete_user(req)
            .await
            .map_err(|e| self.scrub(e, None))
    }

    async fn update_password(&self, req: UpdatePassword<'_>) -> Result<(), DriverError> {
        let password = req.password.clone();
        self.inner
            .update_password(req)
            .await
            .map_err(|e| self.scrub(e, Some(&password)))
    }

    async fn list_users(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
        self.inner
            .list_users(prefix)
            .await
            .map_err(|e| self.scrub(e, None))
    }

    fn max_username_len(&self) -> usize {
        self.inner.max_username_len()
    }

    fn creates_without_statements(&self) -> bool {
        self.inner.creates_without_statements()
    }

    fn unusable_password_chars(&self) -> &'static [char] {
        self.inner.unusable_password_chars()
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

/// A pending user whose commit error is scrubbed like every other call's.
struct ScrubbingPending {
    inner: Box<dyn PendingUser>,
    secrets: Vec<SecretString>,
}

#[async_trait]
impl PendingUser for ScrubbingPending {
    async fn commit(self: Box<Self>) -> Result<(), DriverError> {
        let Self { inner, secrets } = *self;
        inner.commit().await.map_err(|e| {
            let secrets: Vec<&SecretString> = secrets.iter().collect();
            e.map_message(|text| scrub_text(text, &secrets))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_raw_and_escaped_occurrences() {
        let a = SecretString::from("p@ss word");
        let b = SecretString::from("Xy-12");
        let text = "failed for p@ss word, url p%40ss%20word, new Xy-12".to_owned();
        assert_eq!(
            scrub_text(text, &[&a, &b]),
            "failed for [REDACTED], url [REDACTED], new [REDACTED]"
        );
        let empty = SecretString::from("");
        assert_eq!(scrub_text("kept".into(), &[&empty]), "kept");
    }
}
