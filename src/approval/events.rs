//! The audit entries of approval: one per step (`requested`, `approved`, `auto_approved`,
//! `denied`, `expired`, `collected`, `break_glass`), each carrying the request id and the
//! wrapping token's accessor that join them, and — once there is one — the lease id the request
//! ended in, so that the lease's own entries continue the story.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::request::{Party, PendingRequest};

/// What an approval entry is about: a stored request, or a request that never waited (auto-
/// approved, break-glass).
#[derive(Debug, Clone)]
pub struct Subject {
    /// Joins the entries: the id of the HTTP request that asked.
    pub request_id: String,
    /// The wrapping token's accessor (empty when the request never waited).
    pub accessor: String,
    /// Tier name.
    pub tier: String,
    /// Canonical path asked for.
    pub path: String,
    /// Mount path.
    pub mount: String,
    /// Role.
    pub role: String,
    /// Who asked.
    pub requester: Party,
    /// Why.
    pub purpose: Option<String>,
    /// Ticket.
    pub ticket: Option<String>,
}

impl Subject {
    /// The subject of a stored request.
    pub fn of(r: &PendingRequest) -> Self {
        Self {
            request_id: r.request_id.clone(),
            accessor: r.accessor.clone(),
            tier: r.tier_name.clone(),
            path: r.path.clone(),
            mount: r.mount_path.clone(),
            role: r.role.clone(),
            requester: r.requester.clone(),
            purpose: r.purpose.clone(),
            ticket: r.ticket.clone(),
        }
    }
}

/// An `approval` entry: `event` with the subject and `extra` fields beside it.
pub fn entry(at: DateTime<Utc>, event: &str, s: &Subject, extra: Map<String, Value>) -> Value {
    let mut e = Map::new();
    e.insert(
        "time".into(),
        json!(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    e.insert("type".into(), json!("approval"));
    e.insert("event".into(), json!(event));
    e.insert(
        "request".into(),
        json!({
            "request_id": s.request_id, "accessor": s.accessor, "tier": s.tier, "path": s.path,
            "mount": s.mount, "role": s.role, "purpose": s.purpose, "ticket": s.ticket,
            "requester": {
                "accessor": s.requester.accessor, "workload": s.requester.workload,
                "display_name": s.requester.display_name,
            },
        }),
    );
    e.extend(extra);
    Value::Object(e)
}

/// `extra` fields from pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A party as an entry field.
pub fn party(p: &Party) -> Value {
    json!({"accessor": p.accessor, "workload": p.workload, "display_name": p.display_name})
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_entry_joins_request_and_lease() {
        let s = Subject {
            request_id: "rid".into(),
            accessor: "acc".into(),
            tier: "human".into(),
            path: "database/creds/migrate".into(),
            mount: "database/".into(),
            role: "migrate".into(),
            requester: Party {
                accessor: "req".into(),
                workload: "auth/approle/role/ci".into(),
                display_name: "approle".into(),
            },
            purpose: Some("migration".into()),
            ticket: Some("CHG-1".into()),
        };
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let e = entry(
            at,
            "collected",
            &s,
            fields([("lease_id", json!("database/creds/migrate/x"))]),
        );
        assert_eq!(e["type"], "approval");
        assert_eq!(e["event"], "collected");
        assert_eq!(e["request"]["request_id"], "rid");
        assert_eq!(
            e["request"]["requester"]["workload"],
            "auth/approle/role/ci"
        );
        assert_eq!(e["lease_id"], "database/creds/migrate/x");
        assert_eq!(e["time"], "2026-12-07T09:00:00.000000Z");
    }
}
