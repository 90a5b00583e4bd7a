//! Metrics as a scraper sees them: a lease life on PostgreSQL (issue, renew, revoke, one expiry),
//! then `/metrics` and `sys/metrics?format=prometheus` read with a Prometheus text-format parser;
//! and the lease gauges, which come from the table, right after a restart.

use std::time::Duration;

use leasehold::lease::LeaseState;
use prometheus_parse::{HistogramCount, LineInfo, Sample, Scrape, Value};
use reqwest::StatusCode;
use serde_json::json;

use crate::app::{issue, PgTarget, TestApp};

const TEXT_FORMAT: &str = "text/plain; version=0.0.4";

/// GET `url` on the app, with `token` if given: (status, content type, body).
async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = reqwest::Client::new().get(format!("http://{}{path}", app.addr));
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// Parse a scrape, insisting that every line is a HELP, TYPE or sample line the parser
/// understands (it skips lines it cannot read, which would hide a malformed exposition).
fn parse(body: &str) -> Scrape {
    let mut typed = Vec::new();
    for line in body.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Empty => {}
            LineInfo::Type { metric_name, .. } => {
                typed.push(metric_name.trim_end_matches("_bucket").to_owned())
            }
            LineInfo::Sample {
                metric_name, value, ..
            } => {
                assert!(
                    value == "+Inf" || value.parse::<f64>().is_ok(),
                    "bad value: {line}"
                );
                assert!(
                    typed.iter().any(|t| metric_name.starts_with(t.as_str())),
                    "sample before its TYPE line: {line}"
                );
            }
            LineInfo::Ignored => panic!("not Prometheus text format: {line:?}"),
        }
    }
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn find<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == name
            && s.labels.len() == labels.len()
            && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
    })
}

/// A counter's or gauge's value; `None` when the series is absent.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    find(scrape, name, labels).map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is not a single value: {other:?}"),
    })
}

/// A histogram's buckets and its `_count`.
fn histogram(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> (Vec<HistogramCount>, f64) {
    let buckets = match find(scrape, name, labels).map(|s| &s.value) {
        Some(Value::Histogram(b)) => b.clone(),
        other => panic!("{name}{labels:?} is not a histogram: {other:?}"),
    };
    let count = value(scrape, &format!("{name}_count"), labels).unwrap();
    (buckets, count)
}

fn bucket(buckets: &[HistogramCount], le: f64) -> f64 {
    buckets
        .iter()
        .find(|b| b.less_than == le)
        .unwrap_or_else(|| panic!("no le={le} bucket in {buckets:?}"))
        .count
}

#[tokio::test]
async fn a_lease_life_is_counted_and_both_scrape_paths_parse() {
    let app = TestApp::spawn_with(|s| s.unauthenticated_metrics_access = true).await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "mlong", "1h", "2h").await;
    pg.role(&app, "mshort", "2s", "1h").await;

    let (revoked, user, password, _) = issue(&app, "mlong").await;
    let (kept, ..) = issue(&app, "mlong").await;
    let (s, v) = app
        .put(
            "sys/leases/renew",
            json!({ "lease_id": revoked, "increment": "30m" }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": revoked }))
        .await;
    assert_eq!(s, 204);
    assert!(!pg.can_login(&user, &password).await);
    let (s, _) = app
        .call_as("GET", "database/creds/mlong", None, Some("bogus"))
        .await;
    assert_eq!(s, 403);

    // One expiry, with no request in between: only the expiry worker destroys it.
    let (_, short_user, ..) = issue(&app, "mshort").await;
    pg.wait_gone(&short_user, Duration::from_secs(10)).await;
    let mshort = [("mount", "database/"), ("role", "mshort")];
    let start = tokio::time::Instant::now();
    let scrape = loop {
        let (status, ct, body) = fetch(&app, "/metrics", None).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::OK, TEXT_FORMAT),
            "{body}"
        );
        let scrape = parse(&body);
        if value(&scrape, "leasehold_leases_revoked_total", &mshort) == Some(1.0) {
            break scrape;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "expiry not counted:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let mlong = [("mount", "database/"), ("role", "mlong")];
    let counter = |name: &str, labels: &[(&str, &str)]| value(&scrape, name, labels).unwrap_or(0.0);
    assert_eq!(counter("leasehold_leases_issued_total", &mlong), 2.0);
    assert_eq!(counter("leasehold_leases_issued_total", &mshort), 1.0);
    assert_eq!(counter("leasehold_leases_renewed_total", &mlong), 1.0);
    assert_eq!(counter("leasehold_leases_revoked_total", &mlong), 1.0);
    assert_eq!(counter("leasehold_leases_expired_total", &mshort), 1.0);
    assert_eq!(counter("leasehold_leases_expired_total", &mlong), 0.0);
    assert_eq!(
        counter(
            "leasehold_destroy_failures_total",
            &[("mount", "database/")]
        ),
        0.0
    );

    // Overstay: only the expired lease (the revoked one never outlived its window), and within
    // a second of its expire time.
    let db = [("mount", "database/")];
    let (buckets, count) = histogram(&scrape, "leasehold_overstay_seconds", &db);
    assert_eq!(count, 1.0, "{buckets:?}");
    assert_eq!(
        bucket(&buckets, 1.0),
        1.0,
        "overstay above 1 s: {buckets:?}"
    );
    // Privilege: both destroyed accounts; the expired one lived its 2 s.
    let (buckets, count) = histogram(&scrape, "leasehold_privilege_duration_seconds", &db);
    assert_eq!(count, 2.0, "{buckets:?}");
    let sum = value(&scrape, "leasehold_privilege_duration_seconds_sum", &db).unwrap();
    assert!(sum >= 2.0, "privilege sum {sum}");
    let (_, count) = histogram(
        &scrape,
        "leasehold_issue_latency_seconds",
        &[("mount_type", "database")],
    );
    assert_eq!(count, 3.0);

    // HTTP requests by method and status (the scrape counts itself only after answering).
    let http = |method: &str, status: &str| {
        counter(
            "leasehold_http_requests_total",
            &[("method", method), ("status", status)],
        )
    };
    assert!(http("GET", "200") >= 3.0, "creds reads");
    assert!(http("PUT", "204") >= 1.0, "revoke");
    assert_eq!(http("GET", "403"), 1.0);

    // Gauges, from the table: one mlong lease active, the short one gone (0, not absent).
    let state = |role: &str, state: &str| {
        value(
            &scrape,
            "leasehold_leases",
            &[("mount", "database/"), ("role", role), ("state", state)],
        )
    };
    assert_eq!(state("mlong", "active"), Some(1.0));
    assert_eq!(state("mlong", "revoking"), Some(0.0));
    assert_eq!(state("mshort", "active"), Some(0.0));
    assert_eq!(
        value(&scrape, "leasehold_leases_irrevocable", &mlong),
        Some(0.0)
    );

    // The same through the API, with a token and without (unauthenticated access is on).
    for token in [Some(app.token.as_str()), None] {
        let (status, ct, body) = fetch(&app, "/v1/sys/metrics?format=prometheus", token).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::OK, TEXT_FORMAT),
            "{body}"
        );
        let scrape = parse(&body);
        assert_eq!(
            value(&scrape, "leasehold_leases_issued_total", &mlong),
            Some(2.0)
        );
    }
    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": kept }))
        .await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn lease_gauges_are_right_after_a_restart_and_metrics_need_a_token_by_default() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "gauged", "1h", "2h").await;
    let (active, ..) = issue(&app, "gauged").await;
    let (stuck, ..) = issue(&app, "gauged").await;
    // A lease whose destruction has failed often enough to be irrevocable (state a target
    // outage leaves), not due again for an hour.
    let mut row = app.core.leases.get(&stuck).await.unwrap().unwrap();
    row.state = LeaseState::Revoking;
    row.attempts = app.core.leases.settings().irrevocable_after;
    row.due_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    assert!(app
        .core
        .leases
        .storage_for_tests()
        .lease_update(&row, LeaseState::Active)
        .await
        .unwrap());
    let (dir, token) = app.stop().await;

    let app = TestApp::spawn_in(dir, Some(token)).await;
    let (status, ct, body) =
        fetch(&app, "/v1/sys/metrics?format=prometheus", Some(&app.token)).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::OK, TEXT_FORMAT),
        "{body}"
    );
    let scrape = parse(&body);
    let gauged = [("mount", "database/"), ("role", "gauged")];
    let state = |state: &str| {
        value(
            &scrape,
            "leasehold_leases",
            &[("mount", "database/"), ("role", "gauged"), ("state", state)],
        )
    };
    assert_eq!(state("active"), Some(1.0), "{body}");
    assert_eq!(state("revoking"), Some(1.0));
    assert_eq!(state("creating"), Some(0.0));
    assert_eq!(
        value(&scrape, "leasehold_leases_irrevocable", &gauged),
        Some(1.0)
    );
    // Counters start again at a restart; the gauges above did not need them.
    assert_eq!(
        value(&scrape, "leasehold_leases_issued_total", &gauged),
        None
    );

    // By default: no plain /metrics, no sys/metrics without a token, and only the text format.
    let (status, ..) = fetch(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, ..) = fetch(&app, "/v1/sys/metrics?format=prometheus", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (s, v) = app.get("sys/metrics").await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("format=prometheus"),
        "{v}"
    );

    // Through the ACL: `read` on sys/metrics is enough; the default policy alone is not.
    let (s, v) = app
        .put(
            "sys/policies/acl/scraper",
            json!({ "policy": r#"path "sys/metrics" { capabilities = ["read"] }"# }),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    for (policies, expected) in [
        (json!(["scraper"]), StatusCode::OK),
        (json!(["default"]), StatusCode::FORBIDDEN),
    ] {
        let (s, v) = app
            .put("auth/token/create", json!({ "policies": policies }))
            .await;
        assert_eq!(s, 200, "{v}");
        let token = v["auth"]["client_token"].as_str().unwrap();
        let (status, _, body) = fetch(&app, "/v1/sys/metrics?format=prometheus", Some(token)).await;
        assert_eq!(status, expected, "{policies}: {body}");
    }

    for lease_id in [active, stuck] {
        let (s, v) = app
            .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
            .await;
        assert_eq!(s, 204, "{v}");
    }
}
