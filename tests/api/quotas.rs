//! Quotas as an operator relies on them: a rate limit answers Vault's 429 and lets the client
//! back in after its interval; a lease-count quota on `database/creds/<role>` stops the next
//! account from being created at all (checked in pg_roles), frees a slot on revoke, and holds
//! across two servers sharing one PostgreSQL storage.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{PgTarget, TestApp};

async fn get_with_headers(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::Client::new()
        .get(format!("http://{}/v1/{path}", app.addr))
        .header("X-Vault-Token", &app.token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn rate_limit_refuses_with_vaults_429_then_recovers_after_the_interval() {
    let app = TestApp::spawn().await;
    app.ok(
        "sys/quotas/rate-limit/policies",
        json!({"path": "sys/policies/acl", "rate": 3, "interval": "1s"}),
    )
    .await;
    let (s, v) = app.get("sys/quotas/rate-limit/policies").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["path"], "sys/policies/acl");
    assert_eq!(v["data"]["rate"], 3.0);
    assert_eq!(v["data"]["interval"], 1);

    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..4 {
        let (s, h, v) = get_with_headers(&app, "sys/policies/acl").await;
        statuses.push(s);
        if s == 429 {
            refused = Some((h, v));
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let (headers, body) = refused.unwrap();
    assert_eq!(
        body["errors"][0],
        "request path \"sys/policies/acl\": rate limit quota exceeded"
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry), "Retry-After {retry}");
    assert!(headers.get("x-ratelimit-limit").is_none());
    // Other paths are not covered by this quota.
    assert_eq!(app.get("sys/mounts").await.0, 200);

    // Headers on request, then recovery once the window has passed.
    app.ok(
        "sys/quotas/config",
        json!({"enable_rate_limit_response_headers": true}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, h, _) = get_with_headers(&app, "sys/policies/acl").await;
    assert_eq!(s, 200);
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "2");
    let (_, v) = app.get("sys/quotas/config").await;
    assert_eq!(v["data"]["enable_rate_limit_response_headers"], true);
    assert!(v["data"]["rate_limit_exempt_paths"]
        .as_array()
        .unwrap()
        .contains(&json!("sys/health")));

    // Deleted: no limit any more.
    let (s, _) = app
        .call("DELETE", "sys/quotas/rate-limit/policies", None)
        .await;
    assert_eq!(s, 204);
    for _ in 0..6 {
        assert_eq!(app.get("sys/policies/acl").await.0, 200);
    }
}

#[tokio::test]
async fn quota_writes_refuse_bad_input() {
    let app = TestApp::spawn().await;
    for (path, body) in [
        ("sys/quotas/rate-limit/q", json!({"rate": 0})),
        (
            "sys/quotas/rate-limit/q",
            json!({"rate": 1, "path": "nowhere/"}),
        ),
        ("sys/quotas/rate-limit/q", json!({"rate": 1, "rat": 2})),
        ("sys/quotas/lease-count/q", json!({"max_leases": 0})),
        ("sys/quotas/lease-count/q", json!({"max_lease": 3})),
    ] {
        let (s, v) = app.put(path, body.clone()).await;
        assert_eq!(s, 400, "{path} {body}: {v}");
    }
    let (s, _) = app.call("LIST", "sys/quotas/lease-count", None).await;
    assert_eq!(s, 404, "nothing was stored");
}

/// One creds request for `role` on `app`: its status and body.
async fn creds(app: &TestApp, role: &str) -> (u16, Value) {
    let (s, v) = app.get(&format!("database/creds/{role}")).await;
    (s.as_u16(), v)
}

#[tokio::test]
async fn lease_count_quota_caps_live_accounts_on_a_role() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    // Usernames keep 8 characters of the role name: unique within those 8.
    let role = format!("q{}", &crate::app::rand_suffix()[..7]);
    pg.role(&app, &role, "1h", "2h").await;
    app.ok(
        "sys/quotas/lease-count/pipeline",
        json!({"path": format!("database/creds/{role}"), "max_leases": 3}),
    )
    .await;

    let mut leases = Vec::new();
    for _ in 0..3 {
        let (s, v) = creds(&app, &role).await;
        assert_eq!(s, 200, "{v}");
        leases.push(v["lease_id"].as_str().unwrap().to_owned());
    }
    let (s, v) = creds(&app, &role).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(
        v["errors"][0],
        format!("request path \"database/creds/{role}\": lease count quota exceeded")
    );
    assert_eq!(pg.roles_for(&role).await.len(), 3, "a 4th account was made");
    let (_, v) = app.get("sys/quotas/lease-count/pipeline").await;
    assert_eq!(v["data"]["counter"], 3);
    assert_eq!(v["data"]["max_leases"], 3);

    // Revoking one frees its slot.
    let (s, _) = app
        .put("sys/leases/revoke", json!({"lease_id": leases[0]}))
        .await;
    assert_eq!(s, 204);
    let (s, v) = creds(&app, &role).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(pg.roles_for(&role).await.len(), 3);
    assert_eq!(creds(&app, &role).await.0, 429);
    assert_eq!(pg.roles_for(&role).await.len(), 3);
}

#[tokio::test]
async fn lease_count_quota_holds_across_two_servers_on_one_storage() {
    let pg = PgTarget::new().await;
    let (a, b) = TestApp::pair_on_shared_storage().await;
    pg.configure(&a, pg.cluster.port()).await;
    // Usernames keep 8 characters of the role name: unique within those 8.
    let role = format!("q{}", &crate::app::rand_suffix()[..7]);
    pg.role(&a, &role, "1h", "2h").await;
    // By role on the mount: the form that caps one pipeline's accounts.
    a.ok(
        "sys/quotas/lease-count/race",
        json!({"path": "database/", "role": role, "max_leases": 3}),
    )
    .await;
    // b learns the mount, the role and the quota from the change feed.
    let mut seen = false;
    for _ in 0..100 {
        let (s, _) = b.get("sys/quotas/lease-count/race").await;
        let (r, _) = b.get(&format!("database/roles/{role}")).await;
        if s == 200 && r == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the second server never saw the quota");

    // 40 at once: with the count and the insert not under one lock, this issued 38-40 (checked).
    let requests: Vec<_> = (0..40)
        .map(|i| {
            let server = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let role = role.clone();
            tokio::spawn(async move { creds(&server, &role).await })
        })
        .collect();
    let mut issued = 0;
    for r in requests {
        let (s, v) = r.await.unwrap();
        match s {
            200 => issued += 1,
            429 => assert!(
                v["errors"][0]
                    .as_str()
                    .unwrap()
                    .ends_with("lease count quota exceeded"),
                "{v}"
            ),
            _ => panic!("unexpected {s}: {v}"),
        }
    }
    assert_eq!(issued, 3);
    assert_eq!(pg.roles_for(&role).await.len(), 3, "accounts in pg_roles");
}

#[tokio::test]
async fn rate_limit_refusals_are_audited_when_asked_and_exempt_paths_pass() {
    let app = TestApp::spawn().await;
    let log = app.dir.path().join("audit.log");
    app.ok(
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    app.ok(
        "sys/quotas/config",
        json!({
            "enable_rate_limit_audit_logging": true,
            "rate_limit_exempt_paths": ["sys/mounts"],
        }),
    )
    .await;
    // Global: every path but the exempt one.
    app.ok(
        "sys/quotas/rate-limit/global",
        json!({"rate": 1, "interval": "1m"}),
    )
    .await;
    assert_eq!(app.get("sys/policies/acl").await.0, 200);
    let (s, v) = app.get("sys/policies/acl").await;
    assert_eq!(s, 429, "{v}");
    for _ in 0..3 {
        assert_eq!(app.get("sys/mounts").await.0, 200, "exempt path limited");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let refusals: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| {
            e["error"]
                .as_str()
                .is_some_and(|m| m.contains("rate limit quota exceeded"))
        })
        .collect();
    assert_eq!(refusals.len(), 1, "{text}");
    assert_eq!(refusals[0]["request"]["path"], "sys/policies/acl");
}

/// A rate-limit quota with a `role` limits that auth role's logins (AppRole resolves the role
/// from the `role_id`, as Vault does) and no one else's; a role on a non-auth path is refused.
#[tokio::test]
async fn a_role_rate_limit_limits_that_roles_logins_only() {
    let app = TestApp::spawn().await;
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    let mut creds = Vec::new();
    for role in ["ci", "web"] {
        app.ok(
            &format!("auth/approle/role/{role}"),
            json!({"token_policies": "default", "token_ttl": "5m"}),
        )
        .await;
        let role_id = app
            .get(&format!("auth/approle/role/{role}/role-id"))
            .await
            .1["data"]["role_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let secret_id = app
            .put(&format!("auth/approle/role/{role}/secret-id"), json!({}))
            .await
            .1["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
        creds.push(json!({"role_id": role_id, "secret_id": secret_id}));
    }
    let (s, v) = app
        .put(
            "sys/quotas/rate-limit/q",
            json!({"role": "ci", "rate": 2, "interval": "1m"}),
        )
        .await;
    assert_eq!(s, 400, "a role needs an auth method's mount: {v}");
    assert!(
        v["errors"][0].as_str().unwrap().contains("auth method"),
        "{v}"
    );
    app.ok(
        "sys/quotas/rate-limit/ci-logins",
        json!({"path": "auth/approle/", "role": "ci", "rate": 2, "interval": "1m"}),
    )
    .await;
    let (_, v) = app.get("sys/quotas/rate-limit/ci-logins").await;
    assert_eq!(v["data"]["role"], "ci");
    let login = |body: Value| {
        let app = &app;
        async move {
            let (s, v) = app
                .call_as("POST", "auth/approle/login", Some(body), None)
                .await;
            (s.as_u16(), v)
        }
    };
    let ci = creds[0].clone();
    let web = creds[1].clone();
    for _ in 0..2 {
        let (s, v) = login(ci.clone()).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = login(ci.clone()).await;
    assert_eq!(s, 429, "{v}");
    assert!(v["errors"][0]
        .as_str()
        .unwrap()
        .contains("rate limit quota exceeded"));
    for _ in 0..4 {
        let (s, v) = login(web.clone()).await;
        assert_eq!(s, 200, "another role's logins are not limited: {v}");
    }
}
