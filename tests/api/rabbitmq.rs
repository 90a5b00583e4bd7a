//! The rabbitmq engine end to end against the machine's broker: the issued user connects,
//! publishes and consumes within its permissions and is refused outside them; revocation and
//! expiry delete it and close its open connections; a broker unreachable at expiry is dealt
//! with when it returns; orphans are reconciled; no spelling of a path and no token without
//! the capability makes a user. Every effect is checked on the broker itself.
//!
//! Past 400 lines because each test is one whole scenario (mount, role, issue, use, end) on the
//! same broker; the shared pieces (`mount`, `issue`, `wait_gone`, `rabbit.rs`) are already out.

use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{rand_suffix, TestApp};
use crate::authz::follow;
use crate::rabbit::{Broker, TcpProxy, MANAGEMENT_PORT};

/// Mount `rabbitmq/` at `mount` on the management API at `uri`, with role `role` allowed to
/// configure and read queues named `ok-*` (and write anywhere) in `/`.
async fn mount(app: &TestApp, mount: &str, uri: &str, role: &str) {
    app.ok(&format!("sys/mounts/{mount}"), json!({"type": "rabbitmq"}))
        .await;
    app.ok(
        &format!("{mount}/config/connection"),
        json!({"connection_uri": uri, "username": "guest", "password": "guest"}),
    )
    .await;
    app.ok(
        &format!("{mount}/roles/{role}"),
        json!({
            "tags": "",
            "vhosts": json!({"/": {"configure": "^ok-", "write": ".*", "read": "^ok-"}}).to_string(),
        }),
    )
    .await;
}

/// Issue on `mount`/`role`: (lease id, username, password, body).
async fn issue(app: &TestApp, mount: &str, role: &str) -> (String, String, String, Value) {
    let (s, v) = app.get(&format!("{mount}/creds/{role}")).await;
    assert_eq!(s, 200, "creds: {v}");
    (
        v["lease_id"].as_str().unwrap().to_owned(),
        v["data"]["username"].as_str().unwrap().to_owned(),
        v["data"]["password"].as_str().unwrap().to_owned(),
        v,
    )
}

/// Disable `mount`: its leases end, and with them every user it made (the broker is shared, so
/// each test leaves it as it found it).
async fn unmount(app: &TestApp, mount: &str) {
    let (s, v) = app
        .call("DELETE", &format!("sys/mounts/{mount}"), None)
        .await;
    assert_eq!(s, 204, "{v}");
}

/// Poll until the broker no longer has `user`; panics after `within`.
async fn wait_gone(broker: &Broker, user: &str, within: Duration) {
    let start = tokio::time::Instant::now();
    while broker.user_exists(user).await {
        assert!(
            start.elapsed() < within,
            "user {user} still on the broker after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_user_works_within_its_permissions_and_is_refused_outside_them() {
    let broker = Broker::ready().await;
    let app = TestApp::spawn().await;
    mount(&app, "rabbitmq", &Broker::management_uri(), "app").await;
    let (lease_id, user, password, body) = issue(&app, "rabbitmq", "app").await;
    assert!(lease_id.starts_with("rabbitmq/creds/app/"), "{lease_id}");
    assert_eq!(body["renewable"], true);
    assert_eq!(body["mount_type"], "rabbitmq");
    assert!(
        user.starts_with("lh-") && user.contains("-root-app-"),
        "{user}"
    );
    assert_eq!(password.len(), 32);
    assert!(broker.user_exists(&user).await);

    let other_vhost = format!("lh-other-{}", rand_suffix());
    broker.create_vhost(&other_vhost).await;
    let mine = format!("ok-{}", rand_suffix());
    let theirs = format!("no-{}", rand_suffix());
    broker.create_queue(&theirs).await;

    let amqp = Broker::connect(&user, &password, "/").await.unwrap();
    amqp.declare(&mine).await.unwrap();
    amqp.publish(&mine, b"hello").await.unwrap();
    let mut got = None;
    for _ in 0..50 {
        got = amqp.get(&mine).await.unwrap();
        if got.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        got.as_deref(),
        Some(&b"hello"[..]),
        "published message not consumed"
    );
    // Outside `configure` and `read`: the broker refuses (ACCESS_REFUSED closes the channel).
    let refused = Broker::connect(&user, &password, "/").await.unwrap();
    assert!(
        refused.declare(&theirs).await.is_err(),
        "configure outside ^ok- allowed"
    );
    let refused = Broker::connect(&user, &password, "/").await.unwrap();
    assert!(
        refused.get(&theirs).await.is_err(),
        "read outside ^ok- allowed"
    );
    // A vhost the role does not name: no login at all.
    assert!(Broker::connect(&user, &password, &other_vhost)
        .await
        .is_err());
    assert!(Broker::connect(&user, "wrong-password", "/").await.is_err());

    // The administrator password is never read back.
    let (s, v) = app.get("rabbitmq/config/connection").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["username"], "guest");
    assert!(v["data"].get("password").is_none(), "{v}");
    let (s, v) = app.get("rabbitmq/roles/app").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["vhosts"]["/"]["configure"], "^ok-");

    let (s, v) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204, "{v}");
    assert!(!broker.user_exists(&user).await, "user still on the broker");
    assert!(
        Broker::connect(&user, &password, "/").await.is_err(),
        "a revoked user logs in"
    );
    broker.delete_vhost(&other_vhost).await;
    broker.delete_queue(&theirs).await;
    unmount(&app, "rabbitmq").await;
}

#[tokio::test]
async fn revoke_closes_a_connection_opened_before_it_and_counts_it() {
    let broker = Broker::ready().await;
    let app = TestApp::spawn().await;
    let log = app.audit_to_file().await;
    mount(&app, "rabbitmq", &Broker::management_uri(), "live").await;
    let (used_lease, user, password, _) = issue(&app, "rabbitmq", "live").await;
    let (idle_lease, idle_user, _, _) = issue(&app, "rabbitmq", "live").await;
    let open = Broker::connect(&user, &password, "/").await.unwrap();
    let queue = format!("ok-{}", rand_suffix());
    open.declare(&queue).await.unwrap();
    assert_eq!(broker.connections_of(&user).await, 1);

    for lease_id in [&used_lease, &idle_lease] {
        let (s, v) = app
            .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
            .await;
        assert_eq!(s, 204, "{v}");
    }
    assert!(!broker.user_exists(&user).await);
    assert!(!broker.user_exists(&idle_user).await);
    assert_eq!(
        broker.connections_of(&user).await,
        0,
        "a connection survived"
    );
    assert!(!open.alive().await, "the open AMQP connection still works");
    assert!(Broker::connect(&user, &password, "/").await.is_err());

    let text = std::fs::read_to_string(&log).unwrap();
    let destroyed = |lease_id: &str| -> Value {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["event"] == "destroyed" && e["lease"]["lease_id"] == lease_id)
            .unwrap_or_else(|| panic!("no destroyed entry for {lease_id}"))
    };
    assert_eq!(destroyed(&used_lease)["sessions_terminated"], json!(1));
    assert_eq!(destroyed(&idle_lease)["sessions_terminated"], json!(0));
    // The receipt: the broker's own answer that the user and its connections are gone, which
    // the checks above confirm independently.
    let receipt = &destroyed(&used_lease)["verified"];
    let check = receipt["check"].as_str().unwrap_or_default();
    assert!(
        check.contains(&format!("/api/users/{user} 404")),
        "{receipt}"
    );
    assert!(receipt["at"].is_string(), "{receipt}");
}

#[tokio::test]
async fn a_lease_expires_without_any_request_and_renewal_moves_only_the_lease() {
    let broker = Broker::ready().await;
    let app = TestApp::spawn().await;
    mount(&app, "rabbitmq", &Broker::management_uri(), "short").await;
    app.ok(
        "rabbitmq/config/lease",
        json!({"ttl": "2s", "max_ttl": "1h"}),
    )
    .await;
    let (s, v) = app.get("rabbitmq/config/lease").await;
    assert_eq!(
        (s.as_u16(), &v["data"]),
        (200, &json!({"ttl": 2, "max_ttl": 3600}))
    );
    let (renewed, renewed_user, _, _) = issue(&app, "rabbitmq", "short").await;
    let (s, v) = app
        .put(
            "sys/leases/renew",
            json!({"lease_id": renewed, "increment": "1h"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["lease_duration"].as_u64().unwrap() > 3000, "{v}");

    let (_, user, password, body) = issue(&app, "rabbitmq", "short").await;
    assert_eq!(body["lease_duration"], 2);
    let open = Broker::connect(&user, &password, "/").await.unwrap();
    // No request from here on: only the expiry worker can delete the user.
    wait_gone(&broker, &user, Duration::from_secs(15)).await;
    assert!(
        !open.alive().await,
        "the open connection outlived its lease"
    );
    assert!(Broker::connect(&user, &password, "/").await.is_err());
    assert!(
        broker.user_exists(&renewed_user).await,
        "the renewed lease's user was deleted"
    );
    unmount(&app, "rabbitmq").await;
    assert!(!broker.user_exists(&renewed_user).await);
}

#[tokio::test]
async fn a_broker_unreachable_at_expiry_loses_the_user_when_it_returns() {
    let broker = Broker::ready().await;
    let proxy = TcpProxy::start(MANAGEMENT_PORT).await;
    let app = TestApp::spawn().await;
    mount(&app, "rabbitmq", &proxy.uri(), "flaky").await;
    app.ok(
        "rabbitmq/config/lease",
        json!({"ttl": "2s", "max_ttl": "1h"}),
    )
    .await;
    let (lease_id, user, password, _) = issue(&app, "rabbitmq", "flaky").await;
    proxy.stop().await;
    // Past expiry with the management API unreachable: the lease is retried, not forgotten.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = app.lookup(&lease_id).await;
        assert_eq!(s, 200, "{v}");
        if v["data"]["state"] == "revoking" && v["data"]["revoke_attempts"].as_i64() >= Some(1) {
            let error = v["data"]["revoke_error"].as_str().unwrap();
            assert!(!error.is_empty() && !error.contains("guest:"), "{error}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not retried: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        broker.user_exists(&user).await,
        "deleted while unreachable?"
    );
    assert!(Broker::connect(&user, &password, "/").await.is_ok());
    // An issue while it is down leaves no lease retrying a destruction of nothing.
    let (s, v) = app.get("rabbitmq/creds/flaky").await;
    assert_eq!(s, 502, "{v}");
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("cannot reach RabbitMQ"),
        "{v}"
    );

    proxy.start_again().await;
    wait_gone(&broker, &user, Duration::from_secs(30)).await;
    assert!(Broker::connect(&user, &password, "/").await.is_err());
}

#[tokio::test]
async fn reconcile_destroys_only_orphans_carrying_this_mounts_marker() {
    let broker = Broker::ready().await;
    let app = TestApp::spawn().await;
    mount(&app, "rabbitmq", &Broker::management_uri(), "recon").await;
    let (_, leased, _, _) = issue(&app, "rabbitmq", "recon").await;
    let (lost_lease, orphan, _, _) = issue(&app, "rabbitmq", "recon").await;
    app.forget_lease(&lost_lease);
    // `lh-<marker>-...`: a user with our prefix but another marker is someone else's.
    let marker = leased.split('-').nth(1).unwrap().to_owned();
    assert_eq!(marker.len(), 9, "{leased}");
    let stranger = format!("lh-zzzzzzzzz-{}", rand_suffix());
    broker.create_user(&stranger, "Stranger-pass-1").await;

    let (s, v) = app
        .put(
            "sys/leases/reconcile",
            json!({"mount": "rabbitmq", "destroy": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let orphans: Vec<(String, bool)> = v["data"]["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["account"].as_str().unwrap().to_owned(),
                o["marked"] == true,
            )
        })
        .collect();
    assert!(orphans.contains(&(orphan.clone(), true)), "{v}");
    assert!(orphans.contains(&(stranger.clone(), false)), "{v}");
    assert!(!orphans.iter().any(|(a, _)| a == &leased), "{v}");
    assert!(!broker.user_exists(&orphan).await, "orphan survived: {v}");
    assert!(
        broker.user_exists(&leased).await,
        "a leased user was destroyed"
    );
    assert!(
        broker.user_exists(&stranger).await,
        "someone else's user was destroyed"
    );
    broker.delete_user(&stranger).await;
    unmount(&app, "rabbitmq").await;
    assert!(!broker.user_exists(&leased).await);
}

#[tokio::test]
async fn no_spelling_and_no_token_without_the_capability_makes_a_user() {
    let broker = Broker::ready().await;
    let app = TestApp::spawn().await;
    let mount_path = format!("mq{}", rand_suffix());
    mount(&app, &mount_path, &Broker::management_uri(), "admin").await;
    app.ok(
        &format!("{mount_path}/roles/ro"),
        json!({"vhosts": json!({"/": {"configure": "", "write": "", "read": "^ok-"}}).to_string()}),
    )
    .await;
    let policy = format!(
        "path \"{mount_path}/*\" {{ capabilities = [\"read\", \"list\"] }}\n\
         path \"{mount_path}/creds/admin\" {{ capabilities = [\"deny\"] }}"
    );
    app.ok("sys/policies/acl/mq-reader", json!({ "policy": policy }))
        .await;
    let v = app
        .ok("auth/token/create", json!({"policies": ["mq-reader"]}))
        .await;
    let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, v) = app.get(&format!("{mount_path}/creds/ro")).await;
    assert_eq!(s, 200, "{v}");
    let marker = v["data"]["username"]
        .as_str()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .to_owned();
    // Users of role `admin` this mount made: `lh-<marker>-<display>-admin-...`.
    let made = || {
        let broker = broker.clone();
        let prefix = format!("lh-{marker}-");
        async move {
            broker
                .users_starting(&prefix)
                .await
                .into_iter()
                .filter(|u| u.contains("-admin-"))
                .collect::<Vec<_>>()
        }
    };
    let m = &mount_path;
    let cases: Vec<(&str, String, u16)> = vec![
        ("GET", format!("/v1/{m}/creds/admin"), 403),
        ("GET", format!("/v1/{m}//creds/admin"), 403),
        ("GET", format!("/v1//{m}/creds/admin"), 403),
        ("GET", format!("/v1/{m}/./creds/admin"), 403),
        ("GET", format!("/v1/{m}/x/../creds/admin"), 403),
        ("GET", format!("/v1/{m}/creds/%61dmin"), 403),
        ("GET", format!("/v1/{m}%2Fcreds%2Fadmin"), 403),
        ("GET", format!("/v1/{m}/creds/admin/"), 404),
        ("GET", format!("/v1/{m}/CREDS/admin"), 404),
        ("GET", format!("/v1/{m}/creds/ADMIN"), 400),
        ("PUT", format!("/v1/{m}/creds/admin"), 403),
        // The token may read `ro`, not write it.
        ("PUT", format!("/v1/{m}/creds/ro"), 403),
    ];
    for (method, target, want) in &cases {
        let (hops, last) = follow(&app.addr, method, target, Some(&token), None).await;
        assert_eq!(
            last.status, *want,
            "{method} {target} ({hops:?}): {}",
            last.body
        );
        assert!(made().await.is_empty(), "{method} {target} made a user");
    }
    // Even root cannot issue by a write: the path is read only, as in Vault.
    let (s, _) = app.put(&format!("{m}/creds/admin"), json!({})).await;
    assert_eq!(s, 405);
    assert!(made().await.is_empty(), "a write issued");
    // No token at all, and a token without any capability on the mount.
    let (s, _) = app
        .call_as("GET", &format!("{m}/creds/ro"), None, None)
        .await;
    assert_eq!(s, 403);
    let v = app
        .ok("auth/token/create", json!({"policies": ["default"]}))
        .await;
    let nobody = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let before = broker.users_starting(&format!("lh-{marker}-")).await.len();
    let (s, _) = app
        .call_as("GET", &format!("{m}/creds/ro"), None, Some(&nobody))
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        broker.users_starting(&format!("lh-{marker}-")).await.len(),
        before
    );
    // The control: the allowed role issues under every clean spelling.
    for target in [format!("/v1/{m}/creds/ro"), format!("/v1/{m}//creds/ro")] {
        let (_, last) = follow(&app.addr, "GET", &target, Some(&token), None).await;
        assert_eq!(last.status, 200, "{target}: {}", last.body);
        let user = last.body["data"]["username"].as_str().unwrap();
        assert!(broker.user_exists(user).await);
    }
    let (s, _) = app.call("DELETE", &format!("sys/mounts/{m}"), None).await;
    assert_eq!(s, 204);
    assert!(
        broker
            .users_starting(&format!("lh-{marker}-"))
            .await
            .is_empty(),
        "disabling the mount left users"
    );
}

#[tokio::test]
async fn unsupported_and_misspelt_fields_are_refused_naming_them() {
    let broker = Broker::ready().await;
    let app = TestApp::spawn().await;
    mount(&app, "rabbitmq", &Broker::management_uri(), "base").await;
    let cases = [
        (
            "rabbitmq/config/connection",
            json!({"connection_uri": Broker::management_uri(), "username": "guest",
                   "password": "guest", "password_policy": "strong"}),
            "password_policy",
        ),
        (
            "rabbitmq/config/connection",
            json!({"connection_uri": "http://guest:guest@127.0.0.1:15672", "username": "guest",
                   "password": "guest"}),
            "connection_uri",
        ),
        (
            "rabbitmq/config/connection",
            json!({"connection_uri": Broker::management_uri(), "username": "guest",
                   "password": "not-the-password"}),
            "verify_connection",
        ),
        (
            "rabbitmq/roles/typo",
            json!({"vhosts": "{\"/\": {\"configure\": \".*\", \"wrte\": \".*\"}}"}),
            "vhosts",
        ),
        (
            "rabbitmq/roles/typo",
            json!({"vhost_topics": "{\"/\": {\"amq.topic\": {\"configure\": \".*\"}}}"}),
            "vhost_topics",
        ),
    ];
    for (path, body, field) in cases {
        let (s, v) = app.put(path, body).await;
        assert_eq!(s, 400, "{path}: {v}");
        let error = v["errors"][0].as_str().unwrap();
        assert!(error.starts_with(field), "{path}: {error}");
        assert!(!error.contains("not-the-password"), "{error}");
    }
    // The refused connection write changed nothing: issuing still works as configured.
    let (_, user, _, _) = issue(&app, "rabbitmq", "base").await;
    assert!(broker.user_exists(&user).await);
    let (s, v) = app.get("rabbitmq/creds/base?ttl=1s").await;
    assert_eq!(s, 400, "{v}");
    assert!(v["errors"][0].as_str().unwrap().starts_with("ttl"), "{v}");
    let (s, _) = app.get("rabbitmq/roles/typo").await;
    assert_eq!(s, 404, "a refused role was stored");
    // A role naming a vhost the broker lacks: the issue fails and leaves no user behind.
    app.ok(
        "rabbitmq/roles/novhost",
        json!({"vhosts": json!({"no-such-vhost": {"configure": ".*", "write": ".*", "read": ".*"}}).to_string()}),
    )
    .await;
    let (s, v) = app.get("rabbitmq/creds/novhost").await;
    assert_eq!(s, 400, "{v}");
    let marker = user.split('-').nth(1).unwrap();
    let left: Vec<String> = broker
        .users_starting(&format!("lh-{marker}-"))
        .await
        .into_iter()
        .filter(|u| u.contains("-novhost-"))
        .collect();
    assert!(left.is_empty(), "a half-made user was left: {left:?}");
    unmount(&app, "rabbitmq").await;
}
