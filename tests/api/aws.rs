//! The AWS engine through the HTTP API, against moto with authentication enforced: the issued key
//! really works, and after revoke or expiry it is really rejected.

use std::time::Duration;

use serde_json::json;

use crate::app::TestApp;
use crate::moto::{assert_no_such_entity, Keys, Moto};

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

/// The first audit entry `wanted` picks, waiting for it to be written.
async fn audit_entry(
    log: &std::path::Path,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = tokio::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| wanted(e));
        if let Some(entry) = found {
            return entry;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no such audit entry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id of the lease whose issue failed, from the audit log's `issue_failed` entry.
async fn failed_lease_id(log: &std::path::Path) -> (String, serde_json::Value) {
    let entry = audit_entry(log, |e| e["event"] == "issue_failed").await;
    let lease_id = entry["lease"]["lease_id"].as_str().unwrap().to_owned();
    (lease_id, entry)
}

/// The `destroyed` audit entry of `lease_id`.
async fn destroyed_entry(log: &std::path::Path, lease_id: &str) -> serde_json::Value {
    audit_entry(log, |e| {
        e["event"] == "destroyed" && e["lease"]["lease_id"] == lease_id
    })
    .await
}

/// The access history's row for `lease_id`.
async fn history_row(app: &TestApp, role: &str, lease_id: &str) -> serde_json::Value {
    let (s, v) = app
        .get(&format!("sys/leases/history?mount=aws/&role={role}"))
        .await;
    assert_eq!(s, 200, "{v}");
    let rows = v["data"]["leases"].as_array().unwrap();
    rows.iter()
        .find(|r| r["lease_id"] == lease_id)
        .unwrap_or_else(|| panic!("{lease_id} not in the history: {rows:?}"))
        .clone()
}

#[tokio::test]
async fn an_iam_user_revocation_leaves_a_receipt_that_iam_bears_out() {
    let moto = Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    aws_mount(&app, &moto).await;
    let log = app.audit_to_file().await;
    let (lease_id, keys, body) = issue(&app).await;
    let arn = body["data"]["arn"].as_str().unwrap();
    let user = arn.rsplit('/').next().unwrap().to_owned();
    let root = moto.iam(&moto.root).await;
    root.get_user().user_name(&user).send().await.unwrap();

    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204);
    let destroyed = destroyed_entry(&log, &lease_id).await;
    assert_eq!(
        destroyed["verified"]["check"],
        json!(format!(
            "iam:GetUser NoSuchEntity and iam:ListAccessKeys NoSuchEntity for user {user:?}"
        )),
        "{destroyed}"
    );
    assert!(destroyed["sessions_terminated"].is_null(), "{destroyed}");
    let proved: chrono::DateTime<chrono::Utc> = destroyed["verified"]["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // What the receipt says, IAM says to us too: no user, no keys, and the key is refused.
    let user_asked = root.get_user().user_name(&user).send().await;
    assert_no_such_entity("GetUser", user_asked);
    let keys_asked = root.list_access_keys().user_name(&user).send().await;
    assert_no_such_entity("ListAccessKeys", keys_asked);
    let err = moto.caller_arn(&keys).await.unwrap_err();
    assert!(err.contains("InvalidClientTokenId"), "{err}");

    let row = history_row(&app, "deploy", &lease_id).await;
    assert_eq!(row["state"], "ended", "{row}");
    assert_eq!(row["account"], user.as_str(), "{row}");
    let verified: chrono::DateTime<chrono::Utc> =
        row["verified_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(verified.timestamp(), proved.timestamp());
}

#[tokio::test]
async fn an_sts_revocation_claims_no_receipt() {
    let moto = Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    aws_mount(&app, &moto).await;
    let log = app.audit_to_file().await;
    app.ok(
        "aws/roles/assume",
        json!({"credential_type": "assumed_role",
               "role_arns": ["arn:aws:iam::123456789012:role/deployer"]}),
    )
    .await;
    let (s, v) = app.get("aws/sts/assume").await;
    assert_eq!(s, 200, "{v}");
    let lease_id = v["lease_id"].as_str().unwrap().to_owned();
    let keys = Keys {
        session_token: v["data"]["security_token"].as_str().map(str::to_owned),
        ..Keys::new(
            v["data"]["access_key"].as_str().unwrap(),
            v["data"]["secret_key"].as_str().unwrap(),
        )
    };

    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204);
    // STS cannot take the credential back, so nothing is proved and nothing is claimed: the
    // credential still works until its own expiry.
    let destroyed = destroyed_entry(&log, &lease_id).await;
    assert!(destroyed["verified"].is_null(), "{destroyed}");
    assert!(moto.caller_arn(&keys).await.is_ok());
    let row = history_row(&app, "assume", &lease_id).await;
    assert_eq!(row["state"], "ended", "{row}");
    assert!(row["verified_at"].is_null(), "{row}");
}

#[tokio::test]
async fn an_issue_that_never_reaches_iam_ends_its_lease_at_once() {
    let moto = Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    aws_mount(&app, &moto).await;
    let log = app.audit_to_file().await;
    // Nothing listens there: every CreateUser attempt fails while connecting.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    app.ok(
        "aws/config/root",
        json!({"iam_endpoint": format!("http://127.0.0.1:{dead}")}),
    )
    .await;
    let (s, v) = app.get("aws/creds/deploy").await;
    assert_eq!(s, 502, "{v}");
    let error = v["errors"][0].as_str().unwrap();
    assert!(error.contains("iam:CreateUser failed"), "{error}");
    assert!(error.contains("Connection refused"), "{error}");
    // A readable reason, not a Rust Debug dump of the SDK's error.
    for debug in ["DispatchFailure", "ConnectorError", "{ ", "Os {"] {
        assert!(!error.contains(debug), "{error}");
    }
    let (lease_id, entry) = failed_lease_id(&log).await;
    assert_eq!(entry["lease"]["state"], "revoked", "{entry}");
    // The lease is over (Vault's "invalid lease"), and lookup says why.
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(s, 400, "{v}");
    let reason = v["errors"][0].as_str().unwrap();
    assert!(
        reason.starts_with(
            "invalid lease: creation never reached the target, so nothing was created"
        ),
        "{reason}"
    );
    assert!(reason.contains("Connection refused"), "{reason}");
    // Nothing is left to retry or to page anyone about.
    let (s, _) = app
        .call("LIST", "sys/leases/lookup/aws/creds/deploy/", None)
        .await;
    assert_eq!(
        s, 404,
        "a live lease remains for an issue that never reached IAM"
    );
    let (s, v) = app.get("sys/leases?type=irrevocable").await;
    assert_eq!(s, 200, "{v}");
    assert!(!v.to_string().contains(&lease_id), "{v}");
    // And IAM really holds no user made by this mount.
    assert_eq!(users_for(&moto, "deploy").await, Vec::<String>::new());
}

#[tokio::test]
async fn an_issue_iam_refuses_is_rolled_back_and_its_lease_ends() {
    let moto = Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    aws_mount(&app, &moto).await;
    let log = app.audit_to_file().await;
    // CreateUser succeeds, then AttachUserPolicy is refused: the user exists for a moment.
    app.ok(
        "aws/roles/broken",
        json!({
            "credential_type": "iam_user",
            "policy_arns": ["arn:aws:iam::123456789012:policy/no-such-policy"],
        }),
    )
    .await;
    let (s, v) = app.get("aws/creds/broken").await;
    assert_eq!(s, 400, "{v}");
    let error = v["errors"][0].as_str().unwrap();
    assert!(error.contains("iam:AttachUserPolicy"), "{error}");
    assert!(!error.contains("{ "), "{error}");
    let (lease_id, _) = failed_lease_id(&log).await;
    // The destruction after the failed create finds the user gone (NoSuchEntity): done.
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(s, 400, "{v}");
    let reason = v["errors"][0].as_str().unwrap();
    assert!(
        reason.starts_with("invalid lease: creation failed: iam:AttachUserPolicy"),
        "{reason}"
    );
    assert_eq!(users_for(&moto, "broken").await, Vec::<String>::new());
}

/// IAM users whose generated name carries `role`.
async fn users_for(moto: &Moto, role: &str) -> Vec<String> {
    let iam = moto.iam(&moto.root).await;
    let users = iam.list_users().send().await.unwrap();
    users
        .users()
        .iter()
        .map(|u| u.user_name().to_owned())
        .filter(|n| n.contains(role))
        .collect()
}

/// IAM users on the moto server, by name.
async fn iam_users(moto: &Moto) -> Vec<String> {
    let iam = moto.iam(&moto.root).await;
    let out = iam.list_users().send().await.unwrap();
    out.users()
        .iter()
        .map(|u| u.user_name().to_owned())
        .collect()
}

#[tokio::test]
async fn an_aws_role_with_an_approval_tier_creates_no_user_until_collected() {
    let moto = Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    aws_mount(&app, &moto).await;
    app.ok(
        "sys/approval/tiers/cloud",
        json!({"factors": [{"policies": ["approver"]}]}),
    )
    .await;
    app.ok(
        "sys/policies/acl/approver",
        json!({"policy": "path \"sys/control-group/*\" { capabilities = [\"update\"] }"}),
    )
    .await;
    app.ok("aws/roles/deploy", json!({"approval_tier": "cloud"}))
        .await;
    let (_, role) = app.get("aws/roles/deploy").await;
    assert_eq!(role["data"]["approval_tier"], "cloud");
    let before = iam_users(&moto).await;

    // Root's children could not approve root's request (a token below the requester is the
    // requester): the request comes from a token of its own.
    app.ok(
        "sys/policies/acl/deployer",
        json!({"policy": "path \"aws/creds/deploy\" { capabilities = [\"read\"] }"}),
    )
    .await;
    let (s, v) = app
        .put("auth/token/create", json!({"policies": ["deployer"]}))
        .await;
    assert_eq!(s, 200, "{v}");
    let requester = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, v) = app
        .call_as(
            "GET",
            "aws/creds/deploy?purpose=deploy%2042",
            None,
            Some(&requester),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lease_id"], "", "{v}");
    let wrapping = v["wrap_info"]["token"].as_str().unwrap().to_owned();
    let accessor = v["wrap_info"]["accessor"].as_str().unwrap().to_owned();
    assert_eq!(
        iam_users(&moto).await,
        before,
        "a held request created an IAM user"
    );

    let (s, v) = app
        .put("auth/token/create", json!({"policies": ["approver"]}))
        .await;
    assert_eq!(s, 200, "{v}");
    let approver = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, v) = app
        .call_as(
            "POST",
            "sys/control-group/authorize",
            Some(json!({ "accessor": accessor })),
            Some(&approver),
        )
        .await;
    assert_eq!(
        (s.as_u16(), &v["data"]["approved"]),
        (200, &json!(true)),
        "{v}"
    );
    let (s, v) = app
        .put("sys/wrapping/unwrap", json!({ "token": wrapping }))
        .await;
    assert_eq!(s, 200, "{v}");
    let lease_id = v["lease_id"].as_str().unwrap().to_owned();
    assert!(lease_id.starts_with("aws/creds/deploy/"), "{lease_id}");
    let keys = Keys::new(
        v["data"]["access_key"].as_str().unwrap(),
        v["data"]["secret_key"].as_str().unwrap(),
    );
    moto.caller_arn(&keys)
        .await
        .expect("collected key must work");
    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204);
    wait_rejected(&moto, &keys, Duration::from_secs(10)).await;
}
