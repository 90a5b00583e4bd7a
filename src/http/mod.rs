//! The HTTP edge: one handler for every `/v1/` path (Vault routes by path, not by verb, and needs
//! the custom LIST verb), a request id per call, and error rendering.

pub mod error;
pub mod limits;
pub mod metrics;
pub mod path;
pub mod request;
pub mod response;
pub mod ui;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use tracing::{debug, error, info, Instrument};

use crate::config::ListenerLimits;
use crate::core::api::ApiResponse;
use crate::core::Core;
use crate::error::Error;

/// The application router; `ui`: serve the web console at `/ui/` (see [`ui`]).
pub fn router(core: Arc<Core>, ui: bool) -> Router {
    let mut router = Router::new();
    if ui {
        router = router.merge(ui::routes());
    }
    if core.metrics.unauthenticated_access() {
        router = router.route("/metrics", axum::routing::get(metrics::scrape));
    }
    router.fallback(handle).with_state(core)
}

/// Read and handle a request within the listener's `max_request_duration`, with the body size
/// [`limits::body_limit`] allows.
async fn serve_bounded(
    core: &Arc<Core>,
    req: Request,
    canonical: path::CanonicalPath,
    request_id: &str,
    quota_headers: &mut Vec<(&'static str, String)>,
) -> crate::error::Result<ApiResponse> {
    // Set by the listener; a router served some other way gets the defaults.
    let limits = req
        .extensions()
        .get::<ListenerLimits>()
        .copied()
        .unwrap_or_default();
    let deadline = tokio::time::Instant::now() + limits.max_request_duration;
    let (parts, body) = req.into_parts();
    let read = async {
        let limit = limits::body_limit(core, &parts, &limits).await;
        request::parse(Request::from_parts(parts, body), canonical, limit).await
    };
    let mut api = match tokio::time::timeout_at(deadline, read).await {
        Ok(parsed) => parsed?,
        Err(_) => return Err(Error::RequestDuration),
    };
    api.request_id = request_id.to_owned();
    // Rate limits first, as in Vault: before the token is even looked up.
    let limited = core.rate_limit(&api).await;
    *quota_headers = limited.headers;
    if let Some(refused) = limited.refused {
        return Err(refused);
    }
    // Handled in its own task: when the deadline passes (or the client goes away) the work runs
    // to its end rather than stopping halfway, say between creating an account and recording
    // its lease. The caller gets 503 and what was issued expires with its lease.
    let core = core.clone();
    let work = tokio::spawn(async move { core.handle(api).await }.in_current_span());
    match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(Error::Internal(format!("request task failed: {e}"))),
        Err(_) => Err(Error::RequestDuration),
    }
}

async fn handle(State(core): State<Arc<Core>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let resolved = path::resolve(req.uri().path(), req.uri().query());
    // What the server log shows: the canonical path, never a token carried in it.
    let logged = match &resolved {
        Ok(path::Resolved::Canonical(p)) => path::redact_token(p, |_| "[redacted]".into()),
        Ok(path::Resolved::Redirect(_)) => "(redirected)".to_owned(),
        Err(_) => "(invalid path)".to_owned(),
    };
    let span = tracing::info_span!("request", request.id = %request_id, http.method = %method, http.path = %logged);
    async move {
        let mut quota_headers = Vec::new();
        let result = match resolved {
            Ok(path::Resolved::Redirect(location)) => Ok(ApiResponse::Redirect(location)),
            Ok(path::Resolved::Canonical(canonical)) => {
                serve_bounded(&core, req, canonical, &request_id, &mut quota_headers).await
            }
            Err(e) => Err(e),
        };
        let resp = match result {
            Ok(r) => response::render(r, &request_id),
            Err(e) => {
                let (status, messages) = error::status_and_messages(&e);
                if status.is_server_error() {
                    error!(error = %e, "request failed: {e}");
                }
                response::errors(status, messages)
            }
        };
        let mut resp = resp;
        for (name, value) in quota_headers {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, value);
            }
        }
        let status = resp.status().as_u16();
        core.metrics.http_request(method.as_str(), status);
        // A line per request is the audit devices' job (as in Vault, whose server log has none);
        // the server log keeps what an operator acts on. A refused or failed request is shown at
        // info, an answered one at debug (`LEASEHOLD_LOG=info,leasehold::http=debug` shows all):
        // each line is formatted and written on the request's own thread.
        if status >= 400 {
            info!(http.status = status, "{method} {logged} {status}");
        } else {
            debug!(http.status = status, "{method} {logged} {status}");
        }
        resp
    }
    .instrument(span)
    .await
}
