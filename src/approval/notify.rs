//! Webhook notifications for the approval flow, so approvers hear about a request without polling.
//!
//! Each event is one signed POST: the body is serialized once and those exact bytes are signed
//! (`X-Leasehold-Signature: sha256=<hex HMAC-SHA256(secret, body)>`), so a receiver checks the
//! bytes it got, not a re-serialization. Delivery runs on a spawned task and retries with
//! backoff; the caller (a request handler) never waits for it. Redirects are not followed: a
//! signed body must not be re-sent to a place the operator did not configure.
//!
//! Only the URL's host is logged: webhook URLs often carry a token in their path.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;

use crate::clock::SharedClock;
use crate::lease::backoff::retry_delay;

/// Attempts per delivery, the first included.
const MAX_ATTEMPTS: u32 = 5;
/// The nominal delay before the first retry; it doubles per retry (jittered down to half).
const BASE_DELAY: Duration = Duration::from_millis(500);
/// No single wait longer than this (with 5 attempts it is never reached at the default base).
const MAX_DELAY: Duration = Duration::from_secs(8);
/// One attempt, connect to last byte of the response head.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Deliveries running at once. Requests are made by clients, so a burst of them must not become
/// an unbounded pile of tasks holding bodies while a dead receiver times out; past this, new
/// notifications are dropped (and counted as failed).
const MAX_IN_FLIGHT: usize = 256;
/// A receiver's shared secret must be at least this long to be worth signing with.
const MIN_SECRET_BYTES: usize = 16;

/// Where to send notifications. `Debug` shows only the URL's host, never the secret.
pub struct WebhookConfig {
    /// The receiver, normalized by [`WebhookConfig::new`].
    pub url: String,
    /// The HMAC key shared with the receiver.
    pub secret: SecretString,
}

impl WebhookConfig {
    /// Validate and build: an absolute `http://` or `https://` URL with a host, without
    /// credentials (`user:pass@`) or a fragment, and a secret of at least 16 bytes. The error
    /// names the problem, for a 400.
    pub fn new(url: &str, secret: SecretString) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("webhook url: not an absolute URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "webhook url: scheme must be http or https, not {:?}",
                parsed.scheme()
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err("webhook url: missing host".to_owned());
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(
                "webhook url: must not contain credentials (user:pass@); the secret signs the body"
                    .to_owned(),
            );
        }
        if parsed.fragment().is_some() {
            return Err("webhook url: must not contain a fragment (#...)".to_owned());
        }
        if secret.expose_secret().len() < MIN_SECRET_BYTES {
            return Err(format!(
                "webhook secret: must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        Ok(Self {
            url: parsed.to_string(),
            secret,
        })
    }

    fn host(&self) -> String {
        host_of(&self.url)
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("host", &self.host())
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The host of `url`, for logs (the path and query may hold a token).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "<invalid>".to_owned())
}

/// The value of `X-Leasehold-Signature` for `body` under `secret`: `sha256=` and the lowercase
/// hex HMAC-SHA256. A receiver computes the same over the raw body it received and compares in
/// constant time.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        // HMAC takes keys of any length, so this arm is not reached; a value no receiver
        // accepts is the safe answer if it ever were.
        Err(_) => "sha256=unavailable".to_owned(),
    }
}

/// The body of every notification, in this field order.
#[derive(Serialize)]
struct Envelope<'a> {
    event: &'a str,
    delivery_id: &'a str,
    time: String,
    data: serde_json::Value,
}

/// Sends approval events to the configured webhook. `Send + Sync`; share it as `Arc<Notifier>`.
pub struct Notifier {
    shared: Arc<Shared>,
}

/// What the delivery tasks share with the notifier.
struct Shared {
    clock: SharedClock,
    /// Built once; `Err` (the TLS backend failed to initialise) fails every delivery, logged.
    client: Result<reqwest::Client, String>,
    /// Replaced whole by `configure`; a delivery holds the `Arc` it started with.
    config: RwLock<Option<Arc<WebhookConfig>>>,
    base_delay: Duration,
    in_flight: AtomicUsize,
    attempts: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (delivered, failed) = self.outcomes();
        f.debug_struct("Notifier")
            .field("config", &self.shared.current())
            .field("delivered", &delivered)
            .field("failed", &failed)
            .finish()
    }
}

impl Notifier {
    /// A notifier with no webhook configured; `clock` stamps each body's `time`.
    pub fn new(clock: SharedClock) -> Self {
        Self::with_backoff(clock, BASE_DELAY)
    }

    /// As [`Notifier::new`], with `base` as the first retry's nominal delay (tests use a tiny one).
    pub(crate) fn with_backoff(clock: SharedClock, base: Duration) -> Self {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("leasehold/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string());
        if let Err(e) = &client {
            tracing::error!(error = %e, "webhook client unavailable; notifications will fail");
        }
        Self {
            shared: Arc::new(Shared {
                clock,
                client,
                config: RwLock::new(None),
                base_delay: base,
                in_flight: AtomicUsize::new(0),
                attempts: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// Replace the webhook (`None`: notifications off). Deliveries already under way finish
    /// their current attempt but are not retried against a replaced configuration.
    ///
    /// Setting the configuration already in place changes nothing: the core re-reads it from
    /// storage before each notification, and deliveries still retrying must not be abandoned
    /// for a configuration that did not change.
    pub fn configure(&self, config: Option<WebhookConfig>) {
        let mut current = self
            .shared
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let same = match (current.as_deref(), config.as_ref()) {
            (Some(a), Some(b)) => {
                a.url == b.url && a.secret.expose_secret() == b.secret.expose_secret()
            }
            (None, None) => true,
            _ => false,
        };
        if !same {
            *current = config.map(Arc::new);
        }
    }

    /// The configured URL (never the secret), for config reads.
    pub fn configured_url(&self) -> Option<String> {
        self.shared.current().map(|c| c.url.clone())
    }

    /// Fire and forget: returns at once; the delivery (with retries) runs on a spawned task.
    /// Nothing happens when no webhook is configured. `event` names what happened, e.g.
    /// `approval.requested`, `approval.approved`, `approval.denied`, `approval.break_glass`.
    pub fn notify(&self, event: &str, data: serde_json::Value) {
        let Some(config) = self.shared.current() else {
            return;
        };
        let host = config.host();
        let delivery_id = uuid::Uuid::new_v4().to_string();
        let envelope = Envelope {
            event,
            delivery_id: &delivery_id,
            time: self
                .shared
                .clock
                .now()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            data,
        };
        // Serialized once: these bytes are what is signed and what every attempt sends.
        let body = match serde_json::to_vec(&envelope) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(host, event, error = %e, "webhook body not serializable; dropped");
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let signature = signature(config.secret.expose_secret().as_bytes(), &body);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                host,
                event,
                "no async runtime to deliver a webhook on; dropped"
            );
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(slot) = InFlight::take(&self.shared) else {
            tracing::warn!(
                host,
                event,
                limit = MAX_IN_FLIGHT,
                "too many webhook deliveries under way; dropped"
            );
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let delivery = Delivery {
            config,
            host,
            event: event.to_owned(),
            delivery_id,
            body,
            signature,
        };
        runtime.spawn(async move {
            let shared = Arc::clone(&slot.0);
            let delivered = delivery.run(&shared).await;
            let counter = if delivered {
                &shared.delivered
            } else {
                &shared.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(slot);
        });
    }

    /// Deliveries that ended: (delivered, failed: given up, refused or dropped).
    pub fn outcomes(&self) -> (u64, u64) {
        (
            self.shared.delivered.load(Ordering::Relaxed),
            self.shared.failed.load(Ordering::Relaxed),
        )
    }

    /// HTTP attempts made so far, over all deliveries (for metrics and tests).
    pub fn attempts(&self) -> u64 {
        self.shared.attempts.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn current(&self) -> Option<Arc<WebhookConfig>> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A place among the deliveries under way, given back when the task ends (or is dropped with
/// the runtime).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn take(shared: &Arc<Shared>) -> Option<Self> {
        let taken = shared
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            });
        taken.ok().map(|_| Self(Arc::clone(shared)))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One notification on its way.
struct Delivery {
    config: Arc<WebhookConfig>,
    host: String,
    event: String,
    delivery_id: String,
    body: Vec<u8>,
    signature: String,
}

/// What one attempt came to.
enum Attempt {
    Delivered(StatusCode),
    /// The receiver answered and will not take it (a 4xx other than 408/429, or a redirect we do
    /// not follow): retrying would not help.
    Refused(StatusCode),
    /// Worth another try: 5xx, 408, 429, a timeout or a connection error.
    Retry(String),
    /// The request could not even be built; retrying would not help.
    Broken(String),
}

impl Delivery {
    /// Attempt until delivered, refused, or out of attempts; true when delivered.
    async fn run(&self, shared: &Shared) -> bool {
        let (host, event, id) = (&self.host, &self.event, &self.delivery_id);
        let client = match &shared.client {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(
                    host, event, delivery = id, error = %e,
                    "webhook not sent: no HTTP client"
                );
                return false;
            }
        };
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(retry_delay(
                    i64::from(attempt - 1),
                    shared.base_delay,
                    MAX_DELAY,
                ))
                .await;
                // An operator who replaced the webhook (a wrong URL, a rotated secret) does not
                // want the old one retried.
                let still_current = shared
                    .current()
                    .is_some_and(|c| Arc::ptr_eq(&c, &self.config));
                if !still_current {
                    tracing::warn!(
                        host,
                        event,
                        delivery = id,
                        attempt,
                        "webhook reconfigured; delivery abandoned"
                    );
                    return false;
                }
            }
            shared.attempts.fetch_add(1, Ordering::Relaxed);
            match self.attempt(client).await {
                Attempt::Delivered(status) => {
                    tracing::info!(
                        host,
                        event,
                        delivery = id,
                        attempt,
                        status = status.as_u16(),
                        "webhook delivered"
                    );
                    return true;
                }
                Attempt::Refused(status) => {
                    tracing::warn!(
                        host,
                        event,
                        delivery = id,
                        attempt,
                        status = status.as_u16(),
                        "webhook refused by the receiver; not retried"
                    );
                    return false;
                }
                Attempt::Broken(why) => {
                    tracing::warn!(
                        host, event, delivery = id, attempt, error = %why,
                        "webhook not sent"
                    );
                    return false;
                }
                Attempt::Retry(why) => {
                    tracing::warn!(
                        host, event, delivery = id, attempt, error = %why,
                        "webhook attempt failed"
                    );
                }
            }
        }
        tracing::warn!(
            host,
            event,
            delivery = id,
            attempts = MAX_ATTEMPTS,
            "webhook delivery given up"
        );
        false
    }

    async fn attempt(&self, client: &reqwest::Client) -> Attempt {
        let sent = client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Leasehold-Event", &self.event)
            .header("X-Leasehold-Delivery", &self.delivery_id)
            .header("X-Leasehold-Signature", &self.signature)
            .body(self.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => classify(response.status()),
            // without_url: the URL's path may hold a token, and logs get only the host.
            Err(e) if e.is_builder() => Attempt::Broken(e.without_url().to_string()),
            Err(e) => Attempt::Retry(error_chain(&e.without_url())),
        }
    }
}

fn classify(status: StatusCode) -> Attempt {
    if status.is_success() {
        Attempt::Delivered(status)
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Attempt::Retry(format!("status {}", status.as_u16()))
    } else {
        Attempt::Refused(status)
    }
}

/// The error and its causes on one line (reqwest's own message is often just "error sending
/// request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::time::Instant;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode as AxumStatus};
    use axum::response::{IntoResponse, Response};
    use serde_json::{json, Value};

    use super::*;
    use crate::clock::ManualClock;

    const SECRET: &str = "an-approval-webhook-secret";

    /// What the receiver answers, in order; 200 once the script runs out.
    enum Reply {
        Status(u16),
        Redirect(String),
    }

    struct Hit {
        headers: HeaderMap,
        body: Vec<u8>,
    }

    #[derive(Clone, Default)]
    struct Receiver {
        hits: Arc<Mutex<Vec<Hit>>>,
        script: Arc<Mutex<VecDeque<Reply>>>,
        delay: Duration,
    }

    impl Receiver {
        fn answering(script: Vec<Reply>) -> Self {
            Self {
                script: Arc::new(Mutex::new(script.into())),
                ..Self::default()
            }
        }

        fn hits(&self) -> usize {
            self.hits.lock().unwrap().len()
        }

        /// Serve on a fresh local port; the webhook URL.
        async fn serve(&self) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = axum::Router::new()
                .fallback(record)
                .with_state(self.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            format!("http://{addr}/hooks/approvals?token=abc")
        }
    }

    async fn record(
        State(rx): State<Receiver>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> Response {
        rx.hits.lock().unwrap().push(Hit {
            headers,
            body: body.to_vec(),
        });
        if !rx.delay.is_zero() {
            tokio::time::sleep(rx.delay).await;
        }
        match rx.script.lock().unwrap().pop_front() {
            None => AxumStatus::OK.into_response(),
            Some(Reply::Status(code)) => AxumStatus::from_u16(code).unwrap().into_response(),
            Some(Reply::Redirect(to)) => {
                (AxumStatus::FOUND, [(axum::http::header::LOCATION, to)]).into_response()
            }
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn clock() -> Arc<ManualClock> {
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 123_000_000).unwrap();
        Arc::new(ManualClock::at(t))
    }

    /// A notifier with a 1 ms backoff, pointed at `url`.
    fn notifier(url: &str) -> Notifier {
        let n = Notifier::with_backoff(clock(), Duration::from_millis(1));
        n.configure(Some(WebhookConfig::new(url, secret(SECRET)).unwrap()));
        n
    }

    /// Wait until `n` deliveries have ended.
    async fn ended(notifier: &Notifier, n: u64) -> (u64, u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (d, f) = notifier.outcomes();
            if d + f >= n {
                return (d, f);
            }
            assert!(
                Instant::now() < deadline,
                "deliveries did not end: {d} delivered, {f} failed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn header<'a>(hit: &'a Hit, name: &str) -> &'a str {
        hit.headers.get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn a_delivery_is_signed_over_the_bytes_sent() {
        let rx = Receiver::default();
        let n = notifier(&rx.serve().await);
        n.notify(
            "approval.requested",
            json!({"request_id": "r-1", "path": "database/creds/ro"}),
        );
        assert_eq!(ended(&n, 1).await, (1, 0));
        assert_eq!(n.attempts(), 1);

        let hits = rx.hits.lock().unwrap();
        let hit = &hits[0];
        assert_eq!(header(hit, "content-type"), "application/json");
        assert_eq!(header(hit, "x-leasehold-event"), "approval.requested");
        let sig = header(hit, "x-leasehold-signature");
        assert_eq!(sig, signature(SECRET.as_bytes(), &hit.body));
        assert_ne!(sig, signature(b"another-secret-of-enough-bytes", &hit.body));
        // Checked independently of `signature`, as a receiver would.
        let mac_hex = sig.strip_prefix("sha256=").unwrap();
        assert_eq!(mac_hex, mac_hex.to_lowercase());
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(&hit.body);
        mac.verify_slice(&hex::decode(mac_hex).unwrap()).unwrap();

        let body: Value = serde_json::from_slice(&hit.body).unwrap();
        assert_eq!(body["event"], "approval.requested");
        let id = body["delivery_id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        assert_eq!(header(hit, "x-leasehold-delivery"), id);
        assert_eq!(body["time"], "2027-01-15T08:00:00.123Z");
        assert_eq!(
            body["data"],
            json!({"request_id": "r-1", "path": "database/creds/ro"})
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_delivered() {
        let rx = Receiver::answering(vec![Reply::Status(500), Reply::Status(500)]);
        let n = notifier(&rx.serve().await);
        n.notify("approval.approved", json!({}));
        assert_eq!(ended(&n, 1).await, (1, 0));
        assert_eq!(rx.hits(), 3);
        assert_eq!(n.attempts(), 3);
        // Every attempt carries the same delivery and the same signed bytes.
        let hits = rx.hits.lock().unwrap();
        assert!(hits.iter().all(|h| h.body == hits[0].body
            && header(h, "x-leasehold-delivery") == header(&hits[0], "x-leasehold-delivery")));
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried() {
        let rx = Receiver::answering(vec![Reply::Status(400)]);
        let n = notifier(&rx.serve().await);
        n.notify("approval.denied", json!({}));
        assert_eq!(ended(&n, 1).await, (0, 1));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(rx.hits(), 1);
    }

    #[tokio::test]
    async fn too_many_requests_is_retried() {
        let rx = Receiver::answering(vec![Reply::Status(429), Reply::Status(408)]);
        let n = notifier(&rx.serve().await);
        n.notify("approval.requested", json!({}));
        assert_eq!(ended(&n, 1).await, (1, 0));
        assert_eq!(rx.hits(), 3);
    }

    #[tokio::test]
    async fn an_unreachable_receiver_is_given_up_after_five_attempts() {
        // A port that was just free: nothing listens there.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let n = notifier(&format!("http://{addr}/hook"));
        n.notify("approval.break_glass", json!({}));
        assert_eq!(ended(&n, 1).await, (0, 1));
        assert_eq!(n.attempts(), 5);
    }

    #[tokio::test]
    async fn notify_does_not_wait_for_the_receiver() {
        let rx = Receiver {
            delay: Duration::from_secs(2),
            ..Receiver::default()
        };
        let n = notifier(&rx.serve().await);
        let started = Instant::now();
        n.notify("approval.requested", json!({}));
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(n.outcomes(), (0, 0));
        assert_eq!(ended(&n, 1).await, (1, 0));
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let elsewhere = Receiver::default();
        let target = elsewhere.serve().await;
        let rx = Receiver::answering(vec![Reply::Redirect(target)]);
        let n = notifier(&rx.serve().await);
        n.notify("approval.requested", json!({}));
        assert_eq!(ended(&n, 1).await, (0, 1));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(rx.hits(), 1);
        assert_eq!(elsewhere.hits(), 0);
    }

    #[tokio::test]
    async fn nothing_is_sent_when_off() {
        let rx = Receiver::default();
        let url = rx.serve().await;
        let n = notifier(&url);
        assert_eq!(n.configured_url().as_deref(), Some(url.as_str()));
        n.configure(None);
        assert_eq!(n.configured_url(), None);
        n.notify("approval.requested", json!({}));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(n.outcomes(), (0, 0));
        assert_eq!(rx.hits(), 0);
    }

    #[tokio::test]
    async fn a_replaced_webhook_is_not_retried() {
        // The first attempt is held until the webhook has been switched off; its 500 would be
        // retried, but not against a configuration that is gone.
        let rx = Receiver {
            delay: Duration::from_millis(300),
            ..Receiver::answering(vec![Reply::Status(500)])
        };
        let n = notifier(&rx.serve().await);
        n.notify("approval.requested", json!({}));
        tokio::time::sleep(Duration::from_millis(100)).await;
        n.configure(None);
        assert_eq!(ended(&n, 1).await, (0, 1));
        assert_eq!(rx.hits(), 1);
    }

    #[tokio::test]
    async fn the_same_configuration_again_keeps_retries_going() {
        let rx = Receiver {
            delay: Duration::from_millis(300),
            ..Receiver::answering(vec![Reply::Status(500)])
        };
        let url = rx.serve().await;
        let n = notifier(&url);
        n.notify("approval.requested", json!({}));
        tokio::time::sleep(Duration::from_millis(100)).await;
        n.configure(Some(WebhookConfig::new(&url, secret(SECRET)).unwrap()));
        assert_eq!(ended(&n, 1).await, (1, 0));
        assert_eq!(rx.hits(), 2);
    }

    #[test]
    fn config_is_validated() {
        let ok = secret(SECRET);
        let refused = |url: &str, s: SecretString| WebhookConfig::new(url, s).unwrap_err();
        assert!(refused("ftp://example.com/hook", ok.clone()).contains("scheme"));
        assert!(refused("http://", ok.clone()).contains("url"));
        assert!(refused("/hooks/approvals", ok.clone()).contains("absolute"));
        assert!(refused("https://user:pass@example.com/", ok.clone()).contains("credentials"));
        assert!(refused("https://user@example.com/", ok.clone()).contains("credentials"));
        assert!(refused("https://example.com/hook#x", ok.clone()).contains("fragment"));
        assert!(refused("https://example.com/hook", secret("")).contains("16 bytes"));
        assert!(
            refused("https://example.com/hook", secret("fifteen-bytes!!")).contains("16 bytes")
        );

        let config = WebhookConfig::new("https://hooks.example.com/t/abc", ok).unwrap();
        assert_eq!(config.url, "https://hooks.example.com/t/abc");
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains("/t/abc"), "{debug}");
        assert!(debug.contains("hooks.example.com"), "{debug}");
    }

    #[test]
    fn signature_is_the_documented_header_value() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn notifier_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Notifier>();
    }
}
