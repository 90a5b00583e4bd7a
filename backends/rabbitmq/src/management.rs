//! [`Management`]: the few calls of RabbitMQ's management HTTP API the engine makes, as the
//! administrator `config/connection` names, each turning a failure into a [`RabbitMqError`]
//! named for the caller (see `error.rs`).
//!
//! Connections are found through `/api/connections/username/{user}`, which the broker answers
//! from its connection tracking (current at once), not from `/api/connections`, whose
//! statistics lag seconds behind: a connection opened a moment before a revocation is seen.
//!
//! A new user is created with its password's hash (`password_hash`), never the password: the
//! credential does not cross the management API, which is often plain HTTP.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::ConnectionConfig;
use crate::error::RabbitMqError;
use crate::password::PasswordHash;
use crate::roles::{TopicPermission, VhostPermission};
use leasehold_backend::error::scrub;

/// Bytes escaped in a path segment: all but `[A-Za-z0-9-_.~]`, so a vhost named `/` or `..`
/// stays one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How long one call may take, connection included. The lease engine bounds a whole revoke
/// too; this keeps one hung call from using all of it.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client every mount of this engine shares (one connection pool).
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        // The API answers redirects only for its UI; one here would move our credentials.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The management API of one broker, as one administrator.
pub(crate) struct Management<'a> {
    http: &'a reqwest::Client,
    config: &'a ConnectionConfig,
}

/// A failed call: what to say about it, and whether it provably never reached the broker.
struct Failure {
    status: Option<StatusCode>,
    detail: String,
    not_sent: bool,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

impl<'a> Management<'a> {
    /// The broker `config` names, through `http`.
    pub(crate) fn new(http: &'a reqwest::Client, config: &'a ConnectionConfig) -> Self {
        Self { http, config }
    }

    /// Proves the URI and the credentials: listing users needs the administrator tag, as
    /// everything the engine does.
    pub(crate) async fn verify(&self) -> Result<(), RabbitMqError> {
        self.users().await.map(drop)
    }

    /// Every user's name.
    pub(crate) async fn users(&self) -> Result<Vec<String>, RabbitMqError> {
        const ACTION: &str = "GET users";
        let body = self.expect(ACTION, Method::GET, &["users"], None).await?;
        let users: Vec<Named> = serde_json::from_str(&body)
            .map_err(|e| RabbitMqError::Internal(format!("{ACTION}: unreadable answer: {e}")))?;
        Ok(users.into_iter().map(|u| u.name).collect())
    }

    /// Whether user `name` exists.
    pub(crate) async fn user_exists(&self, name: &str) -> Result<bool, RabbitMqError> {
        const ACTION: &str = "GET user";
        match self.call(Method::GET, &["users", name], None, &[]).await {
            Ok(_) => Ok(true),
            Err(f) if f.status == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(f) => Err(self.classify(ACTION, f)),
        }
    }

    /// Create user `name` with `hash` as its password and `tags`.
    pub(crate) async fn create_user(
        &self,
        name: &str,
        hash: &PasswordHash,
        tags: &[String],
    ) -> Result<(), RabbitMqError> {
        let body = json!({
            "password_hash": hash.encoded(),
            "hashing_algorithm": PasswordHash::ALGORITHM,
            "tags": tags.join(","),
        });
        self.expect("PUT user", Method::PUT, &["users", name], Some(body))
            .await
            .map(drop)
    }

    /// Grant `user` the permissions `perm` in `vhost`.
    pub(crate) async fn set_permissions(
        &self,
        vhost: &str,
        user: &str,
        perm: &VhostPermission,
    ) -> Result<(), RabbitMqError> {
        let body = json!({"configure": perm.configure, "write": perm.write, "read": perm.read});
        self.expect(
            "PUT permissions",
            Method::PUT,
            &["permissions", vhost, user],
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Grant `user` the topic permissions `perm` on `exchange` in `vhost`.
    pub(crate) async fn set_topic_permissions(
        &self,
        vhost: &str,
        user: &str,
        exchange: &str,
        perm: &TopicPermission,
    ) -> Result<(), RabbitMqError> {
        let body = json!({"exchange": exchange, "write": perm.write, "read": perm.read});
        self.expect(
            "PUT topic-permissions",
            Method::PUT,
            &["topic-permissions", vhost, user],
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Delete user `name`; false when it was already gone.
    pub(crate) async fn delete_user(&self, name: &str) -> Result<bool, RabbitMqError> {
        match self.call(Method::DELETE, &["users", name], None, &[]).await {
            Ok(_) => Ok(true),
            Err(f) if f.status == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(f) => Err(self.classify("DELETE user", f)),
        }
    }

    /// How many connections `user` has open (the broker's connection tracking).
    pub(crate) async fn connection_count(&self, user: &str) -> Result<u64, RabbitMqError> {
        const ACTION: &str = "GET connections of user";
        let body = self
            .expect(
                ACTION,
                Method::GET,
                &["connections", "username", user],
                None,
            )
            .await?;
        let list: Vec<Value> = serde_json::from_str(&body)
            .map_err(|e| RabbitMqError::Internal(format!("{ACTION}: unreadable answer: {e}")))?;
        Ok(u64::try_from(list.len()).unwrap_or(u64::MAX))
    }

    /// Close every connection `user` has open.
    pub(crate) async fn close_connections(&self, user: &str) -> Result<(), RabbitMqError> {
        match self
            .call(
                Method::DELETE,
                &["connections", "username", user],
                None,
                &[("X-Reason", "credential revoked by leasehold")],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(f) if f.status == Some(StatusCode::NOT_FOUND) => Ok(()),
            Err(f) => Err(self.classify("DELETE connections of user", f)),
        }
    }

    /// A call that must succeed; its body.
    async fn expect(
        &self,
        action: &'static str,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<String, RabbitMqError> {
        self.call(method, segments, body, &[])
            .await
            .map_err(|f| self.classify(action, f))
    }

    /// One call to `/api/<segments>`, each segment escaped.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<String, Failure> {
        let url = self.url(segments)?;
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(
                &self.config.username,
                Some(self.config.password.expose_secret()),
            )
            .header("accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| Failure {
            status: None,
            not_sent: e.is_connect() || e.is_builder(),
            detail: leasehold_backend::error::error_chain(&e),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(text);
        }
        Err(Failure {
            status: Some(status),
            detail: format!("{} {}", status.as_u16(), reason(&text)),
            not_sent: false,
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, Failure> {
        let mut path = format!("{}/api", self.config.connection_uri.trim_end_matches('/'));
        for segment in segments {
            path.push('/');
            path.extend(utf8_percent_encode(segment, SEGMENT));
        }
        Url::parse(&path).map_err(|e| Failure {
            status: None,
            detail: format!("bad URL: {e}"),
            not_sent: true,
        })
    }

    /// Whose fault a failure is (see `error.rs`), its text scrubbed of the password.
    fn classify(&self, action: &'static str, f: Failure) -> RabbitMqError {
        let detail = scrub(f.detail, [&self.config.password]);
        match f.status {
            None if f.not_sent => RabbitMqError::NotReached { action, detail },
            // 400 (a vhost that does not exist, a bad pattern) and 404 on a write: the role.
            Some(StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND) => {
                RabbitMqError::Refused { action, detail }
            }
            _ => RabbitMqError::Unavailable { action, detail },
        }
    }
}

/// The broker's `reason` (or `error`) from an error body, else the body cut short.
fn reason(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    field("reason")
        .or_else(|| field("error"))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped_whole() {
        let config = ConnectionConfig::for_tests("http://127.0.0.1:15672/");
        let http = reqwest::Client::new();
        let m = Management::new(&http, &config);
        let url = m.url(&["permissions", "/", "a/../b"]).ok().unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:15672/api/permissions/%2F/a%2F..%2Fb"
        );
    }

    #[test]
    fn reasons_are_read_from_the_body() {
        assert_eq!(
            reason(r#"{"error":"bad_request","reason":"vhost_or_user_not_found"}"#),
            "vhost_or_user_not_found"
        );
        assert_eq!(reason("plain"), "plain");
    }
}
