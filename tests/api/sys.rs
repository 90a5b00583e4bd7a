//! The Vault envelope, errors and system paths, without a target.

use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn health_and_seal_status_need_no_token() {
    let app = TestApp::spawn().await;
    let (s, v) = app.call_as("GET", "sys/health", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (v["initialized"].as_bool(), v["sealed"].as_bool()),
        (Some(true), Some(false))
    );
    let (s, v) = app.call_as("HEAD", "sys/health", None, None).await;
    assert_eq!((s.as_u16(), v), (200, serde_json::Value::Null));
    let (s, _) = app
        .call_as("GET", "sys/health?activecode=299", None, None)
        .await;
    assert_eq!(s, 299);
    let (s, v) = app.call_as("GET", "sys/seal-status", None, None).await;
    assert_eq!((s.as_u16(), v["sealed"].as_bool()), (200, Some(false)));
}

#[tokio::test]
async fn tokens_are_checked() {
    let app = TestApp::spawn().await;
    for token in [None, Some("nope")] {
        let (s, v) = app
            .call_as("GET", "auth/token/lookup-self", None, token)
            .await;
        assert_eq!(s, 403);
        assert_eq!(v["errors"][0], "permission denied");
    }
    let (s, v) = app.get("auth/token/lookup-self").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["policies"], json!(["root"]));
    assert_eq!(v["data"]["id"], app.token);
    for key in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "wrap_info",
        "warnings",
        "auth",
        "mount_type",
    ] {
        assert!(v.get(key).is_some(), "envelope lacks {key}");
    }
    // Bearer works as well.
    let resp = reqwest::Client::new()
        .get(format!("http://{}/v1/auth/token/lookup-self", app.addr))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn mounts_enable_tune_list_disable() {
    let app = TestApp::spawn().await;
    let (s, v) = app.put("sys/mounts/pg2", json!({"type": "database", "config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}})).await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = app.get("sys/mounts").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["pg2/"]["type"], "database");
    assert_eq!(
        v["pg2/"]["type"], "database",
        "mount map not copied to the top level"
    );
    let (_, v) = app.get("sys/mounts/pg2/tune").await;
    assert_eq!(
        (
            v["data"]["default_lease_ttl"].as_u64(),
            v["data"]["max_lease_ttl"].as_u64()
        ),
        (Some(3600), Some(7200))
    );
    let (s, v) = app.put("sys/mounts/pg2", json!({"type": "database"})).await;
    assert_eq!(s, 400);
    assert!(v["errors"][0].as_str().unwrap().contains("already in use"));
    let (s, v) = app.put("sys/mounts/bad", json!({"type": "database", "config": {"default_lease_ttl": "2h", "max_lease_ttl": "1h"}})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = app
        .put(
            "sys/mounts/bad",
            json!({"type": "database", "config": {"default_lease_ttl": "soon"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v["errors"][0]
        .as_str()
        .unwrap()
        .contains("default_lease_ttl"));
    let (s, _) = app.put("sys/mounts/x", json!({"type": "nosuch"})).await;
    assert_eq!(s, 400);
    let (s, _) = app.call("DELETE", "sys/mounts/pg2", None).await;
    assert_eq!(s, 204);
    let (_, v) = app.get("sys/mounts").await;
    assert!(v["data"].get("pg2/").is_none());
}

#[tokio::test]
async fn bad_input_gets_vault_errors() {
    let app = TestApp::spawn().await;
    let resp = reqwest::Client::new()
        .put(format!("http://{}/v1/sys/leases/lookup", app.addr))
        .header("X-Vault-Token", &app.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["errors"][0]
        .as_str()
        .unwrap()
        .contains("failed to parse JSON"));

    let (s, v) = app.put("sys/leases/lookup", json!({})).await;
    assert_eq!(
        (s.as_u16(), v["errors"][0].as_str()),
        (400, Some("lease_id must be specified"))
    );
    let (s, v) = app
        .put(
            "sys/leases/renew",
            json!({"lease_id": "database/creds/x/nope"}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["errors"][0].as_str()),
        (400, Some("lease not found"))
    );
    let (s, v) = app
        .put(
            "sys/leases/renew",
            json!({"lease_id": "a/b", "increment": "forever"}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v["errors"][0].as_str().unwrap().contains("increment"));
    let (s, _) = app.get("sys/nonsense").await;
    assert_eq!(s, 404);
    let (s, _) = app.get("nomount/creds/x").await;
    assert_eq!(s, 404);
    let (s, _) = app.call("PATCH", "sys/mounts", None).await;
    assert_eq!(s, 405);
    // An oversized body is refused, not buffered.
    let big = "x".repeat(33 * 1024 * 1024);
    let resp = reqwest::Client::new()
        .put(format!("http://{}/v1/sys/leases/lookup", app.addr))
        .header("X-Vault-Token", &app.token)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn lease_admin_paths_answer_like_vault() {
    let app = TestApp::spawn().await;
    let (s, v) = app.put("sys/leases/tidy", json!({})).await;
    assert_eq!(s, 202);
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .contains("Tidy operation successfully started"));
    let (s, v) = app.get("sys/leases/count?type=irrevocable").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["lease_count"], 0);
    let (s, v) = app.get("sys/leases?type=irrevocable").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["leases"], json!([]));
    let (s, _) = app.call("LIST", "sys/leases/lookup/", None).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .put(
            "sys/leases/revoke",
            json!({"lease_id": "database/creds/x/unknown"}),
        )
        .await;
    assert_eq!(s, 204, "revoking an unknown lease is idempotent");
    let (s, _) = app
        .put(
            "sys/leases/revoke",
            json!({"lease_id": "database/creds/x/unknown", "sync": false}),
        )
        .await;
    assert_eq!(s, 202);
}
