//! `sys/policies/acl[/:name]` and the legacy `sys/policy[/:name]` (read answers `rules`, write
//! accepts `rules` as node-vault sends it).

use serde_json::{json, Map, Value};

use crate::core::api::{ApiRequest, ApiResponse, Envelope, Method};
use crate::core::{keys, Core};
use crate::error::{Error, Result};

/// Serve a policy path; `legacy` for `sys/policy`.
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    name: &str,
    legacy: bool,
) -> Result<ApiResponse> {
    if name.is_empty() {
        return match req.method {
            Method::Get | Method::List => {
                let names = core.policies.names().await?;
                if legacy {
                    let mut data = keys(names.clone());
                    data.insert("policies".into(), json!(names));
                    Ok(ApiResponse::Ok(Envelope {
                        data: Some(data),
                        mount_type: "system".into(),
                        data_at_top_level: true,
                        ..Envelope::default()
                    }))
                } else {
                    Ok(ApiResponse::data("system", keys(names)))
                }
            }
            _ => Err(Error::UnsupportedOperation),
        };
    }
    if name.contains('/') {
        return Err(Error::invalid(format!(
            "invalid policy name {name:?}: names cannot contain '/'"
        )));
    }
    // Lowercased at the edge already (crate::http::path), so the ACL saw this very name; kept
    // here for callers that build requests without the edge.
    let lowered = name.to_lowercase();
    match req.method {
        Method::Get => {
            let policy = core.policies.get(&lowered).await?.ok_or(Error::NotFound)?;
            let mut data = Map::new();
            data.insert("name".into(), json!(lowered));
            data.insert(
                if legacy { "rules" } else { "policy" }.into(),
                json!(policy_text(&policy)),
            );
            Ok(ApiResponse::Ok(Envelope {
                data: Some(data),
                mount_type: "system".into(),
                data_at_top_level: legacy,
                ..Envelope::default()
            }))
        }
        Method::Write => {
            let text = ["policy", "rules"]
                .iter()
                .find_map(|k| req.data.get(*k).and_then(Value::as_str))
                .ok_or_else(|| {
                    Error::invalid("policy is required: the policy text (HCL or JSON)")
                })?;
            core.policies.put(&lowered, text).await?;
            Ok(ApiResponse::NoContent)
        }
        Method::Delete => {
            core.policies.delete(&lowered).await?;
            Ok(ApiResponse::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

fn policy_text(p: &crate::auth::policy::Policy) -> String {
    p.raw().to_owned()
}
