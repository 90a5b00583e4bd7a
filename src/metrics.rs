//! Prometheus metrics: what the lease engine did (counters and histograms fed by
//! [`LeaseEvent`]s), what the lease table holds now (gauges read from storage at scrape time), and
//! the HTTP requests served. Served as text format 0.0.4 at `sys/metrics?format=prometheus` (token
//! and ACL as any `sys/` path) and, when `telemetry.unauthenticated_metrics_access` is set, at a
//! plain `/metrics` and without a token at `sys/metrics` too. The README lists every metric.
//!
//! Counters and histograms live in memory and start from zero at each start, as Prometheus
//! expects of counters. Gauges do not: "how many leases are active" must be right after a restart
//! and on every node sharing the table, so it is one `GROUP BY` over the lease table per scrape
//! ([`LeaseStore::lease_counts`](crate::storage::LeaseStore::lease_counts)), never a number kept here.
//!
//! Past 400 lines only because every metric's name and help are spelled out once, here, and the
//! unit tests at the end take a third of the file.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::lease::events::{LeaseEvent, LeaseObserver};
use crate::lease::{LeaseEngine, LeaseState, MountResolver};
use crate::storage::LeaseCount;

/// `Content-Type` of a scrape: the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Overstay is the number this project exists to keep small: fine-grained under a second.
const OVERSTAY_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];
/// From a one-second lease to the 768h system max TTL.
const PRIVILEGE_BUCKETS: &[f64] = &[
    1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
    259200.0, 604800.0, 2764800.0,
];
/// Creating an account: a few SQL statements up to the 60 s target timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Labels of the per-role lease counters.
const MOUNT_ROLE: &[&str] = &["mount", "role"];
/// Lease states with work left, as the `state` label of `leasehold_leases`.
const LIVE_STATES: [LeaseState; 3] = [
    LeaseState::Creating,
    LeaseState::Active,
    LeaseState::Revoking,
];

/// The registry and every metric that events feed. Shared behind an `Arc`: the lease engine
/// holds it as an observer, the HTTP edge counts requests on it, `sys/metrics` renders it.
pub struct Metrics {
    registry: Registry,
    issued: IntCounterVec,
    issue_failures: IntCounterVec,
    renewed: IntCounterVec,
    expired: IntCounterVec,
    revoked: IntCounterVec,
    sessions_terminated: IntCounterVec,
    destroyed_unused: IntCounterVec,
    destroy_failures: IntCounterVec,
    force_removed: IntCounterVec,
    tampered: IntCounterVec,
    orphans: IntCounterVec,
    privilege: HistogramVec,
    overstay: HistogramVec,
    issue_latency: HistogramVec,
    http_requests: IntCounterVec,
    approval_latency: HistogramVec,
    approval_decisions: IntCounterVec,
    break_glass: IntCounterVec,
    /// Names the mount type of a lease's mount, for the issue latency label.
    mounts: Arc<dyn MountResolver>,
    unauthenticated_access: bool,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels).map_err(internal)?;
    registry.register(Box::new(c.clone())).map_err(internal)?;
    Ok(c)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
    buckets: &[f64],
) -> Result<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let h = HistogramVec::new(opts, &[label]).map_err(internal)?;
    registry.register(Box::new(h.clone())).map_err(internal)?;
    Ok(h)
}

fn internal(e: prometheus::Error) -> Error {
    Error::Internal(format!("metrics: {e}"))
}

/// Add one to the series `labels` of `vec`. The label count is fixed by the code above, so the
/// lookup cannot fail; if it ever did, losing one increment beats failing a lease operation.
fn inc(vec: &IntCounterVec, labels: &[&str]) {
    if let Ok(c) = vec.get_metric_with_label_values(labels) {
        c.inc();
    }
}

/// Add `n` to the series `labels` of `vec` (see [`inc`]).
fn add(vec: &IntCounterVec, labels: &[&str], n: u64) {
    if let Ok(c) = vec.get_metric_with_label_values(labels) {
        c.inc_by(n);
    }
}

fn observe(vec: &HistogramVec, label: &str, seconds: f64) {
    if let Ok(h) = vec.get_metric_with_label_values(&[label]) {
        h.observe(seconds);
    }
}

impl Metrics {
    /// A registry with every metric, nothing counted yet. `mounts` names a lease's mount type;
    /// `unauthenticated_access` is `telemetry.unauthenticated_metrics_access`.
    pub fn new(mounts: Arc<dyn MountResolver>, unauthenticated_access: bool) -> Result<Self> {
        let r = Registry::new();
        Ok(Self {
            issued: counter(
                &r,
                "leasehold_leases_issued_total",
                "Credentials issued: account created, lease active.",
                MOUNT_ROLE,
            )?,
            issue_failures: counter(
                &r,
                "leasehold_lease_issue_failures_total",
                "Issues whose account creation failed (what was made is destroyed).",
                MOUNT_ROLE,
            )?,
            renewed: counter(
                &r,
                "leasehold_leases_renewed_total",
                "Successful lease renewals.",
                MOUNT_ROLE,
            )?,
            expired: counter(
                &r,
                "leasehold_leases_expired_total",
                "Leases the expiry worker took because their time was up.",
                MOUNT_ROLE,
            )?,
            revoked: counter(
                &r,
                "leasehold_leases_revoked_total",
                "Leases whose account was destroyed, by any path.",
                MOUNT_ROLE,
            )?,
            sessions_terminated: counter(
                &r,
                "leasehold_sessions_terminated_total",
                "Sessions of destroyed accounts that were open at revocation and ended by it.",
                &["mount"],
            )?,
            destroyed_unused: counter(
                &r,
                "leasehold_leases_destroyed_unused_total",
                "Accounts destroyed with no session open at revocation (the target counted zero). \
                 Not proof of never used: a session may have come and gone before.",
                &["mount"],
            )?,
            destroy_failures: counter(
                &r,
                "leasehold_destroy_failures_total",
                "Failed destruction attempts (each is retried with backoff).",
                &["mount"],
            )?,
            force_removed: counter(
                &r,
                "leasehold_leases_force_removed_total",
                "Leases removed by revoke-force; their account may remain.",
                &["mount"],
            )?,
            tampered: counter(
                &r,
                "leasehold_leases_tampered_total",
                "Lease rows whose integrity tag did not match (edited in storage); not acted on.",
                &["mount"],
            )?,
            orphans: counter(
                &r,
                "leasehold_orphan_accounts_total",
                "Accounts no lease describes, found by reconciliation, by outcome.",
                &["mount", "outcome"],
            )?,
            privilege: histogram(
                &r,
                "leasehold_privilege_duration_seconds",
                "How long a destroyed account existed: issue to destruction.",
                "mount",
                PRIVILEGE_BUCKETS,
            )?,
            overstay: histogram(
                &r,
                "leasehold_overstay_seconds",
                "How long an account outlived its lease: expire time to destruction.",
                "mount",
                OVERSTAY_BUCKETS,
            )?,
            issue_latency: histogram(
                &r,
                "leasehold_issue_latency_seconds",
                "Time to issue a credential: request at the lease engine to account created.",
                "mount_type",
                LATENCY_BUCKETS,
            )?,
            http_requests: counter(
                &r,
                "leasehold_http_requests_total",
                "HTTP requests answered, by method and status code.",
                &["method", "status"],
            )?,
            approval_latency: histogram(
                &r,
                "leasehold_approval_latency_seconds",
                "Request to decision for credentials that wait for approval, by mount and role.",
                "role",
                PRIVILEGE_BUCKETS,
            )?,
            approval_decisions: counter(
                &r,
                "leasehold_approval_decisions_total",
                "Decisions on approval requests, by outcome (approved, auto_approved, denied, expired).",
                &["outcome"],
            )?,
            break_glass: counter(
                &r,
                "leasehold_break_glass_total",
                "Credentials issued by break-glass, bypassing approval, by mount and role.",
                &["role"],
            )?,
            registry: r,
            mounts,
            unauthenticated_access,
        })
    }

    /// Whether `/metrics` and `sys/metrics` answer without a token.
    pub fn unauthenticated_access(&self) -> bool {
        self.unauthenticated_access
    }

    /// Count one answered HTTP request. Unknown verbs share one label value, so a client cannot
    /// grow the series without bound.
    pub fn http_request(&self, method: &str, status: u16) {
        let method = match method {
            "GET" | "HEAD" | "LIST" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" => method,
            _ => "other",
        };
        inc(&self.http_requests, &[method, &status.to_string()]);
    }

    /// A decision on an approval request for `role` (`<mount><role>`): `outcome` is
    /// `approved`, `auto_approved`, `denied` or `expired`; `latency` is request to decision.
    pub fn approval_decided(&self, role: &str, outcome: &str, latency: std::time::Duration) {
        inc(&self.approval_decisions, &[outcome]);
        observe(&self.approval_latency, role, latency.as_secs_f64());
    }

    /// A break-glass credential was issued for `role` (`<mount><role>`).
    pub fn break_glass_used(&self, role: &str) {
        inc(&self.break_glass, &[role]);
    }

    /// Everything, in the text format: the registry plus the lease table's gauges and the
    /// number of approval requests waiting (`approvals_pending`), read now.
    pub async fn render(&self, leases: &LeaseEngine, approvals_pending: u64) -> Result<String> {
        let counts = leases
            .storage()
            .lease_counts(leases.settings().irrevocable_after)
            .await?;
        let mut families = self.registry.gather();
        families.extend(lease_gauges(&counts)?);
        let pending = prometheus::IntGauge::new(
            "leasehold_approval_requests_pending",
            "Approval requests waiting for a decision now.",
        )
        .map_err(internal)?;
        pending.set(i64::try_from(approvals_pending).unwrap_or(i64::MAX));
        families.extend(pending.collect());
        encode(families)
    }

    fn mount_type(&self, mount_uuid: &str) -> &'static str {
        if mount_uuid == crate::lease::TOKEN_MOUNT_UUID {
            return "token";
        }
        self.mounts
            .resolve(mount_uuid)
            .map_or("unknown", |m| m.backend.mount_type())
    }
}

impl Metrics {
    /// The privilege-duration and overstay histograms by mount, for the web console's charts
    /// (`sys/leases/durations`): what `sys/metrics` scrapes, read from the same series.
    pub fn distributions(&self) -> Value {
        json!({
            "privilege_duration_seconds": histogram_json(&self.privilege),
            "overstay_seconds": histogram_json(&self.overstay),
        })
    }
}

/// One histogram as `{mount: {buckets: [{le, count}], count, sum}}`, each bucket's count its
/// own (not cumulative as in the text format) and the last bucket's `le` `"+Inf"`.
fn histogram_json(vec: &HistogramVec) -> Value {
    let mut mounts = Map::new();
    for family in vec.collect() {
        for m in family.get_metric() {
            let mount = m
                .get_label()
                .iter()
                .find(|l| l.name() == "mount")
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            let h = m.get_histogram();
            let mut below = 0u64;
            let mut buckets = Vec::new();
            for b in h.get_bucket() {
                let c = b.cumulative_count();
                buckets.push(json!({ "le": b.upper_bound(), "count": c.saturating_sub(below) }));
                below = c;
            }
            let total = h.get_sample_count();
            buckets.push(json!({ "le": "+Inf", "count": total.saturating_sub(below) }));
            mounts.insert(
                mount,
                json!({ "buckets": buckets, "count": total, "sum": h.get_sample_sum() }),
            );
        }
    }
    Value::Object(mounts)
}

/// The text format, families by name. A family without series (no lease in the table yet) is
/// left out: the encoder refuses one, and a scraper would learn nothing from it.
fn encode(mut families: Vec<MetricFamily>) -> Result<String> {
    families.retain(|f| !f.get_metric().is_empty());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    prometheus::TextEncoder::new()
        .encode_to_string(&families)
        .map_err(internal)
}

/// `leasehold_leases{mount,role,state}` and `leasehold_leases_irrevocable{mount,role}`. Every
/// mount and role the table knows (tombstones included) gets every state, zero when empty, so a
/// series drops to 0 rather than vanishing when its last lease ends.
fn lease_gauges(counts: &[LeaseCount]) -> Result<Vec<MetricFamily>> {
    let leases = IntGaugeVec::new(
        Opts::new(
            "leasehold_leases",
            "Leases in the table now, by mount, role and state (creating, active, revoking).",
        ),
        &["mount", "role", "state"],
    )
    .map_err(internal)?;
    let irrevocable = IntGaugeVec::new(
        Opts::new(
            "leasehold_leases_irrevocable",
            "Revoking leases failed lease.irrevocable_after times or more (still retried).",
        ),
        &["mount", "role"],
    )
    .map_err(internal)?;
    for c in counts {
        let (mount, role) = (c.mount_path.as_str(), c.role.as_str());
        for state in LIVE_STATES {
            leases
                .get_metric_with_label_values(&[mount, role, state.as_str()])
                .map_err(internal)?;
        }
        let ir = irrevocable
            .get_metric_with_label_values(&[mount, role])
            .map_err(internal)?;
        if c.state == LeaseState::Revoked {
            continue;
        }
        let n = i64::try_from(c.count).unwrap_or(i64::MAX);
        leases
            .get_metric_with_label_values(&[mount, role, c.state.as_str()])
            .map_err(internal)?
            .add(n);
        if c.irrevocable {
            ir.add(n);
        }
    }
    let mut out = leases.collect();
    out.extend(irrevocable.collect());
    Ok(out)
}

impl LeaseObserver for Metrics {
    fn on_event(&self, event: &LeaseEvent<'_>, at: DateTime<Utc>) {
        match event {
            LeaseEvent::Issued { lease, latency } => {
                inc(&self.issued, &[&lease.mount_path, &lease.role]);
                let kind = self.mount_type(&lease.mount_uuid);
                observe(&self.issue_latency, kind, latency.as_secs_f64());
            }
            LeaseEvent::IssueFailed { lease, .. } => {
                inc(&self.issue_failures, &[&lease.mount_path, &lease.role]);
            }
            LeaseEvent::Renewed { lease } => inc(&self.renewed, &[&lease.mount_path, &lease.role]),
            LeaseEvent::Expired { lease } => inc(&self.expired, &[&lease.mount_path, &lease.role]),
            LeaseEvent::DestroyAttempt { lease, error } => {
                if error.is_some() {
                    inc(&self.destroy_failures, &[&lease.mount_path]);
                }
            }
            LeaseEvent::Destroyed {
                lease,
                privilege,
                overstay,
                sessions_terminated,
                ..
            } => {
                inc(&self.revoked, &[&lease.mount_path, &lease.role]);
                // Unknown counts (`None`: AWS, tokens, an account already gone) feed neither.
                match sessions_terminated {
                    Some(0) => inc(&self.destroyed_unused, &[&lease.mount_path]),
                    Some(n) => add(&self.sessions_terminated, &[&lease.mount_path], *n),
                    None => {}
                }
                observe(&self.privilege, &lease.mount_path, privilege.as_secs_f64());
                // A lease revoked before its time has no overstay; counting it as 0 would bury
                // the leases that did outlive their window under the ones that never could.
                if at >= lease.expire_time {
                    observe(&self.overstay, &lease.mount_path, overstay.as_secs_f64());
                }
            }
            // The gauge `leasehold_leases_irrevocable` says how many there are now.
            LeaseEvent::Irrevocable { .. } => {}
            LeaseEvent::ForceRemoved { lease, .. } => {
                inc(&self.force_removed, &[&lease.mount_path]);
            }
            LeaseEvent::Tampered { lease, .. } => {
                inc(&self.tampered, &[&lease.mount_path]);
            }
            LeaseEvent::Orphan {
                mount, destroyed, ..
            } => {
                let outcome = match destroyed {
                    None => "reported",
                    Some(Ok(())) => "destroyed",
                    Some(Err(_)) => "destroy_failed",
                };
                inc(&self.orphans, &[mount, outcome]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoMounts;
    impl MountResolver for NoMounts {
        fn resolve(&self, _uuid: &str) -> Option<crate::lease::ResolvedMount> {
            None
        }
    }

    fn count(role: &str, state: LeaseState, irrevocable: bool, n: u64) -> LeaseCount {
        LeaseCount {
            mount_path: "database/".into(),
            role: role.into(),
            state,
            irrevocable,
            count: n,
        }
    }

    fn text(families: &[MetricFamily]) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(families)
            .unwrap()
    }

    #[test]
    fn gauges_fill_zeros_for_every_known_role() {
        let families = lease_gauges(&[
            count("ro", LeaseState::Active, false, 2),
            count("ro", LeaseState::Revoking, true, 1),
            count("gone", LeaseState::Revoked, false, 5),
        ])
        .unwrap();
        let t = text(&families);
        for line in [
            r#"leasehold_leases{mount="database/",role="ro",state="active"} 2"#,
            r#"leasehold_leases{mount="database/",role="ro",state="revoking"} 1"#,
            r#"leasehold_leases{mount="database/",role="ro",state="creating"} 0"#,
            r#"leasehold_leases{mount="database/",role="gone",state="active"} 0"#,
            r#"leasehold_leases_irrevocable{mount="database/",role="ro"} 1"#,
            r#"leasehold_leases_irrevocable{mount="database/",role="gone"} 0"#,
        ] {
            assert!(t.contains(line), "missing {line} in\n{t}");
        }
        assert!(
            !t.contains("revoked"),
            "tombstones are not a live state:\n{t}"
        );
    }

    fn lease(expire_time: DateTime<Utc>) -> crate::lease::LeaseRecord {
        crate::lease::LeaseRecord {
            id: "database/creds/ro/x".into(),
            mount_uuid: "m".into(),
            mount_path: "database/".into(),
            kind: "creds".into(),
            role: "ro".into(),
            account: "v-x".into(),
            state: LeaseState::Revoked,
            issue_time: expire_time - chrono::Duration::seconds(60),
            expire_time,
            max_expire_time: expire_time,
            last_renewal: None,
            role_ttl_secs: 0,
            renewable: true,
            due_at: None,
            attempts: 1,
            last_error: None,
            revoked_time: Some(expire_time),
            forced: false,
            token_accessor: "acc".into(),
            workload: String::new(),
            purpose: None,
            ticket: None,
            claimed_by: None,
            row_mac: None,
            tampered_at: None,
            trail: Default::default(),
            internal: Vec::new(),
        }
    }

    #[test]
    fn only_leases_destroyed_after_expiry_have_an_overstay() {
        let m = Metrics::new(Arc::new(NoMounts), false).unwrap();
        let expire = Utc::now();
        let destroyed = |at: DateTime<Utc>, overstay_ms: u64| {
            let l = lease(expire);
            m.on_event(
                &LeaseEvent::Destroyed {
                    lease: &l,
                    privilege: std::time::Duration::from_secs(60),
                    overstay: std::time::Duration::from_millis(overstay_ms),
                    sessions_terminated: None,
                    receipt: None,
                },
                at,
            );
        };
        destroyed(expire - chrono::Duration::seconds(10), 0);
        destroyed(expire + chrono::Duration::milliseconds(300), 300);
        let t = text(&m.registry.gather());
        for line in [
            r#"leasehold_overstay_seconds_count{mount="database/"} 1"#,
            r#"leasehold_overstay_seconds_bucket{mount="database/",le="0.25"} 0"#,
            r#"leasehold_overstay_seconds_bucket{mount="database/",le="0.5"} 1"#,
            r#"leasehold_privilege_duration_seconds_count{mount="database/"} 2"#,
            r#"leasehold_leases_revoked_total{mount="database/",role="ro"} 2"#,
        ] {
            assert!(t.contains(line), "missing {line} in\n{t}");
        }
    }

    #[test]
    fn sessions_ended_at_revocation_are_counted() {
        let m = Metrics::new(Arc::new(NoMounts), false).unwrap();
        let l = lease(Utc::now());
        for sessions_terminated in [Some(3), Some(0), Some(0), None] {
            m.on_event(
                &LeaseEvent::Destroyed {
                    lease: &l,
                    privilege: std::time::Duration::from_secs(60),
                    overstay: std::time::Duration::ZERO,
                    sessions_terminated,
                    receipt: None,
                },
                Utc::now(),
            );
        }
        let t = text(&m.registry.gather());
        for line in [
            r#"leasehold_sessions_terminated_total{mount="database/"} 3"#,
            r#"leasehold_leases_destroyed_unused_total{mount="database/"} 2"#,
            r#"leasehold_leases_revoked_total{mount="database/",role="ro"} 4"#,
        ] {
            assert!(t.contains(line), "missing {line} in\n{t}");
        }
    }

    #[test]
    fn an_empty_table_renders() {
        assert_eq!(encode(lease_gauges(&[]).unwrap()).unwrap(), "");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::new(Arc::new(NoMounts), false).unwrap();
        m.http_request("GET", 200);
        m.http_request("BREW", 405);
        m.http_request("TEAPOT", 405);
        let t = text(&m.registry.gather());
        assert!(
            t.contains(r#"leasehold_http_requests_total{method="GET",status="200"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(r#"leasehold_http_requests_total{method="other",status="405"} 2"#),
            "{t}"
        );
    }
}
