//! `login -method=jwt`: a CI system's JWT (keys from a local JWKS endpoint) exchanged for a
//! token that is stored in `~/.vault-token` and used by the next command; a JWT the role does
//! not accept stores nothing.

use serde_json::json;

use crate::app::{PgTarget, TestApp};
use crate::jwt_testing::{JwksServer, RSA1};
use crate::support::Cli;

#[tokio::test]
async fn a_ci_jwt_logs_in_and_the_stored_token_issues_a_credential() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "clijwt", "1h", "1h").await;
    let jwks = JwksServer::start(json!({"keys": [RSA1.jwk("k1")]})).await;
    let (s, v) = app.put("sys/auth/jwt", json!({"type": "jwt"})).await;
    assert_eq!(s, 204, "{v}");
    app.ok(
        "auth/jwt/config",
        json!({"jwks_url": jwks.url(), "bound_issuer": "https://ci.example"}),
    )
    .await;
    app.ok(
        "sys/policies/acl/clijwt",
        json!({"policy": r#"path "database/creds/clijwt" { capabilities = ["read"] }"#}),
    )
    .await;
    app.ok(
        "auth/jwt/role/deploy",
        json!({
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["leasehold"],
            "token_policies": ["clijwt"], "token_ttl": "10m",
        }),
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str| {
        json!({
            "iss": "https://ci.example", "aud": aud, "sub": "repo:org/app:ref:main",
            "iat": now, "nbf": now, "exp": now + 300,
        })
    };

    let cli = Cli::with_token(&app, None);
    let wrong = RSA1.sign(Some("k1"), &claims("someone-else"));
    let refused = cli
        .run(&[
            "login",
            "-method=jwt",
            "role=deploy",
            &format!("jwt={wrong}"),
        ])
        .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(!cli.home.path().join(".vault-token").exists());

    let jwt = RSA1.sign(Some("k1"), &claims("leasehold"));
    let login = cli
        .run(&["login", "-method=jwt", "role=deploy", &format!("jwt={jwt}")])
        .await
        .ok();
    assert!(login.stdout.contains("Success!"), "{}", login.stdout);
    let stored = std::fs::read_to_string(cli.home.path().join(".vault-token")).unwrap();
    assert!(stored.trim().starts_with("hvs."), "{stored}");
    // The next command acts as the workload: its policy issues a credential that logs in.
    let creds = cli
        .run(&["read", "-format=json", "database/creds/clijwt"])
        .await
        .ok()
        .json();
    assert!(
        pg.can_login(
            creds["data"]["username"].as_str().unwrap(),
            creds["data"]["password"].as_str().unwrap()
        )
        .await
    );
    // And nothing else.
    let denied = cli.run(&["read", "sys/policies/acl/default"]).await;
    assert_eq!(denied.code, 2, "{}", denied.stderr);
}
