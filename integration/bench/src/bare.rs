//! The bare handler api_floor compares with: axum answering the same two paths with bodies of
//! the same shape, no token check, no storage. Run as a child process of the harness, so it
//! competes for the cores as the server does.

use anyhow::Result;
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};

async fn health() -> Json<Value> {
    Json(json!({
        "initialized": true, "sealed": false, "standby": false, "performance_standby": false,
        "replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
        "server_time_utc": chrono::Utc::now().timestamp(), "version": "0.1.0",
        "cluster_name": "bare", "cluster_id": "00000000-0000-0000-0000-000000000000",
    }))
}

async fn lookup_self() -> Json<Value> {
    Json(json!({
        "request_id": "00000000-0000-0000-0000-000000000000", "lease_id": "", "renewable": false,
        "lease_duration": 0, "wrap_info": null, "warnings": null, "auth": null,
        "mount_type": "token",
        "data": {"accessor": "x", "creation_time": 0, "creation_ttl": 0, "display_name": "root",
                 "entity_id": "", "expire_time": null, "explicit_max_ttl": 0, "id": "x",
                 "meta": null, "num_uses": 0, "orphan": true, "path": "auth/token/root",
                 "policies": ["root"], "renewable": false, "ttl": 0, "type": "service"},
    }))
}

/// Serve on 127.0.0.1:`port` until killed.
pub async fn serve(port: u16) -> Result<()> {
    let app = axum::Router::new()
        .route("/v1/sys/health", get(health))
        .route("/v1/auth/token/lookup-self", get(lookup_self));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
