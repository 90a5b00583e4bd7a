//! `GET sys/leases/durations`: the privilege-duration and overstay distributions per mount (the
//! `leasehold_privilege_duration_seconds` and `leasehold_overstay_seconds` histograms, as JSON),
//! for the web console's charts. leasehold's own; sudo, as the other lease summaries. Like the
//! metrics, they count destructions since this node started.

use serde_json::{Map, Value};

use crate::core::api::{ApiRequest, ApiResponse};
use crate::core::Core;
use crate::error::{Error, Result};

/// Serve the distributions: `privilege_duration_seconds` and `overstay_seconds`, each
/// `{mount: {buckets: [{le, count}], count, sum}}`.
pub fn handle(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if let Some(k) = req.data.keys().next() {
        return Err(Error::invalid(format!(
            "unknown field {k:?} (none expected)"
        )));
    }
    let data = match core.metrics.distributions() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(ApiResponse::data("system", data))
}
