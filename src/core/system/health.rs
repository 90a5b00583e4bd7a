//! `sys/health`, `sys/seal-status`, `sys/leader`, `sys/init`: a leasehold server is always
//! initialised, unsealed and active (no Shamir seal: the storage key comes from the operator).

use leasehold_backend::request::parse_bool;
use serde_json::{json, Value};

use crate::core::api::{ApiRequest, ApiResponse, Method};
use crate::core::Core;
use crate::error::{Error, Result};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn code(req: &ApiRequest, name: &str, default: u16) -> Result<u16> {
    match req.data.get(name) {
        None => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| Error::invalid(format!("invalid {name}"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| Error::invalid(format!("invalid {name}: {s:?}"))),
        Some(_) => Err(Error::invalid(format!("invalid {name}"))),
    }
}

/// `GET|HEAD sys/health`: 200 (or `activecode`) with Vault's body.
pub fn health(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if !matches!(req.method, Method::Get | Method::Head) {
        return Err(Error::UnsupportedOperation);
    }
    for flag in ["standbyok", "perfstandbyok"] {
        if let Some(v) = req.data.get(flag) {
            let ok = match v {
                Value::Bool(_) => true,
                Value::String(s) => parse_bool(s).is_some(),
                _ => false,
            };
            if !ok {
                return Err(Error::invalid(format!("invalid {flag}")));
            }
        }
    }
    let status = code(req, "activecode", 200)?;
    let body = json!({
        "initialized": true,
        "sealed": false,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": core.clock.now().timestamp(),
        "version": VERSION,
        "enterprise": false,
        "cluster_name": "leasehold",
        "cluster_id": core.cluster_id,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
    });
    Ok(ApiResponse::Raw {
        status,
        body: (req.method == Method::Get).then_some(body),
    })
}

/// `GET sys/seal-status`.
pub fn seal_status(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if req.method != Method::Get {
        return Err(Error::UnsupportedOperation);
    }
    Ok(ApiResponse::Raw {
        status: 200,
        body: Some(json!({
            "type": "leasehold", "initialized": true, "sealed": false, "t": 1, "n": 1,
            "progress": 0, "nonce": "", "version": VERSION, "build_date": "", "migration": false,
            "cluster_name": "leasehold", "cluster_id": core.cluster_id, "recovery_seal": false,
            "storage_type": core.storage_type,
        })),
    })
}

/// `GET sys/leader`: whether nodes share the storage, and which of them leads (runs the
/// periodic work). Every node serves writes, so clients need not follow the leader.
pub async fn leader(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if req.method != Method::Get {
        return Err(Error::UnsupportedOperation);
    }
    let cluster = &core.cluster;
    let (nodes, leader) = cluster.members().await?;
    let is_self = leader.as_deref() == Some(cluster.node_id());
    let leader_node = leader
        .as_deref()
        .and_then(|id| nodes.iter().find(|n| n.id == id));
    let active_time = match (is_self, cluster.leader_since(), leader_node) {
        (true, Some(t), _) => rfc3339(t),
        (_, _, Some(n)) => rfc3339(n.started_at),
        // Vault's zero time: nobody leads right now.
        _ => "0001-01-01T00:00:00Z".into(),
    };
    Ok(ApiResponse::Raw {
        status: 200,
        body: Some(json!({
            "ha_enabled": cluster.ha_enabled(),
            "is_self": is_self,
            "active_time": active_time,
            "leader_address": leader_node.map(|n| n.api_addr.as_str()).unwrap_or(""),
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
        })),
    })
}

/// `GET sys/ha-status`: the live nodes, the leader first marked `active_node`.
pub async fn ha_status(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if req.method != Method::Get {
        return Err(Error::UnsupportedOperation);
    }
    let (nodes, leader) = core.cluster.members().await?;
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let active = leader.as_deref() == Some(n.id.as_str());
            json!({
                "hostname": n.hostname,
                "node_id": n.id,
                "api_address": n.api_addr,
                "cluster_address": "",
                "active_node": active,
                // As Vault: the active node has no echo; others show when it last heard them.
                "last_echo": (!active).then(|| rfc3339(n.heartbeat_at)),
                "version": n.version,
                "upgrade_version": n.version,
                "redundancy_zone": "",
                "echo_duration_ms": 0,
                "clock_skew_ms": 0,
                "replication_primary_canary_age_ms": 0,
            })
        })
        .collect();
    let mut data = serde_json::Map::new();
    data.insert("nodes".into(), Value::Array(nodes));
    Ok(ApiResponse::Ok(crate::core::api::Envelope {
        data: Some(data),
        mount_type: "system".into(),
        data_at_top_level: true,
        ..Default::default()
    }))
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `GET sys/init`.
pub fn init(req: &ApiRequest) -> Result<ApiResponse> {
    if req.method != Method::Get {
        return Err(Error::invalid(
            "leasehold is initialised at first start; sys/init cannot be written",
        ));
    }
    Ok(ApiResponse::Raw {
        status: 200,
        body: Some(json!({"initialized": true})),
    })
}
