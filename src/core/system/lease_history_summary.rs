//! `GET sys/leases/history/summary`: the access history added up — privilege-seconds, leases,
//! overstayed and unused ones — per workload, role or account and per day or week of issue,
//! for the `lease report` command and the console. Sudo, as the history is.
//!
//! Fields: the history's filters (`lease_history.rs`), `by` (`workload`, the default; `role`,
//! shown as `<mount><role>`; or `account`) and `period` (`day`, the default, or `week`,
//! starting Monday, UTC). A lease counts in the period it was issued in, with all its
//! privilege-seconds (a live one's up to now); the lists behind the counts are the history with
//! `overstayed=true` or `unused=true`. Two `GROUP BY`s in storage (live and ended leases), so a
//! year of history is one aggregate, not a walk.

use serde_json::{json, Map, Value};

use super::lease_history::{filters, refuse_unknown, text, FILTER_FIELDS};
use crate::core::api::{ApiRequest, ApiResponse};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::storage::{Period, SummaryBy};

/// Serve the summary.
pub async fn handle(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    refuse_unknown(req, &[FILTER_FIELDS, &["by", "period"]])?;
    let query = filters(req)?;
    let by = match text(req, "by")?.as_deref() {
        None | Some("workload") => SummaryBy::Workload,
        Some("role") => SummaryBy::Role,
        Some("account") => SummaryBy::Account,
        Some(other) => {
            return Err(Error::invalid(format!(
                "field \"by\" must be workload, role or account, not {other:?}"
            )))
        }
    };
    let period = match text(req, "period")?.as_deref() {
        None | Some("day") => Period::Day,
        Some("week") => Period::Week,
        Some(other) => {
            return Err(Error::invalid(format!(
                "field \"period\" must be day or week, not {other:?}"
            )))
        }
    };
    let groups = core.leases.history_summary(&query, by, period).await?;
    let rows: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                "key": g.key,
                "period_start": g.period.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "leases": g.leases,
                "privilege_seconds": g.privilege_secs,
                "overstayed": g.overstayed,
                "unused": g.unused,
                "live": g.live,
            })
        })
        .collect();
    let total = |f: fn(&crate::storage::SummaryRow) -> i64| groups.iter().map(f).sum::<i64>();
    let mut data = Map::new();
    data.insert(
        "by".into(),
        json!(match by {
            SummaryBy::Workload => "workload",
            SummaryBy::Role => "role",
            SummaryBy::Account => "account",
        }),
    );
    data.insert(
        "period".into(),
        json!(match period {
            Period::Day => "day",
            Period::Week => "week",
        }),
    );
    data.insert("groups".into(), Value::Array(rows));
    data.insert(
        "totals".into(),
        json!({
            "leases": total(|g| g.leases as i64),
            "privilege_seconds": total(|g| g.privilege_secs),
            "overstayed": total(|g| g.overstayed as i64),
            "unused": total(|g| g.unused as i64),
            "live": total(|g| g.live as i64),
        }),
    );
    Ok(ApiResponse::data("system", data))
}
