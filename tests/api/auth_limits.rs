//! The limits an auth method puts on a login hold however the logins arrive: an AppRole secret
//! id's `num_uses` across two servers sharing one PostgreSQL storage, and a JWT's validity
//! window (`exp` required, the role's leeways, `max_age`). A refused login must mint nothing,
//! so each refusal is checked against the list of token accessors, not only its status.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::TestApp;
use crate::jwt_testing::{JwksServer, RSA1};

#[tokio::test]
async fn approle_num_uses_holds_across_two_servers_on_one_storage() {
    let (a, b) = TestApp::pair_on_shared_storage().await;
    a.ok("sys/auth/approle", json!({"type": "approle"})).await;
    a.ok("auth/approle/role/ci", json!({"token_ttl": "10m"}))
        .await;
    // Both servers serve the mount: b learns of it from the shared storage's change feed.
    let mut role_id = None;
    for _ in 0..100 {
        let (s, v) = b.get("auth/approle/role/ci/role-id").await;
        if s == 200 {
            role_id = v["data"]["role_id"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let role_id = role_id.expect("the second server never saw the approle mount");

    for (num_uses, trial) in [1, 1, 1, 1, 1, 3, 3, 3].into_iter().zip(0..) {
        let (s, v) = a
            .put(
                "auth/approle/role/ci/secret-id",
                json!({"num_uses": num_uses}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let secret = v["data"]["secret_id"].as_str().unwrap().to_owned();
        let body = json!({"role_id": role_id, "secret_id": secret});
        let logins: Vec<_> = (0..12)
            .map(|i| {
                let server = Arc::clone(if i % 2 == 0 { &a } else { &b });
                let body = body.clone();
                tokio::spawn(async move {
                    server
                        .call_as("POST", "auth/approle/login", Some(body), None)
                        .await
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for login in logins {
            let (s, v) = login.await.unwrap();
            match s.as_u16() {
                200 => tokens.push(v["auth"]["client_token"].as_str().unwrap().to_owned()),
                400 => assert_eq!(v["errors"][0], "invalid role or secret ID", "{v}"),
                _ => panic!("unexpected answer {s}: {v}"),
            }
        }
        assert_eq!(
            tokens.len(),
            num_uses,
            "trial {trial}: a secret id with {num_uses} uses gave {} logins across two servers",
            tokens.len()
        );
        // The logins that won got working tokens; the secret id is gone on both servers.
        for token in &tokens {
            let (s, v) = b
                .call_as("GET", "auth/token/lookup-self", None, Some(token))
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["data"]["meta"]["role_name"], "ci");
        }
        for server in [&a, &b] {
            let (s, v) = server
                .put(
                    "auth/approle/role/ci/secret-id/lookup",
                    json!({"secret_id": secret}),
                )
                .await;
            assert_eq!(s, 204, "used-up secret id still found: {v}");
            let (s, v) = server
                .call_as("POST", "auth/approle/login", Some(body.clone()), None)
                .await;
            assert_eq!(s, 400, "{v}");
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims the `deploy` role accepts, with `changes` applied (`null` removes a claim).
fn claims(changes: Value) -> Value {
    let mut c = json!({
        "iss": "https://ci.example", "aud": "leasehold", "sub": "repo:org/app:ref:main",
        "iat": now(), "nbf": now(), "exp": now() + 300,
    });
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// Every token accessor the server holds.
async fn accessors(app: &TestApp) -> Vec<Value> {
    let (s, v) = app.call("LIST", "auth/token/accessors", None).await;
    assert_eq!(s, 200, "{v}");
    v["data"]["keys"].as_array().unwrap().clone()
}

async fn jwt_login(app: &TestApp, role: &str, claims: &Value) -> (reqwest::StatusCode, Value) {
    let jwt = RSA1.sign(Some("k1"), claims);
    app.call_as(
        "POST",
        "auth/jwt/login",
        Some(json!({"role": role, "jwt": jwt})),
        None,
    )
    .await
}

#[tokio::test]
async fn jwt_login_refuses_tokens_outside_their_validity_window_and_mints_nothing() {
    let app = TestApp::spawn().await;
    let jwks = JwksServer::start(json!({"keys": [RSA1.jwk("k1")]})).await;
    app.ok("sys/auth/jwt", json!({"type": "jwt"})).await;
    app.ok(
        "auth/jwt/config",
        json!({"jwks_url": jwks.url(), "bound_issuer": "https://ci.example"}),
    )
    .await;
    let role = json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "leasehold"});
    app.ok("auth/jwt/role/deploy", role.clone()).await;
    let mut fresh = role;
    fresh["max_age"] = json!("1h");
    app.ok("auth/jwt/role/fresh", fresh).await;
    // Vault's names and defaults on read.
    let (s, v) = app.get("auth/jwt/role/fresh").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["max_age"], 3600);
    assert_eq!(v["data"]["expiration_leeway"], 150);
    assert_eq!(v["data"]["not_before_leeway"], 150);
    assert_eq!(v["data"]["clock_skew_leeway"], 60);
    for bad in [
        json!({"max_age": -1}),
        json!({"expiration_leeway": "later"}),
    ] {
        let (s, v) = app.put("auth/jwt/role/fresh", bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
    assert_eq!(
        app.get("auth/jwt/role/fresh").await.1["data"]["max_age"],
        3600
    );

    let before = accessors(&app).await;
    let day = 86_400;
    for (what, role, token, error) in [
        (
            "no exp, iat 30 days ago",
            "deploy",
            claims(json!({"exp": null, "nbf": null, "iat": now() - 30 * day})),
            "token has no expiration time (exp)",
        ),
        (
            "no time claims at all",
            "deploy",
            claims(json!({"exp": null, "nbf": null, "iat": null})),
            "token has no expiration time (exp)",
        ),
        (
            "exp 10 minutes ago (leeway 150 s + skew 60 s)",
            "deploy",
            claims(json!({"exp": now() - 600, "iat": now() - 900, "nbf": now() - 900})),
            "token is expired (exp)",
        ),
        (
            "nbf 10 minutes ahead",
            "deploy",
            claims(json!({"nbf": now() + 600, "exp": now() + 900})),
            "token is not valid yet (nbf)",
        ),
        (
            "iat 5 minutes ahead (skew 60 s)",
            "deploy",
            claims(json!({"iat": now() + 300})),
            "token was issued in the future (iat)",
        ),
        (
            "auth_time 2 hours ago, max_age 1 h",
            "fresh",
            claims(json!({"auth_time": now() - 7200})),
            "authentication is older than the role's max_age (auth_time)",
        ),
        (
            "no auth_time, max_age set",
            "fresh",
            claims(json!({})),
            "token has no auth_time, which the role's max_age requires",
        ),
    ] {
        let (s, v) = jwt_login(&app, role, &token).await;
        assert_eq!(s, 400, "{what} must be refused: {v}");
        assert_eq!(
            v["errors"][0],
            format!("error validating token: {error}"),
            "{what}"
        );
        assert!(v.get("auth").is_none_or(Value::is_null), "{what}: {v}");
        assert_eq!(accessors(&app).await, before, "{what}: a token was minted");
    }

    // Inside the leeways: exp 100 s ago, nbf 100 s ahead, a recent auth_time. Each gets a token
    // that works, and nothing else is minted.
    for (role, token) in [
        (
            "deploy",
            claims(json!({"exp": now() - 100, "iat": now() - 400, "nbf": now() - 400})),
        ),
        ("deploy", claims(json!({"nbf": now() + 100, "iat": null}))),
        ("fresh", claims(json!({"auth_time": now() - 1800}))),
    ] {
        let (s, v) = jwt_login(&app, role, &token).await;
        assert_eq!(s, 200, "{token}: {v}");
        let client_token = v["auth"]["client_token"].as_str().unwrap().to_owned();
        let accessor = v["auth"]["accessor"].clone();
        let (s, v) = app
            .call_as("GET", "auth/token/lookup-self", None, Some(&client_token))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["data"]["meta"]["role"], role);
        let after = accessors(&app).await;
        assert_eq!(after.len(), before.len() + 1);
        assert!(after.contains(&accessor));
        let (s, v) = app
            .call_as("POST", "auth/token/revoke-self", None, Some(&client_token))
            .await;
        assert!(s.is_success(), "{v}");
        assert_eq!(accessors(&app).await, before);
    }
}
