//! `GET sys/leases/workload-tokens?workload=W`: the live tokens issued to a workload (or below
//! it at a `/` boundary), for the web console's workload page. leasehold's own; sudo, as
//! `sys/leases/list` is. Accessors and metadata only: never the token itself.
//!
//! Parents come before their children (each child right below its parent, depth-first), so a
//! reader sees the tree the way `revoke-workload` will take it down.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};

use crate::auth::token::TokenEntry;
use crate::core::api::{ApiRequest, ApiResponse};
use crate::core::Core;
use crate::error::{Error, Result};

/// Serve the listing: `tokens`, each with `depth` (0 for a token whose parent is not listed).
pub async fn handle(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if let Some(k) = req.data.keys().find(|k| k.as_str() != "workload") {
        return Err(Error::invalid(format!(
            "unknown field {k:?} (only \"workload\" is accepted)"
        )));
    }
    let workload = match req.data.get("workload") {
        Some(Value::String(s)) => s.trim_matches('/').to_owned(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(Error::invalid("field \"workload\" must be a string")),
    };
    if workload.is_empty() {
        return Err(Error::invalid(
            "workload is required, e.g. \"auth/approle/role/ci\"",
        ));
    }
    let now = core.clock.now();
    // Live as a request would find it: not expired or used up, and no ancestor either (an
    // expired parent not yet tidied takes its children with it).
    let mut live: Vec<TokenEntry> = Vec::new();
    for t in core.workload_tokens(&workload).await? {
        if t.is_live(now) && core.tokens.ancestors_live(&t, now).await? {
            live.push(t);
        }
    }
    live.sort_by(|a, b| (a.creation_time, &a.accessor).cmp(&(b.creation_time, &b.accessor)));
    let listed: HashSet<String> = live.iter().map(|t| t.accessor.clone()).collect();
    // Children by parent accessor, in creation order (the sort above).
    let mut kids: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (i, t) in live.iter().enumerate() {
        match &t.parent {
            Some(p) if listed.contains(p) => kids.entry(p.clone()).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(live.len());
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        order.push((i, depth));
        if let Some(cs) = live.get(i).and_then(|t| kids.get(&t.accessor)) {
            stack.extend(cs.iter().rev().map(|&c| (c, depth + 1)));
        }
    }
    let mut tokens = Vec::with_capacity(order.len());
    for (i, depth) in order {
        let Some(t) = live.get(i) else { continue };
        let children = core.tokens.children(&t.accessor).await?.len();
        tokens.push(json!({
            "accessor": t.accessor,
            "display_name": t.display_name,
            "policies": t.policies,
            "workload": t.workload,
            "creation_time": t.creation_time.to_rfc3339(),
            "expire_time": t.expire_time.map(|e| e.to_rfc3339()),
            "parent": t.parent,
            "children": children,
            "depth": depth,
        }));
    }
    let mut data = Map::new();
    data.insert("workload".into(), json!(workload));
    data.insert("tokens".into(), Value::Array(tokens));
    Ok(ApiResponse::data("system", data))
}
