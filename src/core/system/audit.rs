//! `sys/audit` (list, enable, disable audit devices) and `sys/audit-hash/:path` (the HMAC a
//! device would write for a value, so an operator can search the log for a known secret).

use serde_json::{json, Map, Value};

use crate::audit::DeviceConfig;
use crate::core::api::{ApiRequest, ApiResponse, Envelope, Method};
use crate::core::Core;
use crate::error::{Error, Result};

fn top_level(data: Map<String, Value>) -> ApiResponse {
    ApiResponse::Ok(Envelope {
        data: Some(data),
        mount_type: "system".into(),
        data_at_top_level: true,
        ..Envelope::default()
    })
}

fn device_path(raw: &str) -> Result<String> {
    let p = raw.trim_matches('/');
    if p.is_empty()
        || !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        return Err(Error::invalid(format!("invalid audit device path {raw:?}")));
    }
    Ok(format!("{p}/"))
}

/// Serve `sys/audit[/<path>]`.
pub async fn handle(core: &Core, req: &ApiRequest, rest: &str) -> Result<ApiResponse> {
    if rest.is_empty() {
        if req.method != Method::Get {
            return Err(Error::UnsupportedOperation);
        }
        let mut data = Map::new();
        for d in core.audit.list() {
            data.insert(
                d.path.clone(),
                json!({"type": d.kind, "description": d.description, "options": d.options, "local": false, "path": d.path,
                       // Not a secret: what auditors verify checkpoints with (`leasehold audit verify`).
                       "chain_key": core.audit.chain_key(&d.path)}),
            );
        }
        return Ok(top_level(data));
    }
    let path = device_path(rest)?;
    match req.method {
        Method::Write => {
            let kind = req
                .data
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("type is required: file, socket or stdout"))?;
            let options = match req.data.get("options") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(o)) => o.clone(),
                Some(_) => return Err(Error::invalid("options must be an object")),
            };
            let description = req
                .data
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            core.audit
                .enable(DeviceConfig {
                    path,
                    kind: kind.to_owned(),
                    description,
                    options,
                })
                .await?;
            Ok(ApiResponse::NoContent)
        }
        Method::Delete => {
            core.audit.disable(&path).await?;
            Ok(ApiResponse::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// Serve `sys/audit-hash/<path>`.
pub fn hash(core: &Core, req: &ApiRequest, rest: &str) -> Result<ApiResponse> {
    if req.method != Method::Write {
        return Err(Error::UnsupportedOperation);
    }
    let path = device_path(rest)?;
    let input = req
        .data
        .get("input")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("input is required"))?;
    let hash = core
        .audit
        .hash(&path, input)
        .ok_or_else(|| Error::invalid(format!("no audit device at {path}")))?;
    let mut data = Map::new();
    data.insert("hash".into(), json!(hash));
    Ok(top_level(data))
}
