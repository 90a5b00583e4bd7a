//! `GET sys/leases/counts`: how many live leases each mount and role has in each state, for the
//! web console's summary. leasehold's own; sudo, as `sys/leases/list` is.
//!
//! One `GROUP BY` in storage ([`LeaseStore::lease_counts`], the aggregate the metrics'
//! `leasehold_leases` gauges read), so it costs the same on a table of a million rows as on ten.
//! `irrevocable` counts `revoking` rows that failed `lease.irrevocable_after` times or more (they
//! are also in `revoking`, as in the metrics); a row that fails its integrity check is found by
//! `sys/leases/list?state=irrevocable`, which checks each row it reads, not by this count.
//!
//! [`LeaseStore::lease_counts`]: crate::storage::LeaseStore::lease_counts

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::core::api::{ApiRequest, ApiResponse};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::lease::LeaseState;

/// The four numbers of one group.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    creating: u64,
    active: u64,
    revoking: u64,
    irrevocable: u64,
}

impl Tally {
    fn to_json(self) -> Value {
        json!({
            "creating": self.creating,
            "active": self.active,
            "revoking": self.revoking,
            "irrevocable": self.irrevocable,
        })
    }

    fn add(&mut self, other: Tally) {
        self.creating += other.creating;
        self.active += other.active;
        self.revoking += other.revoking;
        self.irrevocable += other.irrevocable;
    }

    fn is_empty(self) -> bool {
        self.creating + self.active + self.revoking == 0
    }
}

/// Serve the counts: `counts` (one entry per mount and role with a live lease, in mount then
/// role order) and `totals`.
pub async fn handle(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if let Some(k) = req.data.keys().next() {
        return Err(Error::invalid(format!(
            "unknown field {k:?} (none expected)"
        )));
    }
    let rows = core
        .leases
        .storage()
        .lease_counts(core.leases.settings().irrevocable_after)
        .await?;
    let mut groups: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for r in rows {
        let mut t = Tally::default();
        match r.state {
            LeaseState::Creating => t.creating = r.count,
            LeaseState::Active => t.active = r.count,
            LeaseState::Revoking => {
                t.revoking = r.count;
                if r.irrevocable {
                    t.irrevocable = r.count;
                }
            }
            LeaseState::Revoked => continue,
        }
        groups.entry((r.mount_path, r.role)).or_default().add(t);
    }
    let mut totals = Tally::default();
    let mut counts = Vec::new();
    for ((mount, role), t) in groups {
        if t.is_empty() {
            continue;
        }
        totals.add(t);
        let mut entry = Map::new();
        entry.insert("mount".into(), json!(mount));
        entry.insert("role".into(), json!(role));
        if let Value::Object(n) = t.to_json() {
            entry.extend(n);
        }
        counts.push(Value::Object(entry));
    }
    let mut data = Map::new();
    data.insert("counts".into(), Value::Array(counts));
    data.insert("totals".into(), totals.to_json());
    Ok(ApiResponse::data("system", data))
}
