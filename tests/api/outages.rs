//! Nothing survives its window: target outages, the database's own backstop, reconciliation of
//! orphans, and a graceful stop that leaves no lease half-made.

use std::time::Duration;

use leasehold::lease::LeaseState;
use serde_json::json;

use crate::app::{approle_login, issue, PgTarget, TestApp};

#[tokio::test]
async fn leases_expiring_during_a_database_outage_are_destroyed_when_it_returns() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::own().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "outage", "2s", "1h").await;
    let mut leases = Vec::new();
    for _ in 0..3 {
        let (lease_id, user, _, _) = issue(&app, "outage").await;
        leases.push((lease_id, user));
    }
    pg.cluster.stop().await.unwrap();
    // Past expiry with the target down: each lease is revoking, with its error and next attempt.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for (lease_id, _) in &leases {
        loop {
            let (s, v) = app.lookup(lease_id).await;
            assert_eq!(s, 200, "{v}");
            if v["data"]["state"] == "revoking"
                && v["data"]["revoke_attempts"].as_i64().unwrap_or(0) >= 1
            {
                assert!(!v["data"]["revoke_error"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty());
                assert!(v["data"]["next_revoke_attempt"].is_string());
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "lease not retried during the outage: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The server keeps answering meanwhile.
    let (s, _) = app.call_as("GET", "sys/health", None, None).await;
    assert_eq!(s, 200);
    pg.cluster.start_again().await.unwrap();
    for (_, user) in &leases {
        pg.wait_gone(user, Duration::from_secs(15)).await;
    }
    for (lease_id, _) in &leases {
        app.wait_lease_ended(lease_id, Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn with_leasehold_gone_for_good_the_database_ends_the_credential_itself() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "backstop", "3s", "1h").await;
    let (lease_id, user, password, _) = issue(&app, "backstop").await;
    let (_, lookup) = app.lookup(&lease_id).await;
    let expire: chrono::DateTime<chrono::Utc> = lookup["data"]["expire_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // leasehold stops and never comes back: no worker will drop this role.
    app.stop().await;
    assert!(
        pg.can_login(&user, &password).await,
        "credential should work before its expiry"
    );
    let wait =
        (expire - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(1500);
    tokio::time::sleep(wait).await;
    assert!(
        pg.role_exists(&user).await,
        "nobody dropped the role: this checks PostgreSQL's own VALID UNTIL"
    );
    assert!(
        !pg.can_login(&user, &password).await,
        "credential still works after its VALID UNTIL"
    );
}

#[tokio::test]
async fn reconcile_destroys_only_orphans_carrying_this_mounts_marker() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "recon", "1h", "2h").await;
    let (_, leased, _, _) = issue(&app, "recon").await;
    // An orphan of ours: made by this mount, its lease row then deleted underneath.
    let (lost_lease, orphan, _, _) = issue(&app, "recon").await;
    app.forget_lease(&lost_lease);
    // `v-<marker>-...`: the mount's marker is the second segment of its names.
    let marker = leased.split('-').nth(1).unwrap().to_owned();
    assert_eq!(marker.len(), 9, "{leased}");
    assert!(orphan.starts_with(&format!("v-{marker}-")), "{orphan}");
    let suffix = crate::app::rand_suffix();
    let admin = pg.cluster.admin(&pg.db).await.unwrap();
    // Users that look like ours but are not, even with the marker in their name: a static
    // role's user, the connection's own login, and Vault's own user (on a shared database).
    let static_user = format!("v-{marker}-static{suffix}");
    let conn_user = format!("v-{marker}-conn{suffix}");
    let vault_user = format!("v-root-x-{suffix}abcdefghij-1714557600");
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{static_user}\" LOGIN PASSWORD 'Initial-pass-1'; \
             CREATE ROLE \"{conn_user}\" SUPERUSER LOGIN PASSWORD 'Conn-pass-123'; \
             CREATE ROLE \"{vault_user}\" LOGIN"
        ))
        .await
        .unwrap();
    app.ok(
        "database/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": pg.url_on_port(pg.cluster.port()),
            "username": conn_user,
            "password": "Conn-pass-123",
            "allowed_roles": "*",
        }),
    )
    .await;
    let (s, v) = app
        .put(
            "database/static-roles/app",
            json!({"db_name": "pg", "username": static_user, "rotation_period": "1h"}),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");

    let (s, v) = app.get("sys/leases/reconcile?mount=database").await;
    assert_eq!(s, 200, "{v}");
    let found: Vec<(String, bool)> = v["data"]["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["account"].as_str().unwrap().to_owned(),
                o["marked"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(found.contains(&(orphan.clone(), true)), "{v}");
    // Reported, since it has the `v-` prefix, but not as ours.
    assert!(found.contains(&(vault_user.clone(), false)), "{v}");
    for never in [&leased, &static_user, &conn_user] {
        assert!(
            !found.iter().any(|(a, _)| a == never),
            "{never} listed: {v}"
        );
    }
    assert!(
        pg.role_exists(&orphan).await,
        "report-only must not destroy"
    );

    let (s, v) = app
        .put(
            "sys/leases/reconcile",
            json!({"mount": "database", "destroy": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(!pg.role_exists(&orphan).await, "orphan not destroyed: {v}");
    for survivor in [&leased, &static_user, &conn_user, &vault_user] {
        assert!(
            pg.role_exists(survivor).await,
            "{survivor} was destroyed: {v}"
        );
    }
    // The connection still works as its own user: a new lease can be issued.
    let (_, user, password, _) = issue(&app, "recon").await;
    assert!(pg.can_login(&user, &password).await);
    let (s, _) = app.get("sys/leases/reconcile?destroy=true").await;
    assert_eq!(s, 400, "destroying needs a write");
}

#[tokio::test]
async fn reconcile_destroys_only_iam_users_carrying_this_mounts_marker() {
    let moto = crate::moto::Moto::start().await.unwrap();
    let app = TestApp::spawn().await;
    app.ok("sys/mounts/aws", json!({"type": "aws"})).await;
    app.ok(
        "aws/config/root",
        json!({"access_key": moto.root.access_key, "secret_key": moto.root.secret_key, "region": "us-east-1",
               "iam_endpoint": moto.endpoint, "sts_endpoint": moto.endpoint}),
    )
    .await;
    app.ok(
        "aws/roles/deploy",
        json!({"credential_type": "iam_user", "policy_document": {"Version": "2012-10-17",
               "Statement": [{"Effect": "Allow", "Action": ["iam:GetUser"], "Resource": "*"}]}}),
    )
    .await;
    let (s, v) = app.get("aws/creds/deploy").await;
    assert_eq!(s, 200, "{v}");
    // `lh-<marker>-root-deploy-...`: the marker names this mount.
    let marker = v["data"]["arn"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(marker.len(), 9, "{v}");
    let ours = format!("lh-{marker}-orphan-1");
    let iam = moto.iam(&moto.root).await;
    for user in [ours.as_str(), "lh-orphan-legacy", "someone-else"] {
        iam.create_user().user_name(user).send().await.unwrap();
    }
    iam.create_access_key()
        .user_name(&ours)
        .send()
        .await
        .unwrap();
    let (s, v) = app
        .put(
            "sys/leases/reconcile",
            json!({"mount": "aws", "destroy": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let orphans = v["data"]["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 2, "{v}");
    for o in orphans {
        let marked = o["account"] == ours.as_str();
        assert_eq!(o["marked"], marked, "{v}");
        assert_eq!(
            o["destroyed"],
            if marked { json!(true) } else { json!(null) },
            "{v}"
        );
    }
    let exists = |name: String| {
        let iam = iam.clone();
        async move { iam.get_user().user_name(name).send().await.is_ok() }
    };
    assert!(!exists(ours.clone()).await, "orphan IAM user survived");
    // A user with our prefix but not this mount's marker (from before markers, or another
    // leasehold on the same account) is reported, never destroyed; others are not touched.
    assert!(exists("lh-orphan-legacy".into()).await);
    assert!(exists("someone-else".into()).await);
}

#[tokio::test]
async fn a_graceful_stop_leaves_no_lease_half_made() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "inflight", "1h", "2h").await;
    let url = format!("http://{}/v1/database/creds/inflight", app.addr);
    let token = app.token.clone();
    let mut requests = Vec::new();
    for _ in 0..16 {
        let (url, token) = (url.clone(), token.clone());
        requests.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .get(url)
                .header("X-Vault-Token", token)
                .send()
                .await?;
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, body))
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let core = app.core.clone();
    app.stop().await;
    let mut answered = 0;
    for r in requests {
        if let Ok(Ok((status, body))) = r.await {
            assert!(
                status.is_success(),
                "an in-flight issue failed during shutdown: {status} {body}"
            );
            answered += 1;
        }
    }
    let live = core.leases.list_live("database/").await.unwrap();
    assert!(
        live.iter().all(|l| l.state != LeaseState::Creating),
        "a lease was left in creating"
    );
    assert!(
        live.len() >= answered,
        "every answered credential has its lease"
    );
}

#[tokio::test]
async fn a_sync_revoke_during_a_target_outage_is_a_bad_gateway_and_the_lease_is_retried() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::own().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "gateway", "1h", "2h").await;
    let (first, first_user, _, _) = issue(&app, "gateway").await;
    let (_, second_user, _, _) = issue(&app, "gateway").await;
    pg.cluster.stop().await.unwrap();

    // The target's fault, as on issue: 502, not the caller's 400.
    let (s, v) = app
        .put("sys/leases/revoke", json!({"lease_id": first}))
        .await;
    assert_eq!(s, 502, "{v}");
    assert!(v["errors"][0]
        .as_str()
        .unwrap()
        .contains("failed to revoke lease"));
    let (s, v) = app
        .put("sys/leases/revoke-prefix/database/creds/gateway", json!({}))
        .await;
    assert_eq!(s, 502, "{v}");
    // Still live, with the failure recorded and a next attempt planned.
    let (s, v) = app.lookup(&first).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["state"], "revoking");
    assert!(v["data"]["revoke_attempts"].as_i64().unwrap() >= 1);
    assert!(v["data"]["next_revoke_attempt"].is_string());

    // The target returns: the worker's retries destroy both accounts with no further call.
    pg.cluster.start_again().await.unwrap();
    for user in [&first_user, &second_user] {
        pg.wait_gone(user, Duration::from_secs(15)).await;
    }
}

#[tokio::test]
async fn a_storage_failure_during_a_revoke_is_ours_not_the_callers() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "stuck", "1h", "2h").await;
    let (lease_id, user, _, _) = issue(&app, "stuck").await;

    // Another writer holds the storage file's write lock past the server's busy timeout: reads
    // (the token, the lease) work, every write fails.
    let blocker = rusqlite::Connection::open(TestApp::db_path(&app.dir)).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (s, v) = app
        .put(
            "sys/leases/revoke",
            json!({"lease_id": lease_id, "sync": false}),
        )
        .await;
    assert_eq!(s, 500, "{v}");
    assert_eq!(
        v["errors"][0], "internal error",
        "no storage detail is sent"
    );
    let (s, v) = app
        .put("sys/leases/revoke", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(s, 500, "a failure of ours is a 500, never a 4xx: {v}");
    blocker.execute_batch("ROLLBACK").unwrap();

    // Nothing was lost: the lease is still live and revocable.
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .put("sys/leases/revoke", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(s, 204, "{v}");
    pg.wait_gone(&user, Duration::from_secs(15)).await;
}

/// The error of a revoke of many leases names each lease that failed, not only the first.
fn names_both(v: &serde_json::Value, ids: [&str; 2]) {
    let error = v["errors"][0].as_str().unwrap_or_default();
    for id in ids {
        assert!(error.contains(id), "lease {id} is not named: {v}");
    }
}

#[tokio::test]
async fn disabling_a_database_mount_during_a_target_outage_names_every_lease_left() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::own().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "unmount", "1h", "2h").await;
    let (first, first_user, _, _) = issue(&app, "unmount").await;
    let (second, second_user, _, _) = issue(&app, "unmount").await;
    pg.cluster.stop().await.unwrap();

    // The target's fault: 502, both leases named, and the mount stays.
    let (s, v) = app.call("DELETE", "sys/mounts/database", None).await;
    assert_eq!(s, 502, "{v}");
    names_both(&v, [&first, &second]);
    for id in [&first, &second] {
        let (s, v) = app.lookup(id).await;
        assert_eq!(s, 200, "{v}");
    }

    // Still revocable once the target returns, and then the mount goes.
    pg.cluster.start_again().await.unwrap();
    for id in [&first, &second] {
        let (s, v) = app.put("sys/leases/revoke", json!({"lease_id": id})).await;
        assert_eq!(s, 204, "{v}");
    }
    for user in [&first_user, &second_user] {
        pg.wait_gone(user, Duration::from_secs(15)).await;
    }
    let (s, v) = app.call("DELETE", "sys/mounts/database", None).await;
    assert_eq!(s, 204, "{v}");
}

#[tokio::test]
async fn disabling_an_auth_mount_during_a_target_outage_names_every_lease_left() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::own().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "wl", "1h", "2h").await;
    app.ok(
        "sys/policies/acl/wl",
        json!({"policy": r#"path "database/creds/wl" { capabilities = ["read"] }"#}),
    )
    .await;
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    app.ok("auth/approle/role/ci", json!({"token_policies": "wl"}))
        .await;
    let token = approle_login(&app, "ci").await;
    let mut leases = Vec::new();
    for _ in 0..2 {
        let (s, v) = app
            .call_as("GET", "database/creds/wl", None, Some(&token))
            .await;
        assert_eq!(s, 200, "{v}");
        leases.push((
            v["lease_id"].as_str().unwrap().to_owned(),
            v["data"]["username"].as_str().unwrap().to_owned(),
        ));
    }
    pg.cluster.stop().await.unwrap();

    let (s, v) = app.call("DELETE", "sys/auth/approle", None).await;
    assert_eq!(s, 502, "{v}");
    names_both(&v, [&leases[0].0, &leases[1].0]);

    pg.cluster.start_again().await.unwrap();
    for (id, user) in &leases {
        let (s, v) = app.put("sys/leases/revoke", json!({"lease_id": id})).await;
        assert_eq!(s, 204, "{v}");
        pg.wait_gone(user, Duration::from_secs(15)).await;
    }
    let (s, v) = app.call("DELETE", "sys/auth/approle", None).await;
    assert_eq!(s, 204, "{v}");
}
