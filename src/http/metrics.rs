//! `GET /metrics`: the plain Prometheus scrape path, outside `/v1/` and without a token. Routed
//! only when `telemetry.unauthenticated_metrics_access` is set; otherwise `/metrics` is an unknown
//! path like any other (404).

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;

use super::{error, response};
use crate::core::api::ApiResponse;
use crate::core::Core;

/// Render every metric in the text format.
pub async fn scrape(State(core): State<Arc<Core>>, method: Method) -> Response {
    let resp = match core.render_metrics().await {
        Ok(body) => response::render(
            ApiResponse::Text {
                content_type: crate::metrics::CONTENT_TYPE,
                body,
                next_after: None,
            },
            "",
        ),
        Err(e) => {
            tracing::error!(error = %e, "metrics scrape failed: {e}");
            let (status, messages) = error::status_and_messages(&e);
            response::errors(status, messages)
        }
    };
    core.metrics
        .http_request(method.as_str(), resp.status().as_u16());
    resp
}
