//! Workload identity: a CI system's JWT (keys from a local JWKS endpoint) or an AppRole secret is
//! exchanged for a token, and everything a workload obtained is revoked in one call.

use serde_json::{json, Value};

use crate::app::{approle_login, PgTarget, TestApp};
use crate::jwt_testing::{JwksServer, RSA1, RSA2};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(overrides: Value) -> Value {
    let mut c = json!({
        "iss": "https://ci.example", "aud": "leasehold", "sub": "repo:org/app:ref:main",
        "repo": "org/app", "iat": now(), "nbf": now(), "exp": now() + 300,
    });
    if let (Some(c), Some(o)) = (c.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

async fn jwt_mount(app: &TestApp, jwks: &JwksServer) {
    let (s, v) = app.put("sys/auth/jwt", json!({"type": "jwt"})).await;
    assert_eq!(s, 204, "{v}");
    app.ok(
        "auth/jwt/config",
        json!({"jwks_url": jwks.url(), "bound_issuer": "https://ci.example"}),
    )
    .await;
    app.ok(
        "sys/policies/acl/deploy",
        json!({"policy": r#"path "database/creds/ci" { capabilities = ["read"] }"#}),
    )
    .await;
    app.ok(
        "auth/jwt/role/deploy",
        json!({
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["leasehold"],
            "bound_claims": {"repo": "org/app"}, "token_policies": ["deploy"], "token_ttl": "10m",
        }),
    )
    .await;
}

async fn login(app: &TestApp, jwt: &str) -> (reqwest::StatusCode, Value) {
    app.call_as(
        "POST",
        "auth/jwt/login",
        Some(json!({"role": "deploy", "jwt": jwt})),
        None,
    )
    .await
}

#[tokio::test]
async fn a_ci_jwt_logs_in_and_bad_ones_are_refused() {
    let app = TestApp::spawn().await;
    let jwks = JwksServer::start(json!({"keys": [RSA1.jwk("k1")]})).await;
    jwt_mount(&app, &jwks).await;

    let (s, v) = login(&app, &RSA1.sign(Some("k1"), &claims(json!({})))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["auth"]["lease_duration"], 600);
    assert_eq!(v["auth"]["orphan"], true);
    assert_eq!(v["auth"]["metadata"]["role"], "deploy");
    assert!(v["auth"]["policies"]
        .as_array()
        .unwrap()
        .contains(&json!("deploy")));
    let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, v) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&token))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["data"]["workload"],
        "auth/jwt/role/deploy/sub/repo:org/app:ref:main"
    );
    assert_eq!(v["data"]["display_name"], "jwt-repo:org/app:ref:main");

    for (what, jwt) in [
        (
            "wrong audience",
            RSA1.sign(Some("k1"), &claims(json!({"aud": "someone-else"}))),
        ),
        (
            "wrong issuer",
            RSA1.sign(Some("k1"), &claims(json!({"iss": "https://evil.example"}))),
        ),
        (
            "expired",
            RSA1.sign(
                Some("k1"),
                &claims(json!({"exp": now() - 3600, "iat": now() - 7200, "nbf": now() - 7200})),
            ),
        ),
        (
            "bound claim",
            RSA1.sign(Some("k1"), &claims(json!({"repo": "org/other"}))),
        ),
        ("unknown key", RSA2.sign(Some("k2"), &claims(json!({})))),
    ] {
        let (s, v) = login(&app, &jwt).await;
        assert_eq!(s, 400, "{what} must be refused: {v}");
        assert!(!v["errors"][0].as_str().unwrap().is_empty());
    }
    let (s, v) = app
        .call_as(
            "POST",
            "auth/jwt/login",
            Some(json!({"role": "nope", "jwt": "x"})),
            None,
        )
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn revoking_a_workload_destroys_exactly_its_accounts() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "ci", "1h", "2h").await;
    let jwks = JwksServer::start(json!({"keys": [RSA1.jwk("k1")]})).await;
    jwt_mount(&app, &jwks).await;

    // Two subjects of the role log in; the pipeline for `main` is the compromised one.
    let main = login(&app, &RSA1.sign(Some("k1"), &claims(json!({}))))
        .await
        .1["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = login(
        &app,
        &RSA1.sign(Some("k1"), &claims(json!({"sub": "repo:org/app:ref:dev"}))),
    )
    .await
    .1["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let issue = |token: String| {
        let app = &app;
        async move {
            let (s, v) = app
                .call_as("GET", "database/creds/ci", None, Some(&token))
                .await;
            assert_eq!(s, 200, "{v}");
            v["data"]["username"].as_str().unwrap().to_owned()
        }
    };
    let bad1 = issue(main.clone()).await;
    let bad2 = issue(main.clone()).await;
    let good = issue(other.clone()).await;
    let (s, v) = app.get("database/creds/ci").await;
    assert_eq!(s, 200);
    let roots = v["data"]["username"].as_str().unwrap().to_owned();

    let (s, v) = app
        .put(
            "sys/leases/revoke-workload",
            json!({"workload": "auth/jwt/role/deploy/sub/repo:org/app:ref:main"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["revoked_tokens"], 1);
    assert_eq!(v["data"]["revoked_leases"], 2);
    let accounts: Vec<&str> = v["data"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["account"].as_str().unwrap())
        .collect();
    assert!(accounts.contains(&bad1.as_str()) && accounts.contains(&bad2.as_str()));
    assert!(!pg.role_exists(&bad1).await && !pg.role_exists(&bad2).await);
    assert!(
        pg.role_exists(&good).await,
        "another subject's account was destroyed"
    );
    assert!(
        pg.role_exists(&roots).await,
        "an unrelated account was destroyed"
    );
    let (s, _) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&main))
        .await;
    assert_eq!(s, 403);

    // The whole role: the other subject goes too, the root-issued account stays.
    let (s, v) = app
        .put(
            "sys/leases/revoke-workload",
            json!({"workload": "auth/jwt/role/deploy"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(!pg.role_exists(&good).await);
    assert!(pg.role_exists(&roots).await);
}

#[tokio::test]
async fn approle_secret_ids_are_use_limited_and_the_workload_is_revocable_across_targets() {
    let moto = crate::moto::Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "etl", "1h", "2h").await;
    // An AWS mount on moto with authentication enforced.
    app.ok("sys/mounts/aws", json!({"type": "aws"})).await;
    app.ok(
        "aws/config/root",
        json!({"access_key": moto.root.access_key, "secret_key": moto.root.secret_key, "region": "us-east-1",
               "iam_endpoint": moto.endpoint, "sts_endpoint": moto.endpoint}),
    )
    .await;
    app.ok(
        "aws/roles/etl",
        json!({"credential_type": "iam_user", "policy_document": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}}),
    )
    .await;
    app.ok(
        "sys/policies/acl/etl",
        json!({"policy": r#"path "database/creds/etl" { capabilities = ["read"] }
                            path "aws/creds/etl" { capabilities = ["read"] }"#}),
    )
    .await;
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    app.ok(
        "auth/approle/role/ci",
        json!({"token_policies": "etl", "secret_id_num_uses": 2, "token_ttl": "10m"}),
    )
    .await;
    let role_id = app.get("auth/approle/role/ci/role-id").await.1["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = app.put("auth/approle/role/ci/secret-id", json!({})).await.1["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let login = || {
        let (app, role_id, secret) = (&app, role_id.clone(), secret.clone());
        async move {
            app.call_as(
                "POST",
                "auth/approle/login",
                Some(json!({"role_id": role_id, "secret_id": secret})),
                None,
            )
            .await
        }
    };
    let (s, v) = login().await;
    assert_eq!(s, 200, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(v["auth"]["metadata"]["role_name"], "ci");
    let (s, _) = login().await;
    assert_eq!(s, 200);
    let (s, v) = login().await;
    assert_eq!(s, 400, "a secret id with 2 uses allowed a third login: {v}");
    let (s, _) = app
        .call_as(
            "POST",
            "auth/approle/login",
            Some(json!({"role_id": role_id, "secret_id": "wrong"})),
            None,
        )
        .await;
    assert_eq!(s, 400);

    // The workload obtains a database role and an IAM user; someone else holds one of each too.
    let (s, v) = app
        .call_as("GET", "database/creds/etl", None, Some(&token))
        .await;
    assert_eq!(s, 200, "{v}");
    let db_user = v["data"]["username"].as_str().unwrap().to_owned();
    let (s, v) = app
        .call_as("GET", "aws/creds/etl", None, Some(&token))
        .await;
    assert_eq!(s, 200, "{v}");
    let key = crate::moto::Keys::new(
        v["data"]["access_key"].as_str().unwrap(),
        v["data"]["secret_key"].as_str().unwrap(),
    );
    let others_db = app.get("database/creds/etl").await.1["data"]["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = app.get("aws/creds/etl").await.1;
    let others_key = crate::moto::Keys::new(
        v["data"]["access_key"].as_str().unwrap(),
        v["data"]["secret_key"].as_str().unwrap(),
    );
    assert!(moto.caller_arn(&key).await.is_ok());

    let (s, v) = app
        .put(
            "sys/leases/revoke-workload",
            json!({"workload": "auth/approle/role/ci"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["revoked_leases"], 2, "{v}");
    assert_eq!(v["data"]["failed_leases"], 0);
    assert!(
        !pg.role_exists(&db_user).await,
        "the workload's database role survived"
    );
    let err = moto
        .caller_arn(&key)
        .await
        .expect_err("the workload's AWS key still works");
    assert!(err.contains("InvalidClientTokenId"), "{err}");
    assert!(
        pg.role_exists(&others_db).await,
        "someone else's database role was destroyed"
    );
    assert!(
        moto.caller_arn(&others_key).await.is_ok(),
        "someone else's AWS key was destroyed"
    );
    let (s, _) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&token))
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn a_login_token_stops_renewing_when_its_role_is_deleted() {
    let app = TestApp::spawn().await;
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    app.ok("auth/approle/role/batch", json!({"token_ttl": "10m"}))
        .await;
    let token = approle_login(&app, "batch").await;
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/renew-self",
            Some(json!({})),
            Some(&token),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = app.call("DELETE", "auth/approle/role/batch", None).await;
    assert_eq!(s, 204);
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/renew-self",
            Some(json!({})),
            Some(&token),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["errors"][0]
        .as_str()
        .unwrap()
        .contains("no longer exists"));
}
