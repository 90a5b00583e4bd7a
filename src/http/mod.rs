//! The HTTP edge: one handler for every `/v1/` path (Vault routes by path, not by verb, and needs
//! the custom LIST verb), a request id per call, and error rendering.

pub mod error;
pub mod metrics;
pub mod path;
pub mod request;
pub mod response;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use tracing::{error, info, Instrument};

use crate::core::api::ApiResponse;
use crate::core::Core;

/// The application router.
pub fn router(core: Arc<Core>) -> Router {
    let mut router = Router::new();
    if core.metrics.unauthenticated_access() {
        router = router.route("/metrics", axum::routing::get(metrics::scrape));
    }
    router.fallback(handle).with_state(core)
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
                match request::parse(req, canonical).await {
                    Ok(mut api) => {
                        api.request_id = request_id.clone();
                        // Rate limits first, as in Vault: before the token is even looked up.
                        let limited = core.rate_limit(&api).await;
                        quota_headers = limited.headers;
                        match limited.refused {
                            Some(refused) => Err(refused),
                            None => core.handle(api).await,
                        }
                    }
                    Err(e) => Err(e),
                }
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
        core.metrics
            .http_request(method.as_str(), resp.status().as_u16());
        info!(
            http.status = resp.status().as_u16(),
            "{method} {logged} {}",
            resp.status().as_u16()
        );
        resp
    }
    .instrument(span)
    .await
}
