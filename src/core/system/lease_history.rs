//! `GET|LIST sys/leases/history`: the access history — every lease, live and ended, kept after
//! tombstones are tidied (see [`crate::storage::history`]) — filtered and paged; and
//! `GET sys/leases/history/summary` (`lease_history_summary.rs`). leasehold's own; sudo, as
//! `sys/leases/list` is: the history names every account and token accessor.
//!
//! Query fields (every one optional, all given must hold): `mount`, `role`, `workload` (that
//! workload or one below it), `account`, `accessor`, `purpose` (text it contains), `ticket`,
//! `since` and `until` (RFC 3339 or Unix seconds: leases that held privilege at or after
//! `since`, issued before `until`), `state` (`live` or `ended`), `overstayed` and `unused`
//! (booleans), `after` (the cursor), `limit` (default 100, at most 1000; up to 100000 for an
//! export) and `format` (`json`, `jsonl` or `csv`). A field we do not know, or a value we cannot
//! read, is a 400 naming it: a filter silently ignored would answer a different question.
//!
//! Rows come in issue order (then id); `next_after` (JSON) or the `X-Leasehold-Next-After`
//! header (JSON lines, CSV) is the cursor to pass as `after` while rows may remain.

use chrono::{DateTime, Utc};
use leasehold_backend::request::parse_bool;
use serde_json::{json, Map, Value};

use super::history_export::{csv_header, csv_record, row_json};
use crate::core::api::{ApiRequest, ApiResponse};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::storage::{HistoryCursor, HistoryQuery, HistoryRow};

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` of a JSON page.
pub const MAX_LIMIT: usize = 1000;
/// The largest `limit` of an export (`jsonl`, `csv`).
pub const MAX_EXPORT_LIMIT: usize = 100_000;

/// The filter fields both the history and its summary take.
pub(super) const FILTER_FIELDS: &[&str] = &[
    "mount",
    "role",
    "workload",
    "account",
    "accessor",
    "purpose",
    "ticket",
    "since",
    "until",
    "state",
    "overstayed",
    "unused",
];

/// How the rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    JsonLines,
    Csv,
}

/// Refuse any field not in `allowed` (the `list` flag of `?list=true` is always allowed).
pub(super) fn refuse_unknown(req: &ApiRequest, allowed: &[&[&str]]) -> Result<()> {
    let known = |k: &str| k == "list" || allowed.iter().any(|set| set.contains(&k));
    match req.data.keys().find(|k| !known(k)) {
        Some(k) => Err(Error::invalid(format!(
            "unknown field {k:?} (expected one of {})",
            allowed.concat().join(", ")
        ))),
        None => Ok(()),
    }
}

/// A field's text: `None` when absent, null or empty; a 400 naming it when not a string.
pub(super) fn text(req: &ApiRequest, name: &str) -> Result<Option<String>> {
    match req.data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(Error::invalid(format!("field {name:?} must be a string"))),
    }
}

fn time(req: &ApiRequest, name: &str) -> Result<Option<DateTime<Utc>>> {
    let Some(s) = text(req, name)? else {
        return Ok(None);
    };
    let parsed = match s.parse::<i64>() {
        Ok(secs) => DateTime::from_timestamp(secs, 0),
        Err(_) => DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
    };
    parsed.map(Some).ok_or_else(|| {
        Error::invalid(format!(
            "field {name:?} must be an RFC 3339 time or Unix seconds, not {s:?}"
        ))
    })
}

fn flag(req: &ApiRequest, name: &str) -> Result<bool> {
    match req.data.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.is_empty() => Ok(false),
        Some(Value::String(s)) => parse_bool(s)
            .ok_or_else(|| Error::invalid(format!("field {name:?} must be true or false"))),
        Some(_) => Err(Error::invalid(format!(
            "field {name:?} must be true or false"
        ))),
    }
}

/// The filters of a history request.
pub(super) fn filters(req: &ApiRequest) -> Result<HistoryQuery> {
    let ended = match text(req, "state")?.as_deref() {
        None => None,
        Some("live") => Some(false),
        Some("ended") => Some(true),
        Some(other) => {
            return Err(Error::invalid(format!(
                "field \"state\" must be live or ended, not {other:?}"
            )))
        }
    };
    let query = HistoryQuery {
        mount: text(req, "mount")?.map(|m| format!("{}/", m.trim_matches('/'))),
        role: text(req, "role")?,
        workload: text(req, "workload")?,
        account: text(req, "account")?,
        accessor: text(req, "accessor")?,
        purpose: text(req, "purpose")?,
        ticket: text(req, "ticket")?,
        since: time(req, "since")?,
        until: time(req, "until")?,
        ended,
        overstayed: flag(req, "overstayed")?,
        unused: flag(req, "unused")?,
        after: None,
    };
    if let (Some(since), Some(until)) = (query.since, query.until) {
        if since > until {
            return Err(Error::invalid(
                "field \"since\" must not be after field \"until\"",
            ));
        }
    }
    Ok(query)
}

fn format(req: &ApiRequest) -> Result<Format> {
    match text(req, "format")?.as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("jsonl") => Ok(Format::JsonLines),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(Error::invalid(format!(
            "field \"format\" must be json, jsonl or csv, not {other:?}"
        ))),
    }
}

fn limit(req: &ApiRequest, max: usize) -> Result<usize> {
    match req.data.get("limit") {
        None | Some(Value::Null) => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!("field \"limit\" must be a number from 1 to {max}"))
            }),
    }
}

/// Serve one page of the history.
pub async fn handle(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    refuse_unknown(req, &[FILTER_FIELDS, &["after", "limit", "format"]])?;
    let mut query = filters(req)?;
    let format = format(req)?;
    let max = match format {
        Format::Json => MAX_LIMIT,
        Format::JsonLines | Format::Csv => MAX_EXPORT_LIMIT,
    };
    let limit = limit(req, max)?;
    query.after = match text(req, "after")? {
        None => None,
        Some(s) => Some(HistoryCursor::parse(&s).ok_or_else(|| {
            Error::invalid("field \"after\" is not a cursor this listing handed out")
        })?),
    };
    let rows = core.leases.history(&query, limit).await?;
    let now = core.leases.now();
    // A full page may have more after it; a short one is the end.
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.cursor().encode()))
        .flatten();
    Ok(match format {
        Format::Json => json_page(&rows, next, now),
        Format::JsonLines => ApiResponse::Text {
            content_type: "application/x-ndjson",
            body: rows
                .iter()
                .map(|r| format!("{}\n", row_json(r, now)))
                .collect(),
            next_after: next,
        },
        Format::Csv => ApiResponse::Text {
            content_type: "text/csv; charset=utf-8",
            body: std::iter::once(csv_header())
                .chain(rows.iter().map(|r| csv_record(&row_json(r, now))))
                .collect(),
            next_after: next,
        },
    })
}

fn json_page(rows: &[HistoryRow], next: Option<String>, now: DateTime<Utc>) -> ApiResponse {
    let mut data = Map::new();
    data.insert(
        "keys".into(),
        Value::Array(rows.iter().map(|r| json!(r.id)).collect()),
    );
    data.insert(
        "leases".into(),
        Value::Array(rows.iter().map(|r| row_json(r, now)).collect()),
    );
    if let Some(next) = next {
        data.insert("next_after".into(), json!(next));
    }
    ApiResponse::data("system", data)
}
