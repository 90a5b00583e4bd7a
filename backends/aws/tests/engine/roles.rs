//! `roles/` and the engine's request handling, without AWS.

use crate::without_marker;
use leasehold_backend::{BackendError, Operation};
use serde_json::json;

use crate::support::engine::Engine;

#[tokio::test]
async fn roles_are_written_read_listed_and_deleted() {
    let engine = Engine::offline();
    assert!(engine
        .call(Operation::List, "roles", json!({}))
        .await
        .unwrap()
        .is_none());
    engine
        .write(
            "roles/deploy",
            json!({
                "credential_type": "iam_user",
                "policy_document": {"Version": "2012-10-17", "Statement": []},
                "iam_tags": {"team": "core"},
            }),
        )
        .await
        .unwrap();
    engine
        .write("roles/ci", json!({"credential_type": "assumed_role", "role_arns": ["arn:aws:iam::123456789012:role/ci"]}))
        .await
        .unwrap();

    let role = engine.read("roles/deploy").await.unwrap().unwrap();
    assert_eq!(role["credential_type"], "iam_user");
    assert_eq!(
        role["policy_document"],
        r#"{"Statement":[],"Version":"2012-10-17"}"#
    );
    assert_eq!(role["iam_tags"], json!({"team": "core"}));
    assert_eq!(role["user_path"], "/");
    assert_eq!(role["max_sts_ttl"], 0);

    let listed = engine
        .call(Operation::List, "roles", json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.data.unwrap()["keys"], json!(["ci", "deploy"]));

    engine
        .call(Operation::Delete, "roles/deploy", json!({}))
        .await
        .unwrap();
    assert!(engine.read("roles/deploy").await.unwrap().is_none());
}

#[tokio::test]
async fn invalid_roles_are_400_naming_each_field() {
    let engine = Engine::offline();
    let err = engine
        .write(
            "roles/bad",
            json!({
                "credential_type": "federation_token",
                "policy_document": "{nope",
                "role_arns": "arn:aws:iam::123456789012:role/x",
                "permissions_boundary_arn": "boundary",
            }),
        )
        .await
        .unwrap_err();
    let BackendError::InvalidRequest(text) = err else {
        panic!("not a 400: {err:?}")
    };
    assert!(
        text.starts_with("error(s) validating supplied role data"),
        "{text}"
    );
    for field in [
        "policy_document: cannot parse policy document",
        "role_arns:",
        "permissions_boundary_arn:",
    ] {
        assert!(text.contains(field), "{field} missing in {text}");
    }
    assert!(engine.read("roles/bad").await.unwrap().is_none());
}

#[tokio::test]
async fn creds_for_an_unknown_role_is_400() {
    let engine = Engine::offline();
    let err = engine.plan("creds/ghost", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::InvalidRequest(t) if t == r#"Role "ghost" not found"#),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_paths_operations_and_fields() {
    let engine = Engine::offline();
    assert!(matches!(
        engine.read("nope/x").await,
        Err(BackendError::UnsupportedPath)
    ));
    assert!(matches!(
        engine.call(Operation::Delete, "creds/x", json!({})).await,
        Err(BackendError::UnsupportedOperation)
    ));
    let answer = engine
        .write(
            "roles/w",
            json!({"credential_type": "session_token", "colour": "blue"}),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [colour]"]
    );
}

#[tokio::test]
async fn planning_an_iam_user_calls_nothing_and_follows_config_lease() {
    // No moto and no config/root: planning must not need AWS at all.
    let engine = Engine::offline();
    engine
        .write("config/lease", json!({"lease": "1h", "lease_max": "2h"}))
        .await
        .unwrap();
    engine
        .write(
            "roles/deploy",
            json!({"credential_type": "iam_user", "iam_groups": "a,b"}),
        )
        .await
        .unwrap();
    let planned = engine.plan("creds/deploy", json!({})).await.unwrap();
    assert_eq!(planned.kind, "iam_user");
    assert!(planned.renewable);
    assert_eq!(planned.ttl.as_secs(), 3600);
    assert_eq!(planned.max_ttl.as_secs(), 7200);
    assert!(
        without_marker(&planned.account).starts_with("root-deploy-"),
        "{}",
        planned.account
    );
    assert!(planned.account.len() <= 64);
    assert_eq!(planned.internal["user_name"], planned.account.as_str());
    assert_eq!(planned.internal["groups"], json!(["a", "b"]));
    assert_eq!(planned.internal["access_key_ids"], json!([]));
}

#[tokio::test]
async fn sts_plans_are_not_renewable_and_ttl_is_capped() {
    let engine = Engine::offline();
    engine
        .write(
            "roles/assume",
            json!({
                "credential_type": "assumed_role",
                "role_arns": ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"],
                "default_sts_ttl": "30m",
                "max_sts_ttl": "1h",
            }),
        )
        .await
        .unwrap();
    let planned = engine
        .plan(
            "sts/assume",
            json!({"role_arn": "arn:aws:iam::123456789012:role/b"}),
        )
        .await
        .unwrap();
    assert!(!planned.renewable);
    assert_eq!(planned.kind, "assumed_role");
    assert_eq!(planned.ttl.as_secs(), 1800);
    let capped = engine
        .plan(
            "creds/assume",
            json!({"role_arn": "arn:aws:iam::123456789012:role/a", "ttl": "5h"}),
        )
        .await
        .unwrap();
    assert_eq!(capped.ttl.as_secs(), 3600);

    for (fields, needle) in [
        (json!({}), "unable to determine one"),
        (
            json!({"role_arn": "arn:aws:iam::123456789012:role/c"}),
            "role_arn",
        ),
        (
            json!({"role_arn": "arn:aws:iam::123456789012:role/a", "ttl": "60s"}),
            "ttl",
        ),
    ] {
        let err = engine.plan("sts/assume", fields).await.unwrap_err();
        assert!(
            matches!(&err, BackendError::InvalidRequest(t) if t.contains(needle)),
            "{err:?}"
        );
    }
}
