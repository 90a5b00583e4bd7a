//! `LIST sys/leases/list`: the live leases (every account that may still exist), filtered and
//! paged, for the `lease list` command and the web console. leasehold's own (Vault has no
//! such listing); root-protected, as every other lease listing is.
//!
//! Query fields: `mount` (`database` or `database/`), `role`, `workload` (that workload or one
//! below it at a `/` boundary), `state` (`creating`, `active`, `revoking` or `irrevocable`:
//! destruction failed `irrevocable_after` times, or the row failed its integrity check, as in
//! `sys/leases?type=irrevocable`), `after` (the cursor: a lease id; rows after it) and `limit`
//! (answers per page, default 100, at most 1000).
//!
//! The walk is over the table in id order, a page at a time ([`LeaseEngine::page_live`]); a
//! call reads at most [`SCAN_BUDGET`] rows whatever the filters, so a selective filter over a
//! large table costs several calls rather than one unbounded one. Whenever rows may remain,
//! the answer's `next_after` is the cursor to pass as `after`; it is absent at the end.
//!
//! [`LeaseEngine::page_live`]: crate::lease::LeaseEngine::page_live

use serde_json::{json, Map, Value};

use crate::core::api::{ApiRequest, ApiResponse};
use crate::core::workloads::workload_matches;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::lease::{LeaseRecord, LeaseState};

/// Answers per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit`.
pub const MAX_LIMIT: usize = 1000;
/// Rows read per call at most, matching or not.
pub const SCAN_BUDGET: usize = 5000;
/// Rows fetched from storage per step of the walk.
const PAGE: usize = 500;

const FIELDS: &[&str] = &[
    "mount", "role", "workload", "state", "after", "limit", "list",
];

/// What the caller asked for.
#[derive(Debug, Default)]
struct Filter {
    mount: Option<String>,
    role: Option<String>,
    workload: Option<String>,
    state: Option<StateFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateFilter {
    Creating,
    Active,
    Revoking,
    Irrevocable,
}

/// Serve the listing.
pub async fn handle(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if let Some(k) = req.data.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "unknown field {k:?} (expected mount, role, workload, state, after, limit)"
        )));
    }
    let text = |name: &str| -> Result<Option<String>> {
        match req.data.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid(format!("field {name:?} must be a string"))),
        }
    };
    let state = match text("state")?.as_deref() {
        None => None,
        Some("creating") => Some(StateFilter::Creating),
        Some("active") => Some(StateFilter::Active),
        Some("revoking") => Some(StateFilter::Revoking),
        Some("irrevocable") => Some(StateFilter::Irrevocable),
        Some(other) => {
            return Err(Error::invalid(format!(
                "state {other:?} is not one of creating, active, revoking, irrevocable"
            )))
        }
    };
    let filter = Filter {
        mount: text("mount")?.map(|m| format!("{}/", m.trim_matches('/'))),
        role: text("role")?,
        workload: text("workload")?,
        state,
    };
    let limit = match req.data.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!("limit must be a number from 1 to {MAX_LIMIT}"))
            })?,
    };
    let mut cursor = text("after")?.unwrap_or_default();
    let irrevocable_after = core.leases.settings().irrevocable_after;
    let mut keys = Vec::new();
    let mut info = Map::new();
    let mut scanned = 0usize;
    let mut more = true;
    'walk: while scanned < SCAN_BUDGET {
        let page = core
            .leases
            .page_live(&cursor, PAGE.min(SCAN_BUDGET - scanned))
            .await?;
        let full = page.len() == PAGE.min(SCAN_BUDGET - scanned);
        for lease in page {
            scanned += 1;
            cursor.clone_from(&lease.id);
            // Checked now, not read from the flag: a row edited since the engine last
            // touched it shows here before the worker finds it.
            let intact = lease.tampered_at.is_none() && core.leases.verify_row(&lease);
            let irrevocable = !intact
                || (lease.state == LeaseState::Revoking && lease.attempts >= irrevocable_after);
            if filter.admits(&lease, irrevocable) {
                info.insert(lease.id.clone(), key_info(&lease, irrevocable, intact));
                keys.push(Value::String(lease.id.clone()));
                if keys.len() == limit {
                    break 'walk;
                }
            }
        }
        if !full {
            more = false;
            break;
        }
    }
    let mut data = Map::new();
    data.insert("keys".into(), Value::Array(keys));
    data.insert("key_info".into(), Value::Object(info));
    // The cursor is given whenever the walk stopped before the table's end: on a full page of
    // answers, or on the scan budget. A last page that happens to be full costs one empty call.
    if more {
        data.insert("next_after".into(), json!(cursor));
    }
    data.insert("scanned".into(), json!(scanned));
    Ok(ApiResponse::data("system", data))
}

impl Filter {
    fn admits(&self, l: &LeaseRecord, irrevocable: bool) -> bool {
        self.mount.as_ref().is_none_or(|m| l.mount_path == *m)
            && self.role.as_ref().is_none_or(|r| l.role == *r)
            && self
                .workload
                .as_ref()
                .is_none_or(|w| workload_matches(&l.workload, w))
            && self.state.is_none_or(|s| match s {
                StateFilter::Creating => l.state == LeaseState::Creating,
                StateFilter::Active => l.state == LeaseState::Active,
                StateFilter::Revoking => l.state == LeaseState::Revoking,
                StateFilter::Irrevocable => irrevocable,
            })
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One row as the listing shows it: enough to find the account and see why it still exists,
/// nothing secret.
fn key_info(l: &LeaseRecord, irrevocable: bool, intact: bool) -> Value {
    let next = (l.state == LeaseState::Revoking)
        .then(|| l.due_at.map(rfc3339))
        .flatten();
    json!({
        "mount": l.mount_path,
        "kind": l.kind,
        "role": l.role,
        "account": l.account,
        "workload": l.workload,
        "state": l.state.as_str(),
        "irrevocable": irrevocable,
        "integrity": if intact { "ok" } else { "failed" },
        "issue_time": rfc3339(l.issue_time),
        "expire_time": rfc3339(l.expire_time),
        "last_renewal": l.last_renewal.map(rfc3339),
        "revoke_attempts": l.attempts,
        "last_error": l.last_error,
        "next_revoke_attempt": next,
        "purpose": l.purpose,
        "ticket": l.ticket,
        "token_accessor": l.token_accessor,
        "node": l.claimed_by,
    })
}
