//! Render an [`ApiResponse`]: Vault's envelope with every key present, `Content-Type:
//! application/json` exactly (hvac reads errors only then), and `Cache-Control: no-store`.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use chrono::SecondsFormat;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use crate::core::api::{ApiResponse, Envelope, WrapInfo};

/// Build the HTTP response.
pub fn render(resp: ApiResponse, request_id: &str) -> Response<Body> {
    match resp {
        ApiResponse::Ok(env) => json_response(StatusCode::OK, &envelope(env, request_id)),
        ApiResponse::AcceptedEnvelope(env) => {
            json_response(StatusCode::ACCEPTED, &envelope(env, request_id))
        }
        ApiResponse::NoContent => empty(StatusCode::NO_CONTENT),
        ApiResponse::Accepted => empty(StatusCode::ACCEPTED),
        ApiResponse::Redirect(location) => {
            let mut r = empty(StatusCode::PERMANENT_REDIRECT);
            // The location is built from an already-decoded, re-escaped path: always a valid
            // header value; if not, the 308 goes without it and the client sees the error.
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        ApiResponse::Raw { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            match body {
                Some(b) => json_response(status, &b),
                None => empty(status),
            }
        }
        ApiResponse::Text {
            content_type,
            body,
            next_after,
        } => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            // A cursor is `<seconds>.<lease id>`, and a lease id is a canonical path: always a
            // valid header value; one that were not would only lose the header.
            if let Some(v) = next_after.and_then(|n| HeaderValue::from_str(&n).ok()) {
                r.headers_mut().insert("x-leasehold-next-after", v);
            }
            with_headers(r)
        }
    }
}

/// `{"errors": [...]}` with `status`.
pub fn errors(status: StatusCode, messages: Vec<String>) -> Response<Body> {
    json_response(status, &json!({ "errors": messages }))
}

fn envelope(env: Envelope, request_id: &str) -> Value {
    if let Some(wrap) = &env.wrap_info {
        return wrapped(wrap);
    }
    let request_id = env.request_id.as_deref().unwrap_or(request_id);
    let data = if env.data.is_some() || !env.secret_data.is_empty() {
        let mut d = env.data.unwrap_or_default();
        // The only place secret values leave their SecretString.
        for (k, v) in &env.secret_data {
            d.insert(k.clone(), Value::String(v.expose_secret().to_owned()));
        }
        Some(d)
    } else {
        None
    };
    let mut out = Map::new();
    if env.data_at_top_level {
        if let Some(d) = &data {
            for (k, v) in d {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("request_id".into(), json!(request_id));
    out.insert("lease_id".into(), json!(env.lease_id));
    out.insert("renewable".into(), json!(env.renewable));
    out.insert("lease_duration".into(), json!(env.lease_duration));
    out.insert(
        "data".into(),
        data.map(Value::Object).unwrap_or(Value::Null),
    );
    out.insert("wrap_info".into(), Value::Null);
    out.insert(
        "warnings".into(),
        if env.warnings.is_empty() {
            Value::Null
        } else {
            json!(env.warnings)
        },
    );
    let mut auth = env.auth.unwrap_or(Value::Null);
    if let (Some(token), Value::Object(a)) = (&env.client_token, &mut auth) {
        // The only place a client token leaves its SecretString.
        a.insert(
            "client_token".into(),
            Value::String(token.expose_secret().to_owned()),
        );
    }
    out.insert("auth".into(), auth);
    out.insert("mount_type".into(), json!(env.mount_type));
    Value::Object(out)
}

/// A wrapped response says nothing but how to unwrap it: Vault sends an empty `request_id` and
/// `mount_type`, null `data`, `auth` and `warnings`, and leaves `wrapped_accessor` out when empty.
fn wrapped(wrap: &WrapInfo) -> Value {
    let mut info = json!({
        // The one place a wrapping token leaves its SecretString.
        "token": wrap.token.expose_secret(),
        "accessor": wrap.accessor,
        "ttl": wrap.ttl,
        "creation_time": wrap.creation_time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "creation_path": wrap.creation_path,
    });
    if !wrap.wrapped_accessor.is_empty() {
        if let Some(obj) = info.as_object_mut() {
            obj.insert("wrapped_accessor".into(), json!(wrap.wrapped_accessor));
        }
    }
    json!({
        "request_id": "",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": null,
        "wrap_info": info,
        "warnings": null,
        "auth": null,
        "mount_type": "",
    })
}

fn with_headers(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let bytes =
        serde_json::to_vec(body).unwrap_or_else(|_| b"{\"errors\":[\"internal error\"]}".to_vec());
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    with_headers(r)
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    with_headers(r)
}
