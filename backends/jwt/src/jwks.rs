//! A JWKS fetched over HTTP(S) and cached in memory.
//!
//! Refetch rules, all driven by the `now` the caller passes (time is a parameter, so tests need
//! no sleeps):
//! - the cache is refetched once it is older than [`JwksCachePolicy::max_age`];
//! - a token whose `kid` is not cached triggers a refetch, which is how key rotation is picked
//!   up without waiting for expiry;
//! - refetches are at most one per [`JwksCachePolicy::min_refetch_interval`], so a stream of
//!   tokens with made-up `kid`s cannot turn us into a load generator against the identity
//!   provider;
//! - when a refetch fails the previous keys stay in use (an identity-provider outage should not
//!   lock everyone out); only a cache that never held keys reports
//!   [`JwtError::KeysUnavailable`].
//!
//! One async mutex guards the cache and is held across the fetch: concurrent logins that need
//! a refetch wait for the one in flight instead of each starting their own. The fetch is bounded
//! by [`JwksCachePolicy::fetch_timeout`], which bounds that wait.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::error::JwtError;
use super::keys::VerifyingKey;

/// Largest JWKS document we read; real ones are a few kilobytes.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// How long fetched keys are trusted and how often the endpoint may be asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksCachePolicy {
    /// Keys older than this are refetched before use. Default 10 minutes.
    pub max_age: Duration,
    /// At most one fetch per this interval, whatever triggers it. Default 10 seconds.
    pub min_refetch_interval: Duration,
    /// Connect-plus-read limit for one fetch. Default 10 seconds.
    pub fetch_timeout: Duration,
}

impl Default for JwksCachePolicy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(600),
            min_refetch_interval: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

/// When a lookup should go back to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refetch<'a> {
    /// Only if the cache is empty or older than `max_age`.
    IfStale,
    /// Also if no cached key has this `kid`.
    UnlessKnown(&'a str),
    /// Regardless of age (a token without `kid` matched no cached key).
    Now,
}

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<[VerifyingKey]>>,
    fetched_at: Option<DateTime<Utc>>,
    last_attempt: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

/// The cached JWKS of one mount.
pub(crate) struct JwksCache {
    url: reqwest::Url,
    client: reqwest::Client,
    policy: JwksCachePolicy,
    state: Mutex<CacheState>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url.as_str())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Parse and check a `jwks_url`: absolute, http or https.
pub(crate) fn parse_url(url: &str) -> Result<reqwest::Url, JwtError> {
    let bad = || JwtError::InvalidParameter(format!("jwks_url {url:?} is not an http(s) URL"));
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(bad());
    }
    Ok(parsed)
}

/// The HTTP client for one JWKS endpoint. With `ca_pem`, only those CAs are trusted (the
/// built-in roots are dropped), as an operator pinning a private CA expects.
pub(crate) fn build_client(
    ca_pem: Option<&str>,
    timeout: Duration,
) -> Result<reqwest::Client, JwtError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(3));
    if let Some(pem) = ca_pem {
        let bad = |why: &str| JwtError::InvalidParameter(format!("jwks_ca_pem: {why}"));
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|_| bad("not a PEM certificate bundle"))?;
        if certs.is_empty() {
            return Err(bad("no certificate found"));
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| JwtError::InvalidParameter(format!("jwks_ca_pem: {}", error_chain(&e))))
}

impl JwksCache {
    /// A cache for `url`, empty until the first lookup.
    pub(crate) fn new(
        url: &str,
        ca_pem: Option<&str>,
        policy: JwksCachePolicy,
    ) -> Result<Self, JwtError> {
        Ok(Self {
            url: parse_url(url)?,
            client: build_client(ca_pem, policy.fetch_timeout)?,
            policy,
            state: Mutex::new(CacheState::default()),
        })
    }

    /// The current keys, refetched first as `refetch` and the policy say.
    pub(crate) async fn keys(
        &self,
        now: DateTime<Utc>,
        refetch: Refetch<'_>,
    ) -> Result<Arc<[VerifyingKey]>, JwtError> {
        let mut state = self.state.lock().await;
        if self.wants_fetch(&state, now, refetch) && self.may_fetch(&state, now) {
            state.last_attempt = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    info!(jwks.url = %self.url, jwks.keys = keys.len(), "fetched {} keys from {}", keys.len(), self.url);
                    state.keys = Some(keys.into());
                    state.fetched_at = Some(now);
                    state.last_error = None;
                }
                Err(error) => {
                    warn!(jwks.url = %self.url, error = %error, "fetching the JWKS from {} failed: {error}", self.url);
                    state.last_error = Some(error);
                }
            }
        }
        match &state.keys {
            Some(keys) => Ok(keys.clone()),
            None => Err(JwtError::KeysUnavailable(
                state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "retrying too soon after a failed fetch".to_owned()),
            )),
        }
    }

    fn wants_fetch(&self, state: &CacheState, now: DateTime<Utc>, refetch: Refetch<'_>) -> bool {
        let stale = match (state.fetched_at, &state.keys) {
            (Some(at), Some(_)) => age(at, now) >= self.policy.max_age,
            _ => true,
        };
        stale
            || match refetch {
                Refetch::IfStale => false,
                Refetch::Now => true,
                Refetch::UnlessKnown(kid) => state
                    .keys
                    .as_ref()
                    .is_none_or(|keys| !keys.iter().any(|k| k.kid() == Some(kid))),
            }
    }

    fn may_fetch(&self, state: &CacheState, now: DateTime<Utc>) -> bool {
        state
            .last_attempt
            .is_none_or(|at| age(at, now) >= self.policy.min_refetch_interval)
    }

    /// One GET of the JWKS; the error text is safe to show (no bodies, no credentials).
    async fn fetch(&self) -> Result<Vec<VerifyingKey>, String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the JWKS URL answered HTTP {}", status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

/// The usable signing keys of a JWKS document. Entries we cannot use are skipped; a malformed
/// signing key or a set with no usable key at all is an error, since validating against it
/// could only fail.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| "the JWKS is not valid JSON".to_owned())?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no \"keys\" list")?;
    let mut keys = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match VerifyingKey::from_jwk(entry) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => {}
            Err(e) => return Err(format!("JWKS key {i}: {e}")),
        }
    }
    if keys.is_empty() {
        return Err("the JWKS holds no usable signing key".to_owned());
    }
    Ok(keys)
}

/// `now - then`, zero if the clock went backwards.
fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

/// An error and its causes on one line: reqwest's own text omits why a connection failed.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testing::{at, JwksServer, EC1, RSA1, RSA2};
    use serde_json::json;

    fn policy() -> JwksCachePolicy {
        JwksCachePolicy {
            max_age: Duration::from_secs(600),
            min_refetch_interval: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn caches_then_refetches_on_expiry_and_unknown_kid_within_rate_limit() {
        let server = JwksServer::start(json!({"keys": [RSA1.jwk("one")]})).await;
        let cache = JwksCache::new(&server.url(), None, policy()).unwrap();

        let keys = cache.keys(at(0), Refetch::IfStale).await.unwrap();
        assert_eq!(keys.len(), 1);
        cache.keys(at(5), Refetch::IfStale).await.unwrap();
        assert_eq!(server.hits(), 1, "fresh cache is not refetched");

        // Rotation: `two` appears; a token naming it triggers a refetch once the rate limit allows.
        server.set(json!({"keys": [RSA2.jwk("two")]}));
        cache
            .keys(at(5), Refetch::UnlessKnown("two"))
            .await
            .unwrap();
        assert_eq!(server.hits(), 1, "no refetch within min_refetch_interval");
        let keys = cache
            .keys(at(20), Refetch::UnlessKnown("two"))
            .await
            .unwrap();
        assert_eq!(server.hits(), 2);
        assert_eq!(keys.first().and_then(VerifyingKey::kid), Some("two"));
        cache
            .keys(at(40), Refetch::UnlessKnown("two"))
            .await
            .unwrap();
        assert_eq!(server.hits(), 2, "a known kid needs no refetch");

        // Expiry.
        server.set(json!({"keys": [EC1.jwk("three")]}));
        let keys = cache.keys(at(20 + 600), Refetch::IfStale).await.unwrap();
        assert_eq!(server.hits(), 3);
        assert_eq!(keys.first().and_then(VerifyingKey::kid), Some("three"));
    }

    #[tokio::test]
    async fn failed_refetch_keeps_old_keys_and_empty_cache_reports_unavailable() {
        let server = JwksServer::start(json!({"keys": [RSA1.jwk("one")]})).await;
        let cache = JwksCache::new(&server.url(), None, policy()).unwrap();
        cache.keys(at(0), Refetch::IfStale).await.unwrap();
        server.fail_with(503);
        let keys = cache.keys(at(700), Refetch::IfStale).await.unwrap();
        assert_eq!(keys.len(), 1, "stale keys serve through an outage");

        let fresh = JwksCache::new(&server.url(), None, policy()).unwrap();
        let err = fresh.keys(at(0), Refetch::IfStale).await.unwrap_err();
        assert!(matches!(err, JwtError::KeysUnavailable(_)), "{err}");
        assert!(err.to_string().contains("HTTP 503"), "{err}");
        assert!(!err.is_caller_fault());
        let hits = server.hits();
        fresh.keys(at(1), Refetch::IfStale).await.unwrap_err();
        assert_eq!(server.hits(), hits, "a dead endpoint is not hammered");
    }

    #[test]
    fn documents_and_urls_are_checked() {
        assert!(parse_jwks(b"not json").is_err());
        assert!(parse_jwks(br#"{"keys": []}"#).is_err());
        let hmac_only = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string();
        assert!(parse_jwks(hmac_only.as_bytes()).is_err());
        let mixed = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, RSA1.jwk("a")]}).to_string();
        assert_eq!(parse_jwks(mixed.as_bytes()).unwrap().len(), 1);

        assert!(parse_url("https://idp.example/keys").is_ok());
        for bad in [
            "ftp://idp.example/keys",
            "/keys",
            "not a url",
            "file:///etc/keys",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(build_client(Some("not a pem"), Duration::from_secs(1)).is_err());
    }
}
