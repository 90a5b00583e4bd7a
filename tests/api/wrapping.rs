//! Response wrapping: a wrapped secret is never in the wrapped answer, unwraps exactly once,
//! and the wrapping token is good for nothing else; expiry removes what it guarded; lookup,
//! rewrap and wrap as Vault's; policies' wrapping TTL bounds hold; bad headers are refused
//! before anything is issued.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::app::{PgTarget, TestApp};

const INVALID: &str = "wrapping token is not valid or does not exist";

/// A request with extra headers: `(status, json or Null)`.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = format!("http://{}/v1/{path}", app.addr);
    let mut req = reqwest::Client::new()
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, value)
}

/// `method path` as root with `X-Vault-Wrap-TTL: ttl`.
async fn wrapped(
    app: &TestApp,
    method: &str,
    path: &str,
    ttl: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    send(
        app,
        method,
        path,
        Some(&app.token),
        &[("X-Vault-Wrap-TTL", ttl)],
        body,
    )
    .await
}

/// The wrapping token of a wrapped answer, after checking the answer carries nothing else.
fn wrapping_token(v: &Value) -> String {
    for key in ["request_id", "lease_id", "mount_type"] {
        assert_eq!(v[key], "", "{key} in a wrapped answer: {v}");
    }
    assert_eq!(v["renewable"], false);
    assert_eq!(v["lease_duration"], 0);
    for key in ["data", "auth", "warnings"] {
        assert!(v[key].is_null(), "{key} in a wrapped answer: {v}");
    }
    let token = v["wrap_info"]["token"].as_str().unwrap();
    assert!(token.starts_with("hvs."), "{v}");
    assert!(!v["wrap_info"]["accessor"].as_str().unwrap().is_empty());
    chrono::DateTime::parse_from_rfc3339(v["wrap_info"]["creation_time"].as_str().unwrap())
        .unwrap();
    token.to_owned()
}

/// Unwrap with the wrapping token as the caller's token.
async fn unwrap_as(app: &TestApp, wrapping: &str) -> (StatusCode, Value) {
    send(app, "PUT", "sys/wrapping/unwrap", Some(wrapping), &[], None).await
}

fn assert_invalid(status: StatusCode, v: &Value) {
    assert_eq!(
        (status.as_u16(), v["errors"][0].as_str()),
        (400, Some(INVALID)),
        "{v}"
    );
}

#[tokio::test]
async fn a_wrapped_database_credential_unwraps_once_and_the_audit_log_shows_it_wrapped() {
    let app = TestApp::spawn().await;
    let log = app.dir.path().join("audit.log");
    app.ok(
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "wrapped", "1h", "2h").await;

    let (s, v) = wrapped(&app, "GET", "database/creds/wrapped", "5m", None).await;
    assert_eq!(s, 200, "{v}");
    let token = wrapping_token(&v);
    assert_eq!(v["wrap_info"]["ttl"], 300);
    assert_eq!(v["wrap_info"]["creation_path"], "database/creds/wrapped");
    assert!(v["wrap_info"].get("wrapped_accessor").is_none(), "{v}");
    // The account exists, but its name and password were not in the answer.
    let roles = pg.roles_for("wrapped").await;
    assert_eq!(roles.len(), 1);
    assert!(!v.to_string().contains(&roles[0]));

    let (s, inner) = unwrap_as(&app, &token).await;
    assert_eq!(s, 200, "{inner}");
    let user = inner["data"]["username"].as_str().unwrap();
    let password = inner["data"]["password"].as_str().unwrap();
    assert_eq!(user, roles[0]);
    assert!(
        pg.can_login(user, password).await,
        "the unwrapped credential logs in"
    );
    let lease_id = inner["lease_id"].as_str().unwrap();
    assert!(lease_id.starts_with("database/creds/wrapped/"), "{inner}");
    assert_eq!(inner["lease_duration"], 3600);
    assert_eq!(inner["mount_type"], "database");
    assert!(!inner["request_id"].as_str().unwrap().is_empty());
    let (s, _) = app.lookup(lease_id).await;
    assert_eq!(
        s, 200,
        "the lease is live and belongs to the caller, not the wrapping token"
    );

    // Looked up without a token: still on the record, with the wrapping token hashed.
    let (s, looked) = app
        .call_as(
            "PUT",
            "sys/wrapping/lookup",
            Some(json!({"token": token})),
            None,
        )
        .await;
    assert_eq!(
        s, 400,
        "a used wrapping token has nothing to look up: {looked}"
    );

    // Used: neither the wrapping token itself nor anyone naming it gets the response again.
    let (s, again) = unwrap_as(&app, &token).await;
    assert_invalid(s, &again);
    let (s, again) = app
        .put("sys/wrapping/unwrap", json!({"token": token}))
        .await;
    assert_invalid(s, &again);
    assert!(
        pg.can_login(user, password).await,
        "a failed unwrap does not end the lease"
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(password), "the password is in the audit log");
    assert!(
        !text.contains(&token),
        "the wrapping token is in the audit log"
    );
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let issue = entries
        .iter()
        .find(|e| e["type"] == "response" && e["request"]["path"] == "database/creds/wrapped")
        .unwrap();
    assert_eq!(issue["request"]["wrap_ttl"], 300);
    let lookup = entries
        .iter()
        .find(|e| e["type"] == "request" && e["request"]["path"] == "sys/wrapping/lookup")
        .expect("sys/wrapping/lookup is audited");
    assert!(lookup["request"]["data"]["token"]
        .as_str()
        .unwrap()
        .starts_with("hmac-sha256:"));
    let (_, hashed) = app
        .put("sys/audit-hash/file", json!({"input": token}))
        .await;
    assert_eq!(
        issue["response"]["wrap_info"]["token"],
        hashed["data"]["hash"]
    );
    assert_eq!(
        issue["response"]["wrap_info"]["accessor"],
        v["wrap_info"]["accessor"]
    );
    assert_eq!(issue["response"]["lease_id"], "");
    assert!(!issue["response"]["data"].to_string().contains(user));
    // The unwrap's own response entry holds the credential, HMAC'd like any other.
    let (_, hashed) = app
        .put("sys/audit-hash/file", json!({"input": password}))
        .await;
    assert!(entries.iter().any(|e| e["type"] == "response"
        && e["request"]["path"] == "sys/wrapping/unwrap"
        && e["response"]["data"]["password"] == hashed["data"]["hash"]));
}

#[tokio::test]
async fn a_wrapped_token_works_after_unwrap_and_the_wrapping_token_does_nothing_else() {
    let app = TestApp::spawn().await;
    let (s, v) = wrapped(
        &app,
        "PUT",
        "auth/token/create",
        "2m",
        Some(json!({"ttl": "1h", "policies": ["default"]})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let wrapping = wrapping_token(&v);
    let wrapped_accessor = v["wrap_info"]["wrapped_accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!wrapped_accessor.is_empty(), "{v}");
    assert_eq!(v["wrap_info"]["creation_path"], "auth/token/create");

    // The wrapping token is good for nothing but unwrapping, and trying does not burn it.
    for (method, path, body) in [
        ("GET", "auth/token/lookup-self", None),
        ("PUT", "auth/token/create", Some(json!({}))),
        ("GET", "sys/policies/acl/default", None),
        ("PUT", "sys/wrapping/rewrap", Some(json!({}))),
        ("PUT", "sys/wrapping/wrap", Some(json!({"a": "b"}))),
        ("PUT", "sys/leases/lookup", Some(json!({"lease_id": "x"}))),
    ] {
        let (s, e) = send(&app, method, path, Some(&wrapping), &[], body).await;
        assert_eq!(s, 403, "{method} {path} with the wrapping token: {e}");
    }
    let (s, e) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&wrapping))
        .await;
    assert_eq!(s, 403, "{e}");

    // Unwrapped by a third party naming it in the body (root here; `default` grants it too).
    let (s, inner) = app
        .put("sys/wrapping/unwrap", json!({"token": wrapping}))
        .await;
    assert_eq!(s, 200, "{inner}");
    let client = inner["auth"]["client_token"].as_str().unwrap();
    assert_eq!(inner["auth"]["accessor"], wrapped_accessor.as_str());
    let (s, me) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(client))
        .await;
    assert_eq!(s, 200, "the unwrapped token works: {me}");
    assert_eq!(me["data"]["accessor"], wrapped_accessor.as_str());
    let (s, e) = unwrap_as(&app, &wrapping).await;
    assert_invalid(s, &e);

    // Nobody else can make a token that passes for a wrapping token, or change its policy.
    let (s, e) = app
        .put(
            "auth/token/create",
            json!({"policies": ["response-wrapping"], "no_default_policy": true}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = app
        .put(
            "sys/policies/acl/response-wrapping",
            json!({"policy": "path \"*\" { capabilities = [\"sudo\", \"read\"] }"}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = app
        .call("DELETE", "sys/policies/acl/response-wrapping", None)
        .await;
    assert_eq!(s, 400, "{e}");
}

#[tokio::test]
async fn an_approle_secret_id_is_delivered_wrapped() {
    let app = TestApp::spawn().await;
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    app.ok("auth/approle/role/ci", json!({"token_ttl": "10m"}))
        .await;
    let role_id = app.get("auth/approle/role/ci/role-id").await.1["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = wrapped(
        &app,
        "PUT",
        "auth/approle/role/ci/secret-id",
        "120",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let wrapping = wrapping_token(&v);
    assert!(!v.to_string().contains("secret_id\""), "{v}");
    let (s, list) = app
        .call("LIST", "auth/approle/role/ci/secret-id", None)
        .await;
    assert_eq!(s, 200, "the secret id was generated: {list}");
    assert_eq!(list["data"]["keys"][0], v["wrap_info"]["wrapped_accessor"]);

    // Lookup needs no token of the caller's and leaves the wrapping token usable.
    let (s, info) = send(
        &app,
        "PUT",
        "sys/wrapping/lookup",
        None,
        &[],
        Some(json!({"token": wrapping})),
    )
    .await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["data"]["creation_ttl"], 120);
    assert_eq!(
        info["data"]["creation_path"],
        "auth/approle/role/ci/secret-id"
    );
    assert_eq!(
        info["data"]["creation_time"],
        v["wrap_info"]["creation_time"]
    );

    let (s, inner) = unwrap_as(&app, &wrapping).await;
    assert_eq!(s, 200, "{inner}");
    assert_eq!(
        inner["data"]["secret_id_accessor"],
        v["wrap_info"]["wrapped_accessor"]
    );
    let secret_id = inner["data"]["secret_id"].as_str().unwrap();
    let (s, login) = app
        .call_as(
            "PUT",
            "auth/approle/login",
            Some(json!({"role_id": role_id, "secret_id": secret_id})),
            None,
        )
        .await;
    assert_eq!(s, 200, "the unwrapped secret id logs in: {login}");
    let (s, gone) = send(
        &app,
        "PUT",
        "sys/wrapping/lookup",
        None,
        &[],
        Some(json!({"token": wrapping})),
    )
    .await;
    assert_invalid(s, &gone);

    // A login can be wrapped too (Vault Agent does this): the token is inside, not outside.
    let secret_id = app.put("auth/approle/role/ci/secret-id", json!({})).await.1["data"]
        ["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = send(
        &app,
        "PUT",
        "auth/approle/login",
        None,
        &[("X-Vault-Wrap-TTL", "1m")],
        Some(json!({"role_id": role_id, "secret_id": secret_id})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let wrapping = wrapping_token(&v);
    let (s, inner) = unwrap_as(&app, &wrapping).await;
    assert_eq!(s, 200, "{inner}");
    assert_eq!(
        inner["auth"]["accessor"],
        v["wrap_info"]["wrapped_accessor"]
    );
    let client = inner["auth"]["client_token"].as_str().unwrap();
    let (s, _) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(client))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn an_expired_wrapping_token_guards_nothing_and_what_it_held_is_deleted() {
    let app = TestApp::spawn().await;
    let (s, v) = wrapped(
        &app,
        "PUT",
        "sys/wrapping/wrap",
        "1s",
        Some(json!({"pin": "4711"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let wrapping = wrapping_token(&v);
    let kv = app.core.tokens.kv();
    assert_eq!(kv.list("wrapping/response/").await.unwrap().len(), 1);
    // The expiry worker revokes the token, and with it the stored response.
    let start = tokio::time::Instant::now();
    while !kv.list("wrapping/response/").await.unwrap().is_empty()
        || !kv.list("wrapping/info/").await.unwrap().is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "wrapped response outlived its token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, e) = unwrap_as(&app, &wrapping).await;
    assert_invalid(s, &e);
    let (s, e) = app
        .put("sys/wrapping/unwrap", json!({"token": wrapping}))
        .await;
    assert_invalid(s, &e);
    let (s, e) = app
        .put("sys/wrapping/lookup", json!({"token": wrapping}))
        .await;
    assert_invalid(s, &e);
}

#[tokio::test]
async fn wrap_lookup_and_rewrap_as_vault() {
    let app = TestApp::spawn().await;
    let (s, e) = app.put("sys/wrapping/wrap", json!({"a": "b"})).await;
    assert_eq!(
        (s.as_u16(), e["errors"][0].as_str()),
        (400, Some("endpoint requires response wrapping to be used"))
    );

    // An ordinary token: `default` lets it wrap, look up and unwrap, not rewrap.
    let (_, t) = app
        .put("auth/token/create", json!({"policies": ["default"]}))
        .await;
    let user = t["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, v) = send(
        &app,
        "PUT",
        "sys/wrapping/wrap",
        Some(&user),
        &[("X-Vault-Wrap-TTL", "10m")],
        Some(json!({"foo": "bar", "n": 7})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let first = wrapping_token(&v);
    assert_eq!(v["wrap_info"]["creation_path"], "sys/wrapping/wrap");
    let (s, info) = send(
        &app,
        "PUT",
        "sys/wrapping/lookup",
        Some(&user),
        &[],
        Some(json!({"token": first})),
    )
    .await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["data"]["creation_ttl"], 600);
    let (s, e) = send(
        &app,
        "PUT",
        "sys/wrapping/rewrap",
        Some(&user),
        &[],
        Some(json!({"token": first})),
    )
    .await;
    assert_eq!(s, 403, "{e}");

    let (s, v) = app
        .put("sys/wrapping/rewrap", json!({"token": first}))
        .await;
    assert_eq!(s, 200, "{v}");
    let second = wrapping_token(&v);
    assert_ne!(first, second);
    assert_eq!(v["wrap_info"]["ttl"], 600);
    assert_eq!(v["wrap_info"]["creation_path"], "sys/wrapping/wrap");
    let (s, e) = unwrap_as(&app, &first).await;
    assert_invalid(s, &e);
    let (s, inner) = send(
        &app,
        "PUT",
        "sys/wrapping/unwrap",
        Some(&user),
        &[],
        Some(json!({"token": second})),
    )
    .await;
    assert_eq!(s, 200, "{inner}");
    assert_eq!(inner["data"], json!({"foo": "bar", "n": 7}));
    let (s, e) = unwrap_as(&app, &second).await;
    assert_invalid(s, &e);
    // Naming a token that is no wrapping token is the same refusal, not a lookup of it.
    let (s, e) = app.put("sys/wrapping/unwrap", json!({"token": user})).await;
    assert_invalid(s, &e);
    let (s, me) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&user))
        .await;
    assert_eq!(s, 200, "naming an ordinary token does not use it up: {me}");
}

#[tokio::test]
async fn policy_wrapping_ttl_bounds_are_enforced_before_anything_is_issued() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "bounded", "1h", "2h").await;
    app.ok(
        "sys/policies/acl/bounded",
        json!({"policy": r#"path "database/creds/bounded" {
  capabilities = ["read"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "10m"
}"#}),
    )
    .await;
    let (_, t) = app
        .put("auth/token/create", json!({"policies": ["bounded"]}))
        .await;
    let token = t["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, e) = app
        .call_as("GET", "database/creds/bounded", None, Some(&token))
        .await;
    assert_eq!(s, 403, "unwrapped: {e}");
    for ttl in ["30s", "11m"] {
        let (s, e) = send(
            &app,
            "GET",
            "database/creds/bounded",
            Some(&token),
            &[("X-Vault-Wrap-TTL", ttl)],
            None,
        )
        .await;
        assert_eq!(s, 403, "wrapped for {ttl}: {e}");
    }
    assert!(
        pg.roles_for("bounded").await.is_empty(),
        "a refused request created an account"
    );

    let (s, v) = send(
        &app,
        "GET",
        "database/creds/bounded",
        Some(&token),
        &[("X-Vault-Wrap-TTL", "5m")],
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, inner) = unwrap_as(&app, &wrapping_token(&v)).await;
    assert_eq!(s, 200, "{inner}");
    let (user, password) = (
        inner["data"]["username"].as_str().unwrap(),
        inner["data"]["password"].as_str().unwrap(),
    );
    assert!(pg.can_login(user, password).await);
}

#[tokio::test]
async fn concurrent_unwraps_exactly_one_wins() {
    let app = TestApp::spawn().await;
    for round in 0..3 {
        let (s, v) = wrapped(
            &app,
            "PUT",
            "sys/wrapping/wrap",
            "5m",
            Some(json!({"round": round})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let wrapping = wrapping_token(&v);
        let attempts = (0..8).map(|i| {
            let (app, wrapping) = (&app, wrapping.clone());
            async move {
                if i % 2 == 0 {
                    unwrap_as(app, &wrapping).await
                } else {
                    app.put("sys/wrapping/unwrap", json!({"token": wrapping}))
                        .await
                }
            }
        });
        let results = futures_util::future::join_all(attempts).await;
        let winners: Vec<&Value> = results
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert_eq!(winners[0]["data"]["round"], round);
        for (s, v) in results.iter().filter(|(s, _)| *s != 200) {
            assert_invalid(*s, v);
        }
    }
}

#[tokio::test]
async fn bad_wrapping_headers_are_refused_before_anything_is_issued() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "headers", "1h", "2h").await;
    for (headers, wanted) in [
        (vec![("X-Vault-Wrap-TTL", "-5")], "negative"),
        (vec![("X-Vault-Wrap-TTL", "soon")], "X-Vault-Wrap-TTL"),
        (vec![("X-Vault-Wrap-TTL", "100ms")], "X-Vault-Wrap-TTL"),
        (vec![("X-Vault-Wrap-TTL", "769h")], "max lease ttl"),
        (
            vec![("X-Vault-Wrap-TTL", "5m"), ("X-Vault-Wrap-Format", "jwt")],
            "X-Vault-Wrap-Format",
        ),
    ] {
        let (s, e) = send(
            &app,
            "GET",
            "database/creds/headers",
            Some(&app.token),
            &headers,
            None,
        )
        .await;
        assert_eq!(s, 400, "{headers:?}: {e}");
        assert!(
            e["errors"][0].as_str().unwrap().contains(wanted),
            "{headers:?}: {e}"
        );
    }
    assert!(
        pg.roles_for("headers").await.is_empty(),
        "a refused request created an account"
    );
    // Zero means not wrapped, as in Vault.
    let (s, v) = wrapped(&app, "GET", "database/creds/headers", "0", None).await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["wrap_info"].is_null() && v["data"]["username"].is_string(),
        "{v}"
    );
    // Paths whose answer is not an envelope are refused, not answered in clear.
    let (s, e) = wrapped(&app, "GET", "sys/health", "5m", None).await;
    assert_eq!(s, 400, "{e}");
    // A 204 is not wrapped (Vault): the write happens and nothing is wrapped.
    let (s, v) = wrapped(
        &app,
        "PUT",
        "sys/policies/acl/plain",
        "5m",
        Some(json!({"policy": "path \"a\" { capabilities = [\"read\"] }"})),
    )
    .await;
    assert_eq!((s.as_u16(), &v), (204, &Value::Null));
    assert_eq!(app.get("sys/policies/acl/plain").await.0, 200);
}

#[tokio::test]
async fn vaultrs_wraps_looks_up_and_unwraps_a_secret_id() {
    use vaultrs::api::auth::approle::requests::GenerateNewSecretIDRequest;
    use vaultrs::api::ResponseWrapper;
    use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

    let app = TestApp::spawn().await;
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    app.ok("auth/approle/role/deploy", json!({})).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = |token: &str| {
        VaultClient::new(
            VaultClientSettingsBuilder::default()
                .address(format!("http://{}", app.addr))
                .token(token)
                .build()
                .unwrap(),
        )
        .unwrap()
    };
    let root = client(&app.token);
    let request = GenerateNewSecretIDRequest::builder()
        .mount("approle")
        .role_name("deploy")
        .build()
        .unwrap();
    // vaultrs wraps for 10 minutes and requires every wrap_info field it knows.
    let wrapped = request.wrap(&root).await.unwrap();
    assert_eq!(wrapped.info.ttl, 600);
    assert_eq!(
        wrapped.info.creation_path,
        "auth/approle/role/deploy/secret-id"
    );
    let info = wrapped.lookup(&root).await.unwrap();
    assert_eq!(
        (info.creation_ttl, info.creation_path.as_str()),
        (600, "auth/approle/role/deploy/secret-id")
    );
    let secret = wrapped.unwrap(&root).await.unwrap();
    assert!(!secret.secret_id.is_empty());
    let role_id = app.get("auth/approle/role/deploy/role-id").await.1["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, login) = app
        .call_as(
            "PUT",
            "auth/approle/login",
            Some(json!({"role_id": role_id, "secret_id": secret.secret_id})),
            None,
        )
        .await;
    assert_eq!(s, 200, "{login}");
    // A second unwrap is refused, and vaultrs names it as an invalid wrapping token on lookup.
    assert!(wrapped.unwrap(&root).await.is_err());
    assert!(matches!(
        wrapped.lookup(&root).await,
        Err(vaultrs::error::ClientError::WrapInvalidError)
    ));

    // First-party: the wrapping token is the client's token, and vaultrs sends `"token": null`.
    let (_, v) = wrapped_call(&app, "sys/wrapping/wrap", json!({"k": "v"})).await;
    let holder = client(v["wrap_info"]["token"].as_str().unwrap());
    let data: Value = vaultrs::sys::wrapping::unwrap(&holder, None).await.unwrap();
    assert_eq!(data, json!({"k": "v"}));
}

async fn wrapped_call(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    wrapped(app, "PUT", path, "5m", Some(body)).await
}
