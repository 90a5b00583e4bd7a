//! One access-history row in each of the history's output formats: a JSON object (the API's
//! `leases` and each JSON line of `format=jsonl`) and a CSV record (`format=csv`). The CSV
//! columns are the JSON fields, in [`COLUMNS`] order.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::storage::{HistoryRow, LeaseState};

/// The fields of a row, in the order CSV writes them.
pub const COLUMNS: &[&str] = &[
    "lease_id",
    "mount",
    "role",
    "workload",
    "account",
    "token_accessor",
    "purpose",
    "ticket",
    "state",
    "ending",
    "approval_id",
    "requested_at",
    "approved_at",
    "issued_at",
    "renewals",
    "last_renewal",
    "expire_time",
    "ended_at",
    "destroyed_by",
    "privilege_seconds",
    "overstay_seconds",
    "sessions_terminated",
    "verified_at",
];

fn time(t: Option<DateTime<Utc>>) -> Value {
    json!(t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

/// The row as the API shows it, `now` standing for the end of a live lease.
pub fn row_json(r: &HistoryRow, now: DateTime<Utc>) -> Value {
    let t = &r.trail;
    let state = match r.state {
        LeaseState::Revoked => "ended",
        live => live.as_str(),
    };
    let values = [
        json!(r.id),
        json!(r.mount),
        json!(r.role),
        json!(r.workload),
        json!(r.account),
        json!(r.accessor),
        json!(r.purpose),
        json!(r.ticket),
        json!(state),
        json!(r.ending().map(|e| e.as_str())),
        json!(t.approval_id),
        time(t.requested_at),
        time(t.approved_at),
        time(Some(r.issued_at)),
        json!(t.renewals),
        time(r.last_renewal),
        time(Some(r.expire_at)),
        time(r.ended_at),
        json!(t.destroyed_by),
        json!(r.privilege_secs(now)),
        json!(r.overstay_secs(now)),
        json!(t.sessions_terminated),
        time(t.verified_at),
    ];
    let map: Map<String, Value> = COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .zip(values)
        .collect();
    Value::Object(map)
}

/// The CSV header line.
pub fn csv_header() -> String {
    let mut line = COLUMNS.join(",");
    line.push_str("\r\n");
    line
}

/// One CSV record (RFC 4180, CRLF) for `row` as [`row_json`] shows it.
pub fn csv_record(row: &Value) -> String {
    let cells: Vec<String> = COLUMNS
        .iter()
        .map(|c| match row.get(*c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => csv_text(s),
            Some(other) => other.to_string(),
        })
        .collect();
    let mut line = cells.join(",");
    line.push_str("\r\n");
    line
}

/// A text cell, quoted when it must be. Text a caller chose (a purpose, a ticket) that starts
/// like a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`, so a spreadsheet opening the
/// export shows it instead of evaluating it.
fn csv_text(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) || guarded.starts_with(' ') {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_text("-1"), "'-1");
        assert_eq!(csv_text("line\nbreak"), "\"line\nbreak\"");
    }
}
