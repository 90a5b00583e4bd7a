//! Tokens and ACLs: who may ask, and what dies with a token.

use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{PgTarget, TestApp};

/// Write policy `name` and mint a token holding it (plus default); returns the token.
async fn token_with(app: &TestApp, name: &str, hcl: &str, extra: Value) -> String {
    let (s, v) = app
        .put(
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": hcl }),
        )
        .await;
    assert_eq!(s, 204, "policy {name}: {v}");
    let mut body = json!({ "policies": [name] });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (s, v) = app.put("auth/token/create", body).await;
    assert_eq!(s, 200, "{v}");
    v["auth"]["client_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_child_tokens_leases_die_with_its_parent() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "job", "1h", "2h").await;
    let parent = token_with(
        &app,
        "app",
        r#"path "database/creds/+" { capabilities = ["read"] }
           path "auth/token/create" { capabilities = ["update"] }"#,
        json!({}),
    )
    .await;
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["app"], "ttl": "10m"})),
            Some(&parent),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["auth"]["lease_duration"], 600);
    assert_eq!(v["auth"]["orphan"], false);
    let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
    // A child may not hold policies its parent lacks.
    let (s, _) = app
        .call_as(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["root"]})),
            Some(&parent),
        )
        .await;
    assert_eq!(s, 400);

    let (s, v) = app
        .call_as("GET", "database/creds/job", None, Some(&child))
        .await;
    assert_eq!(s, 200, "{v}");
    let user = v["data"]["username"].as_str().unwrap().to_owned();
    let password = v["data"]["password"].as_str().unwrap().to_owned();
    assert!(pg.can_login(&user, &password).await);

    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/revoke-self",
            Some(json!({})),
            Some(&parent),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["revoked_tokens"], 2);
    assert_eq!(v["data"]["revoked_leases"], 1);
    assert_eq!(v["data"]["leases"][0]["account"], user);
    assert!(
        !pg.role_exists(&user).await,
        "child's account survived its parent's revocation"
    );
    let (s, _) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&child))
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn an_expiring_token_takes_its_accounts_with_it() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "long", "1h", "2h").await;
    let token = token_with(
        &app,
        "reader",
        r#"path "database/creds/long" { capabilities = ["read"] }"#,
        json!({"ttl": "2s"}),
    )
    .await;
    let (s, v) = app
        .call_as("GET", "database/creds/long", None, Some(&token))
        .await;
    assert_eq!(s, 200, "{v}");
    let user = v["data"]["username"].as_str().unwrap().to_owned();
    // The lease itself has an hour left; the token's expiry ends it, with no request made.
    pg.wait_gone(&user, Duration::from_secs(15)).await;
    let (s, _) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&token))
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn token_endpoints_answer_like_vault() {
    let app = TestApp::spawn().await;
    let (s, v) = app.put("auth/token/create", json!({"ttl": "5m", "explicit_max_ttl": "5m", "meta": {"team": "ci"}, "display_name": "deployer"})).await;
    assert_eq!(s, 200, "{v}");
    let auth = &v["auth"];
    assert_eq!(auth["lease_duration"], 300);
    assert_eq!(auth["renewable"], true);
    assert_eq!(auth["metadata"]["team"], "ci");
    assert_eq!(v["lease_id"], "");
    let token = auth["client_token"].as_str().unwrap().to_owned();
    let accessor = auth["accessor"].as_str().unwrap().to_owned();

    let (s, v) = app
        .put("auth/token/lookup", json!({ "token": token }))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["display_name"], "token-deployer");
    assert_eq!(v["data"]["creation_ttl"], 300);
    let (s, v) = app
        .put(
            "auth/token/lookup-accessor",
            json!({ "accessor": accessor }),
        )
        .await;
    assert_eq!((s.as_u16(), v["data"]["id"].as_str()), (200, Some("")));
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/renew-self",
            Some(json!({"increment": "1m"})),
            Some(&token),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["auth"]["lease_duration"], 60);
    let (s, v) = app
        .put(
            "auth/token/renew",
            json!({"token": token, "increment": "1h"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["auth"]["lease_duration"].as_u64().unwrap() <= 300);
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .contains("exceeded the effective max_ttl"));

    let (s, _) = app
        .put(
            "auth/token/revoke-accessor",
            json!({ "accessor": accessor }),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .put(
            "auth/token/lookup-accessor",
            json!({ "accessor": accessor }),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .put("auth/token/lookup", json!({ "token": token }))
        .await;
    assert_eq!(s, 400);

    // A one-use token works once.
    let (_, v) = app.put("auth/token/create", json!({"num_uses": 1})).await;
    let once = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, _) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&once))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&once))
        .await;
    assert_eq!(s, 403);
}

/// Concurrent requests with a use-limited token share its uses: exactly `num_uses` of them
/// get through (the count is taken in storage, not on each request's copy of the token).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_cannot_share_a_tokens_use() {
    let app = TestApp::spawn().await;
    for uses in [1, 3] {
        let (_, v) = app
            .put("auth/token/create", json!({ "num_uses": uses }))
            .await;
        let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
        let attempts =
            (0..24).map(|_| app.call_as("GET", "auth/token/lookup-self", None, Some(&token)));
        let statuses: Vec<u16> = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .map(|(s, _)| s.as_u16())
            .collect();
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(ok, uses, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 403),
            "{statuses:?}"
        );
        let (s, _) = app
            .call_as("GET", "auth/token/lookup-self", None, Some(&token))
            .await;
        assert_eq!(s, 403, "a used-up token still works");
    }
}

/// One row of the matrix: a request and the policy that should let exactly it through.
struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    policy: &'static str,
}

fn case(
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    policy: &'static str,
) -> Case {
    Case {
        method,
        path,
        body,
        policy,
    }
}

#[tokio::test]
async fn authorization_matrix() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "m", "1h", "2h").await;
    let cfg = json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg.url_on_port(pg.cluster.port()),
        "username": "postgres", "password": pg.cluster.superuser_password(), "allowed_roles": "*"});
    let cases = vec![
        case(
            "GET",
            "sys/mounts",
            None,
            r#"path "sys/mounts" { capabilities = ["read"] }"#,
        ),
        case(
            "POST",
            "sys/mounts/m1",
            Some(json!({"type": "database"})),
            r#"path "sys/mounts/*" { capabilities = ["update"] }"#,
        ),
        case(
            "GET",
            "sys/mounts/database/tune",
            None,
            r#"path "sys/mounts/+/tune" { capabilities = ["read"] }"#,
        ),
        case(
            "GET",
            "sys/auth",
            None,
            r#"path "sys/auth" { capabilities = ["read"] }"#,
        ),
        case(
            "POST",
            "sys/auth/ap1",
            Some(json!({"type": "nosuch"})),
            r#"path "sys/auth/*" { capabilities = ["update", "sudo"] }"#,
        ),
        case(
            "LIST",
            "sys/policies/acl",
            None,
            r#"path "sys/policies/acl" { capabilities = ["list"] }"#,
        ),
        case(
            "PUT",
            "sys/policies/acl/x1",
            Some(json!({"policy": "path \"a\" { capabilities = [\"read\"] }"})),
            r#"path "sys/policies/acl/x1" { capabilities = ["update"] }"#,
        ),
        case(
            "GET",
            "sys/policies/acl/default",
            None,
            r#"path "sys/policies/acl/*" { capabilities = ["read"] }"#,
        ),
        case(
            "PUT",
            "sys/leases/revoke",
            Some(json!({"lease_id": "database/creds/m/none"})),
            r#"path "sys/leases/revoke" { capabilities = ["update"] }"#,
        ),
        case(
            "PUT",
            "sys/leases/revoke-prefix/database/creds/none",
            None,
            r#"path "sys/leases/revoke-prefix/*" { capabilities = ["update", "sudo"] }"#,
        ),
        case(
            "PUT",
            "sys/leases/revoke-force/database/creds/none",
            None,
            r#"path "sys/leases/revoke-force/*" { capabilities = ["update", "sudo"] }"#,
        ),
        case(
            "PUT",
            "sys/leases/tidy",
            None,
            r#"path "sys/leases/tidy" { capabilities = ["update"] }"#,
        ),
        case(
            "GET",
            "sys/leases/count?type=irrevocable",
            None,
            r#"path "sys/leases/count" { capabilities = ["read"] }"#,
        ),
        case(
            "GET",
            "sys/leases?type=irrevocable",
            None,
            r#"path "sys/leases" { capabilities = ["read", "sudo"] }"#,
        ),
        case(
            "PUT",
            "sys/leases/revoke-workload",
            Some(json!({"workload": "auth/approle/role/none"})),
            r#"path "sys/leases/revoke-workload" { capabilities = ["update", "sudo"] }"#,
        ),
        case(
            "POST",
            "database/config/pg2",
            Some(cfg.clone()),
            r#"path "database/config/+" { capabilities = ["create"] }"#,
        ),
        case(
            "GET",
            "database/config/pg",
            None,
            r#"path "database/config/pg" { capabilities = ["read"] }"#,
        ),
        case(
            "LIST",
            "database/roles",
            None,
            r#"path "database/roles/" { capabilities = ["list"] }"#,
        ),
        case(
            "POST",
            "database/roles/new",
            Some(json!({"db_name": "pg", "creation_statements": ["SELECT 1"]})),
            r#"path "database/roles/*" { capabilities = ["create", "update"] }"#,
        ),
        case(
            "GET",
            "database/creds/m",
            None,
            r#"path "database/creds/m" { capabilities = ["read"] }"#,
        ),
        case(
            "DELETE",
            "database/roles/gone",
            None,
            r#"path "database/roles/gone" { capabilities = ["delete"] }"#,
        ),
        case(
            "POST",
            "auth/token/create",
            Some(json!({})),
            r#"path "auth/token/create" { capabilities = ["update"] }"#,
        ),
        case(
            "LIST",
            "auth/token/accessors",
            None,
            r#"path "auth/token/accessors" { capabilities = ["list", "sudo"] }"#,
        ),
    ];
    let denied_everywhere = token_with(
        &app,
        "nothing",
        r#"path "nothing/*" { capabilities = ["read"] }"#,
        json!({}),
    )
    .await;
    for (i, c) in cases.iter().enumerate() {
        let (s, v) = app
            .call_as(c.method, c.path, c.body.clone(), Some(&denied_everywhere))
            .await;
        assert_eq!(
            s, 403,
            "{} {} without the capability: {v}",
            c.method, c.path
        );
        let allowed = token_with(&app, &format!("case{i}"), c.policy, json!({})).await;
        let (s, v) = app
            .call_as(c.method, c.path, c.body.clone(), Some(&allowed))
            .await;
        assert_ne!(s, 403, "{} {} with {:?}: {v}", c.method, c.path, c.policy);
    }
    // The default policy alone lets a token renew and look up leases and itself.
    for (method, path, body) in [
        ("GET", "auth/token/lookup-self", None),
        ("PUT", "sys/leases/lookup", Some(json!({"lease_id": "x/y"}))),
        ("PUT", "sys/leases/renew", Some(json!({"lease_id": "x/y"}))),
    ] {
        let (s, v) = app
            .call_as(method, path, body, Some(&denied_everywhere))
            .await;
        assert_ne!(s, 403, "{method} {path} under the default policy: {v}");
    }
    // deny wins over a grant from another policy.
    let both = {
        app.put(
            "sys/policies/acl/grant",
            json!({"policy": r#"path "database/creds/*" { capabilities = ["read"] }"#}),
        )
        .await;
        app.put(
            "sys/policies/acl/forbid",
            json!({"policy": r#"path "database/creds/m" { capabilities = ["deny"] }"#}),
        )
        .await;
        let (_, v) = app
            .put(
                "auth/token/create",
                json!({"policies": ["grant", "forbid"]}),
            )
            .await;
        v["auth"]["client_token"].as_str().unwrap().to_owned()
    };
    let (s, _) = app
        .call_as("GET", "database/creds/m", None, Some(&both))
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn policies_are_stored_listed_and_validated() {
    let app = TestApp::spawn().await;
    let (s, v) = app
        .put(
            "sys/policy/Legacy",
            json!({"rules": "path \"a/*\" { capabilities = [\"read\"] }"}),
        )
        .await;
    // Policy names are lowercased at the edge: the ACL and the store see the same name.
    assert_eq!(s, 204, "{v}");
    let (s, v) = app.get("sys/policy/legacy").await;
    assert_eq!(s, 200);
    assert!(v["rules"].as_str().unwrap().contains("a/*"));
    let (s, v) = app.call("LIST", "sys/policies/acl", None).await;
    assert_eq!(s, 200);
    let keys = v["data"]["keys"].as_array().unwrap();
    assert!(
        keys.contains(&json!("legacy"))
            && keys.contains(&json!("default"))
            && keys.contains(&json!("root"))
    );
    let (s, v) = app
        .put(
            "sys/policies/acl/bad",
            json!({"policy": "path \"a\" { capabilities = [\"fly\"] }"}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v["errors"][0].as_str().unwrap().contains("fly"));
    let (s, _) = app.call("DELETE", "sys/policies/acl/root", None).await;
    assert_eq!(s, 400);
    let (s, _) = app.call("DELETE", "sys/policies/acl/legacy", None).await;
    assert_eq!(s, 204);
    let (s, _) = app.get("sys/policies/acl/legacy").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn token_roles_bound_what_a_caller_may_mint() {
    let app = TestApp::spawn().await;
    app.ok(
        "sys/policies/acl/deploy",
        json!({"policy": r#"path "database/creds/ci" { capabilities = ["read"] }"#}),
    )
    .await;
    let (s, v) = app
        .put(
            "auth/token/roles/pipeline",
            json!({"allowed_policies": "deploy", "orphan": true, "token_ttl": "5m"}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = app.get("auth/token/roles/pipeline").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["allowed_policies"], json!(["deploy"]));
    let (s, v) = app.call("LIST", "auth/token/roles", None).await;
    assert_eq!(
        (s.as_u16(), &v["data"]["keys"]),
        (200, &json!(["pipeline"]))
    );

    // The minter holds only the right to use the role, not the deploy policy itself.
    let minter = token_with(
        &app,
        "minter",
        r#"path "auth/token/create/pipeline" { capabilities = ["update"] }"#,
        json!({}),
    )
    .await;
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create/pipeline",
            Some(json!({})),
            Some(&minter),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["auth"]["policies"]
        .as_array()
        .unwrap()
        .contains(&json!("deploy")));
    assert_eq!(v["auth"]["orphan"], true);
    assert_eq!(v["auth"]["lease_duration"], 300);
    let (s, _) = app
        .call_as(
            "POST",
            "auth/token/create/pipeline",
            Some(json!({"policies": ["minter"]})),
            Some(&minter),
        )
        .await;
    assert_eq!(
        s, 400,
        "a role must not mint policies outside allowed_policies"
    );
    let (s, _) = app
        .call_as(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["deploy"]})),
            Some(&minter),
        )
        .await;
    assert_eq!(
        s, 403,
        "without the role path the minter cannot create tokens"
    );
    let (s, _) = app.call("DELETE", "auth/token/roles/pipeline", None).await;
    assert_eq!(s, 204);
    let (s, _) = app.call("LIST", "auth/token/roles", None).await;
    assert_eq!(s, 404);
}

/// Mint a token as root from `body`; returns (token, accessor).
async fn mint(app: &TestApp, path: &str, body: Value) -> (String, String) {
    let (s, v) = app.put(path, body).await;
    assert_eq!(s, 200, "{path}: {v}");
    (
        v["auth"]["client_token"].as_str().unwrap().to_owned(),
        v["auth"]["accessor"].as_str().unwrap().to_owned(),
    )
}

/// `auth/token/lookup-self` as `token`: the status and its data.
async fn lookup_self(app: &TestApp, token: &str) -> (u16, Value) {
    let (s, v) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(token))
        .await;
    (s.as_u16(), v["data"].clone())
}

/// A request as `token` from the local address `from` (any 127.0.0.0/8 address reaches the
/// server's 127.0.0.1 listener).
async fn lookup_self_from(app: &TestApp, from: &str, token: &str) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(Some(from.parse().unwrap()))
        .build()
        .unwrap();
    client
        .get(format!("http://{}/v1/auth/token/lookup-self", app.addr))
        .header("X-Vault-Token", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn error_text(v: &Value) -> String {
    v["errors"].to_string()
}

#[tokio::test]
async fn token_leases_cannot_be_renewed_through_the_lease_endpoints() {
    let app = TestApp::spawn().await;
    let (token, accessor) = mint(
        &app,
        "auth/token/create",
        json!({"ttl": "1h", "explicit_max_ttl": "8760h"}),
    )
    .await;
    let lease_id = format!("auth/token/create/{accessor}");
    // Its expiry row carries the creation path, as Vault's token lease ids do.
    let before = app.core.leases.get(&lease_id).await.unwrap().unwrap();
    let (_, token_before) = lookup_self(&app, &token).await;

    // The token's own default policy grants sys/leases/renew and sys/renew (body forms); root
    // tries the URL forms too.
    for (as_token, path, body) in [
        (
            &token,
            "sys/leases/renew".to_owned(),
            json!({"lease_id": lease_id, "increment": "8000h"}),
        ),
        (
            &token,
            "sys/renew".to_owned(),
            json!({"lease_id": lease_id, "increment": "8000h"}),
        ),
        (
            &app.token,
            format!("sys/leases/renew/{lease_id}"),
            json!({"increment": "8000h"}),
        ),
        (
            &app.token,
            format!("sys/renew/{lease_id}"),
            json!({"increment": "8000h"}),
        ),
    ] {
        let (s, v) = app.call_as("PUT", &path, Some(body), Some(as_token)).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(
            error_text(&v).contains("tokens cannot be renewed through this endpoint"),
            "{path}: {v}"
        );
    }

    // Neither the reaper row nor the token moved.
    let after = app.core.leases.get(&lease_id).await.unwrap().unwrap();
    assert_eq!(after.expire_time, before.expire_time);
    assert_eq!(after.due_at, before.due_at);
    assert_eq!(after.last_renewal, None);
    let (s, token_after) = lookup_self(&app, &token).await;
    assert_eq!(s, 200);
    assert_eq!(token_after["expire_time"], token_before["expire_time"]);

    // Revoking it there stays allowed, and ends the token.
    let (s, v) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(lookup_self(&app, &token).await.0, 403);
}

#[tokio::test]
async fn a_child_stops_working_the_moment_its_parent_is_gone() {
    let app = TestApp::spawn().await;
    app.ok(
        "sys/policies/acl/maker",
        json!({"policy": r#"path "auth/token/create" { capabilities = ["update"] }"#}),
    )
    .await;
    for how in ["expired", "deleted"] {
        let (parent, parent_acc) = mint(
            &app,
            "auth/token/create",
            json!({"policies": ["maker"], "ttl": "1h"}),
        )
        .await;
        let (s, v) = app
            .call_as(
                "POST",
                "auth/token/create",
                Some(json!({"ttl": "1h"})),
                Some(&parent),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
        let child_acc = v["auth"]["accessor"].as_str().unwrap().to_owned();
        let (_, g) = app
            .call_as(
                "POST",
                "auth/token/create",
                Some(json!({"ttl": "1h"})),
                Some(&child),
            )
            .await;
        let grandchild = g["auth"]["client_token"].as_str().unwrap().to_owned();
        assert_eq!(lookup_self(&app, &child).await.0, 200);
        assert_eq!(lookup_self(&app, &grandchild).await.0, 200);

        // The parent ends without its reaper running: its entry alone changes.
        let now = app.core.clock.now();
        match how {
            "expired" => app
                .core
                .tokens
                .record_renewal(&parent_acc, now - chrono::Duration::seconds(1), now)
                .await
                .unwrap(),
            _ => app.core.tokens.delete(&parent_acc).await.unwrap(),
        }
        let reaper = app
            .core
            .leases
            .get(&format!("auth/token/create/{parent_acc}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            reaper.state.as_str(),
            "active",
            "{how}: the reaper has not run"
        );
        assert!(app
            .core
            .tokens
            .by_accessor(&child_acc)
            .await
            .unwrap()
            .is_some());

        assert_eq!(lookup_self(&app, &child).await.0, 403, "{how}: child");
        assert_eq!(
            lookup_self(&app, &grandchild).await.0,
            403,
            "{how}: grandchild"
        );
        let (s, _) = app
            .call_as("POST", "auth/token/create", Some(json!({})), Some(&child))
            .await;
        assert_eq!(s, 403, "{how}: the child cannot mint either");
        let (s, _) = app
            .put(
                "auth/token/lookup-accessor",
                json!({ "accessor": child_acc }),
            )
            .await;
        assert_eq!(s, 400, "{how}: the child is no longer a live token");
    }
}

#[tokio::test]
async fn children_are_bound_to_their_parents_cidrs() {
    let app = TestApp::spawn().await;
    app.ok(
        "sys/policies/acl/maker",
        json!({"policy": r#"path "auth/token/create" { capabilities = ["update"] }
                            path "auth/token/create/*" { capabilities = ["update"] }"#}),
    )
    .await;
    app.ok(
        "auth/token/roles/local",
        json!({"allowed_policies": ["maker"], "token_bound_cidrs": ["127.0.0.1/32"]}),
    )
    .await;
    // A role of its own, wider than the parent: it cannot widen the binding.
    app.ok(
        "auth/token/roles/anywhere",
        json!({"allowed_policies": ["maker"], "token_bound_cidrs": ["0.0.0.0/0"], "orphan": true}),
    )
    .await;
    let (parent, _) = mint(&app, "auth/token/create/local", json!({})).await;
    assert_eq!(lookup_self_from(&app, "127.0.0.1", &parent).await, 200);
    assert_eq!(lookup_self_from(&app, "127.0.0.2", &parent).await, 403);

    for (path, body) in [
        ("auth/token/create", json!({})),
        ("auth/token/create", json!({"policies": ["maker"]})),
        ("auth/token/create/anywhere", json!({})),
    ] {
        let (s, v) = app.call_as("POST", path, Some(body), Some(&parent)).await;
        assert_eq!(s, 200, "{path}: {v}");
        let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
        let (s, data) = lookup_self(&app, &child).await;
        assert_eq!(s, 200, "{path}: from the allowed address");
        assert_eq!(data["bound_cidrs"], json!(["127.0.0.1/32"]), "{path}");
        assert_eq!(
            lookup_self_from(&app, "127.0.0.2", &child).await,
            403,
            "{path}: the child is refused from another address"
        );
    }

    // A role whose binding shares no address with the caller's mints nothing.
    app.ok(
        "auth/token/roles/elsewhere",
        json!({"allowed_policies": ["maker"], "token_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create/elsewhere",
            Some(json!({})),
            Some(&parent),
        )
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn a_role_without_allowed_policies_grants_only_what_the_caller_holds() {
    let app = TestApp::spawn().await;
    for (name, hcl) in [
        (
            "minter",
            r#"path "auth/token/create/*" { capabilities = ["update"] }"#,
        ),
        (
            "admin",
            r#"path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }"#,
        ),
        ("app", r#"path "secret/*" { capabilities = ["read"] }"#),
    ] {
        app.ok(
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": hcl }),
        )
        .await;
    }
    // The issue's case: a role with empty allowed_policies (only a deny list).
    app.ok(
        "auth/token/roles/open",
        json!({"disallowed_policies": ["app"]}),
    )
    .await;
    let (minter, _) = mint(&app, "auth/token/create", json!({"policies": ["minter"]})).await;
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create/open",
            Some(json!({"policies": ["admin"]})),
            Some(&minter),
        )
        .await;
    assert_eq!(
        s, 400,
        "a role with no allowed list must not grant admin: {v}"
    );
    assert!(error_text(&v).contains("subset of parent"), "{v}");

    // Asking for nothing inherits the caller's policies, and only those.
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create/open",
            Some(json!({})),
            Some(&minter),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap();
    let (_, data) = lookup_self(&app, token).await;
    assert_eq!(data["policies"], json!(["default", "minter"]));
    assert_eq!(data["path"], "auth/token/create/open");
    assert_eq!(data["role"], "open");

    // Root may ask for anything the role does not forbid; disallowed still wins.
    let (s, _) = app
        .put("auth/token/create/open", json!({"policies": ["admin"]}))
        .await;
    assert_eq!(s, 200);
    let (s, v) = app
        .put("auth/token/create/open", json!({"policies": ["app"]}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(error_text(&v).contains("disallowed"), "{v}");
}

#[tokio::test]
async fn token_roles_enforce_every_field() {
    let app = TestApp::spawn().await;
    // Each may mint through roles and look itself up (a token without `default` needs that).
    for name in ["dev-db", "dev-admin", "prod-db", "minter"] {
        app.ok(
            &format!("sys/policies/acl/{name}"),
            json!({"policy": r#"path "auth/token/create/*" { capabilities = ["update"] }
                                path "auth/token/lookup-self" { capabilities = ["read"] }"#}),
        )
        .await;
    }
    let (s, v) = app
        .put(
            "auth/token/roles/ci",
            json!({
                "allowed_policies_glob": ["dev-*"],
                "disallowed_policies_glob": "*-admin",
                "path_suffix": "rev2",
                "token_no_default_policy": true,
                "token_num_uses": 2,
                "token_explicit_max_ttl": "2h",
                "token_period": "30m",
                "renewable": true,
                "orphan": true,
                "token_type": "default-service",
            }),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = app.get("auth/token/roles/ci").await;
    assert_eq!(s, 200);
    let role = v["data"].clone();
    assert_eq!(role["allowed_policies_glob"], json!(["dev-*"]));
    assert_eq!(role["disallowed_policies_glob"], json!(["*-admin"]));
    assert_eq!(role["path_suffix"], "rev2");
    assert_eq!(role["token_num_uses"], 2);
    assert_eq!(role["token_explicit_max_ttl"], 7200);
    assert_eq!(role["token_period"], 1800);
    assert_eq!(role["token_type"], "default-service");

    let (minter, _) = mint(&app, "auth/token/create", json!({"policies": ["minter"]})).await;
    let create = |policies: Value| {
        let app = &app;
        let minter = minter.clone();
        async move {
            app.call_as(
                "POST",
                "auth/token/create/ci",
                Some(json!({ "policies": policies })),
                Some(&minter),
            )
            .await
        }
    };
    let (s, v) = create(json!(["dev-db"])).await;
    assert_eq!(s, 200, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
    assert!(v["auth"]["orphan"].as_bool().unwrap());
    // Two uses: the first lookup-self reads one, the second takes the last.
    let (s, data) = lookup_self(&app, &token).await;
    assert_eq!(s, 200);
    assert_eq!(
        data["policies"],
        json!(["dev-db"]),
        "no default: the role says so"
    );
    assert_eq!(data["path"], "auth/token/create/ci/rev2");
    assert_eq!(data["period"], 1800);
    assert_eq!(data["explicit_max_ttl"], 7200);
    assert_eq!(data["num_uses"], 1);
    assert_eq!(lookup_self(&app, &token).await.0, 200);
    assert_eq!(lookup_self(&app, &token).await.0, 403, "uses are spent");

    for refused in [json!(["prod-db"]), json!(["dev-admin"]), json!(["minter"])] {
        let (s, v) = create(refused.clone()).await;
        assert_eq!(s, 400, "{refused}: {v}");
    }

    // Fields leasehold cannot honour are refused, and the role is left as it was.
    for bad in [
        json!({"token_type": "batch"}),
        json!({"allowed_entity_aliases": ["alice"]}),
        json!({"path_suffix": "../../sys"}),
        json!({"token_bound_cidrs": "not-a-cidr"}),
        json!({"allowed_policy": "typo"}),
    ] {
        let (s, v) = app.put("auth/token/roles/ci", bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
    let (_, after) = app.get("auth/token/roles/ci").await;
    assert_eq!(after["data"], role);

    // A role's CIDR binding holds on use.
    app.ok(
        "auth/token/roles/far",
        json!({"allowed_policies": "dev-db", "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let (far, _) = mint(&app, "auth/token/create/far", json!({})).await;
    assert_eq!(lookup_self(&app, &far).await.0, 403);
}

#[tokio::test]
async fn children_hold_a_subset_of_their_parent_and_no_default_it_lacks() {
    let app = TestApp::spawn().await;
    for (name, hcl) in [
        (
            "maker",
            r#"path "auth/token/create" { capabilities = ["update"] }
               path "auth/token/lookup-self" { capabilities = ["read"] }"#,
        ),
        (
            "admin",
            r#"path "auth/token/create" { capabilities = ["update", "sudo"] }"#,
        ),
        ("ops", r#"path "sys/mounts" { capabilities = ["read"] }"#),
    ] {
        app.ok(
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": hcl }),
        )
        .await;
    }
    let create_as = |token: String, body: Value| {
        let app = &app;
        async move {
            let (s, v) = app
                .call_as("POST", "auth/token/create", Some(body), Some(&token))
                .await;
            (s.as_u16(), v)
        }
    };

    // A parent created without `default` cannot hand it on.
    let (parent, _) = mint(
        &app,
        "auth/token/create",
        json!({"policies": ["maker"], "no_default_policy": true}),
    )
    .await;
    assert_eq!(
        lookup_self(&app, &parent).await.1["policies"],
        json!(["maker"])
    );
    let (s, v) = create_as(parent.clone(), json!({})).await;
    assert_eq!(s, 200, "{v}");
    let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        lookup_self(&app, &child).await.1["policies"],
        json!(["maker"])
    );
    let (s, v) = create_as(parent.clone(), json!({"policies": ["maker"]})).await;
    assert_eq!(s, 200, "{v}");
    let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        lookup_self(&app, &child).await.1["policies"],
        json!(["maker"])
    );
    for body in [
        json!({"policies": ["default"]}),
        json!({"policies": ["maker", "ops"]}),
        json!({"policies": ["root"]}),
    ] {
        let (s, v) = create_as(parent.clone(), body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
    }

    // A parent holding `default` passes it on unless the child asks not to have it.
    let (parent, _) = mint(&app, "auth/token/create", json!({"policies": ["maker"]})).await;
    let (_, v) = create_as(parent.clone(), json!({"policies": ["maker"]})).await;
    let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        lookup_self(&app, &child).await.1["policies"],
        json!(["default", "maker"])
    );
    let (_, v) = create_as(
        parent.clone(),
        json!({"policies": ["maker", "default"], "no_default_policy": true}),
    )
    .await;
    let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        lookup_self(&app, &child).await.1["policies"],
        json!(["maker"])
    );

    // Sudo on the create path lifts the subset rule (as Vault), but never to root.
    let (admin, _) = mint(&app, "auth/token/create", json!({"policies": ["admin"]})).await;
    let (s, v) = create_as(admin.clone(), json!({"policies": ["ops", "maker"]})).await;
    assert_eq!(s, 200, "{v}");
    let child = v["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        lookup_self(&app, &child).await.1["policies"],
        json!(["default", "maker", "ops"])
    );
    let (s, _) = create_as(admin.clone(), json!({"policies": ["root"]})).await;
    assert_eq!(s, 400);

    // An expiring root token cannot make a root token that never expires.
    let (expiring_root, _) = mint(
        &app,
        "auth/token/create",
        json!({"policies": ["root"], "ttl": "1h"}),
    )
    .await;
    let (s, v) = create_as(expiring_root.clone(), json!({"no_parent": true})).await;
    assert_eq!(s, 400, "{v}");
    assert!(error_text(&v).contains("non-expiring root"), "{v}");
    let (s, v) = create_as(expiring_root, json!({"no_parent": true, "ttl": "10m"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["auth"]["lease_duration"], 600);

    // A use-limited token cannot escape its count through children.
    let (limited, limited_acc) = mint(
        &app,
        "auth/token/create",
        json!({"policies": ["maker"], "num_uses": 5}),
    )
    .await;
    let (s, v) = create_as(limited, json!({})).await;
    assert_eq!(s, 400, "{v}");
    assert!(error_text(&v).contains("restricted use token"), "{v}");
    assert!(app
        .core
        .tokens
        .children(&limited_acc)
        .await
        .unwrap()
        .is_empty());
}

/// A token's lease id starts with its creation path, as in Vault, so `revoke-prefix` on a token
/// role's path (`auth/token/create/<role>`, with its `path_suffix`) ends exactly the tokens made
/// there — and every account they obtained.
#[tokio::test]
async fn revoke_prefix_on_a_creation_path_ends_the_tokens_made_there() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "job", "1h", "2h").await;
    app.ok(
        "sys/policies/acl/job",
        json!({"policy": r#"path "database/creds/job" { capabilities = ["read"] }"#}),
    )
    .await;
    app.ok(
        "auth/token/roles/pipe",
        json!({"allowed_policies": ["job"], "path_suffix": "nightly"}),
    )
    .await;
    let (a, a_acc) = mint(&app, "auth/token/create/pipe", json!({"ttl": "1h"})).await;
    let (b, _) = mint(&app, "auth/token/create/pipe", json!({"ttl": "1h"})).await;
    let (other, _) = mint(
        &app,
        "auth/token/create",
        json!({"policies": ["job"], "ttl": "1h"}),
    )
    .await;
    let (_, data) = lookup_self(&app, &a).await;
    assert_eq!(data["path"], "auth/token/create/pipe/nightly");
    assert!(app
        .core
        .leases
        .get(&format!("auth/token/create/pipe/nightly/{a_acc}"))
        .await
        .unwrap()
        .is_some());
    let (s, v) = app
        .call_as("GET", "database/creds/job", None, Some(&a))
        .await;
    assert_eq!(s, 200, "{v}");
    let user = v["data"]["username"].as_str().unwrap().to_owned();
    assert!(pg.role_exists(&user).await);

    let (s, v) = app
        .put("sys/leases/revoke-prefix/auth/token/create/pipe", json!({}))
        .await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(lookup_self(&app, &a).await.0, 403);
    assert_eq!(lookup_self(&app, &b).await.0, 403);
    assert_eq!(
        lookup_self(&app, &other).await.0,
        200,
        "a token from another path was revoked"
    );
    assert!(
        !pg.role_exists(&user).await,
        "the role token's account outlived it"
    );
}

/// Every use walks a token's chain of parents; the chain is bounded, and a child that would be
/// too deep to use is refused at creation rather than minted broken.
#[tokio::test]
async fn token_chains_are_bounded_at_creation() {
    let app = TestApp::spawn().await;
    let mut token = app.token.clone();
    // Root has no parent; 32 children below it are the deepest chain a request walks.
    for depth in 1..=leasehold::auth::token::MAX_TOKEN_DEPTH {
        let (s, v) = app
            .call_as(
                "POST",
                "auth/token/create",
                Some(json!({"ttl": "1h"})),
                Some(&token),
            )
            .await;
        assert_eq!(s, 200, "depth {depth}: {v}");
        token = v["auth"]["client_token"].as_str().unwrap().to_owned();
    }
    assert_eq!(
        lookup_self(&app, &token).await.0,
        200,
        "the deepest token must work"
    );
    let before = app.core.tokens.accessors().await.unwrap().len();
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create",
            Some(json!({"ttl": "1h"})),
            Some(&token),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(error_text(&v).contains("limited to"), "{v}");
    assert_eq!(app.core.tokens.accessors().await.unwrap().len(), before);
    // An orphan starts a chain of its own.
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create-orphan",
            Some(json!({"ttl": "1h"})),
            Some(&app.token),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}
