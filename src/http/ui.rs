//! The web console's files at `/ui/`: embedded in the binary at compile time (no build step, so
//! `make run` serves them on a fresh machine), looked up by exact name in a fixed table so no
//! spelling of a path (`..`, `%2e%2e`, `//`) can reach anything else. Every answer, a 404 or the
//! `/ui` redirect included, carries the same strict headers: the page runs only its own scripts
//! and styles, talks only to this server, and cannot be framed.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The Content-Security-Policy of every UI answer: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                       base-uri 'none'; form-action 'none'";

/// The console's files: name under `/ui/`, Content-Type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/dom.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/live.js"),
    ),
    (
        "confirm.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/confirm.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../ui/style.css"),
    ),
    // uPlot 1.6.32 (MIT), for the charts; see ui/README.md.
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../ui/vendor/uPlot.min.css"),
    ),
];

/// Routes for `/ui`, `/ui/` and the files below it.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { redirect() }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route(
            "/ui/{*name}",
            get(|Path(name): Path<String>| async move { asset(&name) }),
        )
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => secured(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, *content_type)],
                *bytes,
            )
                .into_response(),
        ),
        None => secured(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "not found\n",
            )
                .into_response(),
        ),
    }
}

fn redirect() -> Response {
    secured((StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/ui/")]).into_response())
}

fn secured(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}
