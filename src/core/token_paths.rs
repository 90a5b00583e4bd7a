//! `auth/token/*`. For now: `lookup-self` (the rest of the token API arrives with issue 4).

use serde_json::{json, Value};

use super::api::{ApiRequest, ApiResponse, Method};
use super::Core;
use crate::auth::TokenEntry;
use crate::error::{Error, Result};

/// Serve `auth/token/<rest>`.
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    token: &TokenEntry,
    rest: &str,
) -> Result<ApiResponse> {
    use secrecy::ExposeSecret;
    let id = req
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    match (rest.trim_end_matches('/'), req.method) {
        ("lookup-self", Method::Get | Method::Write) => {
            let mut data = lookup_data(core, token);
            // The caller already holds its token; echoing it is what Vault does for lookup-self.
            data.insert("id".into(), json!(id));
            Ok(ApiResponse::data("token", data))
        }
        ("lookup-self", _) => Err(Error::UnsupportedOperation),
        _ => Err(Error::NoRoute(format!("auth/token/{rest}"))),
    }
}

/// Vault's token lookup fields.
fn lookup_data(core: &Core, t: &TokenEntry) -> serde_json::Map<String, Value> {
    let now = core.clock.now();
    let ttl = t
        .expire_time
        .map(|e| (e - now).num_seconds().max(0))
        .unwrap_or(0);
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(""));
    m.insert("accessor".into(), json!(t.accessor));
    m.insert("policies".into(), json!(t.policies));
    m.insert("path".into(), json!(t.path));
    m.insert(
        "meta".into(),
        if t.meta.is_empty() {
            Value::Null
        } else {
            json!(t.meta)
        },
    );
    m.insert("display_name".into(), json!(t.display_name));
    m.insert("num_uses".into(), json!(0));
    m.insert("orphan".into(), json!(t.orphan));
    m.insert("creation_time".into(), json!(t.creation_time.timestamp()));
    m.insert("creation_ttl".into(), json!(t.creation_ttl));
    m.insert(
        "expire_time".into(),
        json!(t.expire_time.map(|e| e.to_rfc3339())),
    );
    m.insert("ttl".into(), json!(ttl));
    m.insert("explicit_max_ttl".into(), json!(0));
    m.insert("entity_id".into(), json!(""));
    m.insert("type".into(), json!("service"));
    m.insert("renewable".into(), json!(false));
    m.insert("issue_time".into(), json!(t.creation_time.to_rfc3339()));
    m
}
