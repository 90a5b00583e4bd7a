//! The AWS engine through the HTTP API, against moto with authentication enforced: the issued key
//! really works, and after revoke or expiry it is really rejected.

use std::time::Duration;

use serde_json::json;

use crate::app::TestApp;
use crate::moto::{Keys, Moto};

async fn aws_mount(app: &TestApp, moto: &Moto) {
    let (s, v) = app.put("sys/mounts/aws", json!({"type": "aws"})).await;
    assert_eq!(s, 204, "{v}");
    app.ok(
        "aws/config/root",
        json!({
            "access_key": moto.root.access_key,
            "secret_key": moto.root.secret_key,
            "region": "us-east-1",
            "iam_endpoint": moto.endpoint,
            "sts_endpoint": moto.endpoint,
        }),
    )
    .await;
    app.ok(
        "aws/roles/deploy",
        json!({
            "credential_type": "iam_user",
            "policy_document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "iam:GetUser"], "Resource": "*"}
            ]},
        }),
    )
    .await;
}

async fn issue(app: &TestApp) -> (String, Keys, serde_json::Value) {
    let (s, v) = app.get("aws/creds/deploy").await;
    assert_eq!(s, 200, "{v}");
    let keys = Keys::new(
        v["data"]["access_key"].as_str().unwrap(),
        v["data"]["secret_key"].as_str().unwrap(),
    );
    (v["lease_id"].as_str().unwrap().to_owned(), keys, v)
}

/// Poll until the key is rejected; IAM key deletion is immediate in moto.
async fn wait_rejected(moto: &Moto, keys: &Keys, within: Duration) -> String {
    let start = tokio::time::Instant::now();
    loop {
        match moto.caller_arn(keys).await {
            Err(e) => return e,
            Ok(_) => {
                assert!(
                    start.elapsed() < within,
                    "key still accepted after {within:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn iam_user_key_works_then_is_rejected_after_revoke() {
    let moto = Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    aws_mount(&app, &moto).await;
    let (lease_id, keys, body) = issue(&app).await;
    assert!(lease_id.starts_with("aws/creds/deploy/"));
    assert_eq!(body["renewable"], true);
    assert!(body["data"]["security_token"].is_null());
    let arn = moto.caller_arn(&keys).await.expect("issued key must work");
    assert!(arn.contains(":user/"), "{arn}");
    // The secret key is not readable back anywhere.
    let (_, root) = app.get("aws/config/root").await;
    assert!(root["data"].get("secret_key").is_none());

    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204);
    let err = moto
        .caller_arn(&keys)
        .await
        .expect_err("revoked key still works");
    assert!(err.contains("InvalidClientTokenId"), "{err}");
}

#[tokio::test]
async fn iam_user_is_destroyed_at_expiry_without_a_request() {
    let moto = Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    aws_mount(&app, &moto).await;
    app.ok(
        "aws/config/lease",
        json!({"lease": "2s", "lease_max": "1h"}),
    )
    .await;
    let (_, keys, body) = issue(&app).await;
    assert_eq!(body["lease_duration"], 2);
    assert!(moto.caller_arn(&keys).await.is_ok());
    let err = wait_rejected(&moto, &keys, Duration::from_secs(15)).await;
    assert!(err.contains("InvalidClientTokenId"), "{err}");
}
