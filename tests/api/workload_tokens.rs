//! `GET sys/leases/workload-tokens`: a workload's live tokens (children right below their
//! parent), nobody else's, never the token itself; revoked tokens gone; 400 without a workload;
//! sudo.

use serde_json::{json, Value};

use crate::app::{approle_login, TestApp};

async fn tokens(app: &TestApp, workload: &str) -> Vec<Value> {
    let (s, v) = app
        .get(&format!("sys/leases/workload-tokens?workload={workload}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["data"]["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("no tokens: {v}"))
        .clone()
}

async fn accessor_of(app: &TestApp, token: &str) -> String {
    let (s, v) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(token))
        .await;
    assert_eq!(s, 200, "{v}");
    v["data"]["accessor"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn lists_a_workloads_live_tokens_as_a_tree() {
    let app = TestApp::spawn().await;
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    app.ok(
        "sys/policies/acl/wl",
        json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"}),
    )
    .await;
    app.ok("auth/approle/role/ci", json!({"token_policies": "wl"}))
        .await;
    app.ok("auth/approle/role/ci-2", json!({"token_policies": "wl"}))
        .await;
    let first = approle_login(&app, "ci").await;
    let second = approle_login(&app, "ci").await;
    let other = approle_login(&app, "ci-2").await;
    let (s, v) = app
        .call_as("POST", "auth/token/create", Some(json!({})), Some(&first))
        .await;
    assert_eq!(s, 200, "{v}");
    let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let (a_first, a_second, a_other, a_child) = (
        accessor_of(&app, &first).await,
        accessor_of(&app, &second).await,
        accessor_of(&app, &other).await,
        accessor_of(&app, &child).await,
    );

    let listed = tokens(&app, "auth/approle/role/ci").await;
    let accessors: Vec<&str> = listed
        .iter()
        .map(|t| t["accessor"].as_str().unwrap())
        .collect();
    assert_eq!(
        accessors,
        vec![a_first.as_str(), a_child.as_str(), a_second.as_str()],
        "the child right below its parent, ci-2's token not listed: {listed:?}"
    );
    let text = serde_json::to_string(&listed).unwrap();
    for secret in [&first, &second, &child, &other] {
        assert!(!text.contains(secret.as_str()), "a token leaked: {text}");
    }
    assert_eq!(listed[0]["children"], 1);
    assert_eq!(listed[0]["depth"], 0);
    assert_eq!(listed[1]["parent"], a_first.as_str());
    assert_eq!(listed[1]["children"], 0);
    assert_eq!(listed[1]["depth"], 1);
    assert_eq!(listed[2]["children"], 0);
    for t in &listed {
        assert!(
            t["policies"].as_array().unwrap().contains(&json!("wl")),
            "{t}"
        );
        assert!(t["creation_time"].is_string(), "{t}");
        assert!(t["expire_time"].is_string(), "{t}");
        assert!(t["display_name"].is_string(), "{t}");
    }
    // ci-2 is a sibling, not below ci; it has its own listing.
    let theirs = tokens(&app, "auth/approle/role/ci-2").await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["accessor"], a_other.as_str());
    // Everything below auth/approle.
    assert_eq!(tokens(&app, "auth/approle").await.len(), 4);

    // Revoking the first login takes its child with it.
    app.ok(
        "auth/token/revoke-accessor",
        json!({"accessor": a_first.as_str()}),
    )
    .await;
    let listed = tokens(&app, "auth/approle/role/ci").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["accessor"], a_second.as_str());

    for bad in [
        "sys/leases/workload-tokens",
        "sys/leases/workload-tokens?workload=",
        "sys/leases/workload-tokens?workload=/",
        "sys/leases/workload-tokens?workload=x&limit=3",
    ] {
        let (s, v) = app.get(bad).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

#[tokio::test]
async fn workload_tokens_need_sudo() {
    let app = TestApp::spawn().await;
    let (plain, sudo) = app
        .sudo_pair("sys/leases/workload-tokens", "\"read\"")
        .await;
    for (name, t, expect) in [("without sudo", plain, 403), ("with sudo", sudo, 200)] {
        let (s, v) = app
            .call_as(
                "GET",
                "sys/leases/workload-tokens?workload=auth/approle/role/ci",
                None,
                Some(&t),
            )
            .await;
        assert_eq!(s.as_u16(), expect, "{name}: {v}");
    }
}
