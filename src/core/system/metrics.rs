//! `sys/metrics`: the Prometheus scrape through the API, as Vault serves it. Only
//! `format=prometheus` is served; Vault's default JSON dump of its in-memory sink has no
//! counterpart here. See [`crate::metrics`] for what is measured.

use crate::core::api::{ApiRequest, ApiResponse, Method};
use crate::core::Core;
use crate::error::{Error, Result};

/// `GET sys/metrics?format=prometheus`.
pub async fn read(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if req.method != Method::Get {
        return Err(Error::UnsupportedOperation);
    }
    match req.data.get("format").and_then(|v| v.as_str()) {
        Some("prometheus") => Ok(ApiResponse::Text {
            content_type: crate::metrics::CONTENT_TYPE,
            body: core.render_metrics().await?,
            next_after: None,
        }),
        other => Err(Error::invalid(format!(
            "unsupported metrics format {:?}: only format=prometheus is served",
            other.unwrap_or_default()
        ))),
    }
}
