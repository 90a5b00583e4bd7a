//! The PostgreSQL story end to end: issue, log in, renew, revoke, expire, fail and recover —
//! each checked in the database itself.

use std::time::Duration;

use serde_json::json;

use crate::app::{issue, PgTarget, TestApp};

#[tokio::test]
async fn issued_credential_works_until_revoked_then_role_is_gone() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "migrate", "1h", "2h").await;
    let (lease_id, user, password, body) = issue(&app, "migrate").await;
    assert!(lease_id.starts_with("database/creds/migrate/"));
    assert_eq!(body["lease_duration"], 3600);
    assert_eq!(body["renewable"], true);
    assert_eq!(body["mount_type"], "database");
    assert!(
        pg.can_login(&user, &password).await,
        "issued credential cannot log in"
    );

    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204);
    assert!(
        !pg.can_login(&user, &password).await,
        "revoked credential still logs in"
    );
    assert!(
        !pg.role_exists(&user).await,
        "role still in pg_roles after revoke"
    );
    // The lease is gone from the live table.
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(
        (s.as_u16(), v["errors"][0].as_str()),
        (400, Some("invalid lease"))
    );
}

#[tokio::test]
async fn revoke_terminates_a_session_opened_before_it() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "live", "1h", "2h").await;
    let (lease_id, user, password, _) = issue(&app, "live").await;
    let session = pg.cluster.connect(&user, &password, &pg.db).await.unwrap();
    session.simple_query("SELECT 1").await.unwrap();
    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204);
    assert!(
        session.simple_query("SELECT 1").await.is_err(),
        "session survived its role's revocation"
    );
    assert!(!pg.role_exists(&user).await);
}

#[tokio::test]
async fn lease_expires_without_any_request() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "short", "2s", "1h").await;
    let (lease_id, user, password, body) = issue(&app, "short").await;
    assert_eq!(body["lease_duration"], 2);
    let (_, lookup) = app.lookup(&lease_id).await;
    let expire: chrono::DateTime<chrono::Utc> = lookup["data"]["expire_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(pg.can_login(&user, &password).await);
    // No request to the server from here on: only the expiry worker can drop the role.
    pg.wait_gone(&user, Duration::from_secs(10)).await;
    let overstay = chrono::Utc::now() - expire;
    eprintln!(
        "overstay (expire time -> role gone, observed by 50 ms polling): {} ms",
        overstay.num_milliseconds()
    );
    assert!(!pg.can_login(&user, &password).await);
}

#[tokio::test]
async fn renew_moves_valid_until_and_is_capped_at_max_ttl() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "job", "1m", "3m").await;
    let (lease_id, user, _, _) = issue(&app, "job").await;
    let valid_until = |pg: &PgTarget, user: String| {
        let (cluster, db) = (pg.cluster, pg.db.clone());
        async move {
            let admin = cluster
                .connect("postgres", cluster.superuser_password(), &db)
                .await
                .unwrap();
            let row = admin
                .query_one("SELECT extract(epoch from rolvaliduntil)::float8 FROM pg_roles WHERE rolname = $1", &[&user])
                .await
                .unwrap();
            row.get::<_, f64>(0)
        }
    };
    let before = valid_until(&pg, user.clone()).await;
    let (s, v) = app
        .put(
            "sys/leases/renew",
            json!({ "lease_id": lease_id, "increment": "2m" }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lease_duration"], 120);
    assert!(v["warnings"].is_null());
    let after = valid_until(&pg, user.clone()).await;
    assert!(
        after - before > 55.0,
        "VALID UNTIL did not move: {before} -> {after}"
    );

    let (s, v) = app
        .put(
            "sys/leases/renew",
            json!({ "lease_id": lease_id, "increment": "1h" }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let capped = v["lease_duration"].as_u64().unwrap();
    assert!(
        (170..=180).contains(&capped),
        "not capped at max_ttl: {capped}"
    );
    let warning = v["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("TTL of \"1h\" exceeded the effective max_ttl"),
        "{warning}"
    );
    // The legacy path works too.
    let (s, _) = app.put(&format!("sys/renew/{lease_id}"), json!({})).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn tables_made_during_a_migration_survive_revocation() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "ddl", "1h", "2h").await;
    let (lease_id, user, password, _) = issue(&app, "ddl").await;
    let session = pg.cluster.connect(&user, &password, &pg.db).await.unwrap();
    session
        .batch_execute("CREATE TABLE widgets (id int); INSERT INTO widgets VALUES (1);")
        .await
        .unwrap();
    drop(session);
    let (s, v) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204, "{v}");
    assert!(!pg.role_exists(&user).await);
    let admin = pg
        .cluster
        .connect("postgres", pg.cluster.superuser_password(), &pg.db)
        .await
        .unwrap();
    let row = admin
        .query_one("SELECT tableowner::text, (SELECT count(*) FROM widgets) FROM pg_tables WHERE tablename = 'widgets'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert_eq!(row.get::<_, i64>(1), 1);
}

#[tokio::test]
async fn failing_target_keeps_the_lease_revoking_until_it_returns() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "flaky", "1h", "2h").await;
    let (lease_id, user, password, _) = issue(&app, "flaky").await;
    // Point the connection at a port nothing listens on: the target is "down".
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    pg.configure(&app, dead).await;
    let (s, v) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 502, "sync revoke against a dead target must fail: {v}");
    assert!(v["errors"][0]
        .as_str()
        .unwrap()
        .contains("failed to revoke lease"));
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["state"], "revoking");
    assert!(!v["data"]["revoke_error"].as_str().unwrap().is_empty());
    assert!(v["data"]["revoke_attempts"].as_i64().unwrap() >= 1);
    assert!(v["data"]["next_revoke_attempt"].is_string());
    // No secret leaks into the error.
    assert!(!v.to_string().contains(pg.cluster.superuser_password()));
    assert!(
        pg.can_login(&user, &password).await,
        "account should still exist while the target is unreachable"
    );
    // The target comes back: the worker's retry destroys the account without any revoke call.
    pg.configure(&app, pg.cluster.port()).await;
    pg.wait_gone(&user, Duration::from_secs(15)).await;
    assert!(!pg.can_login(&user, &password).await);
}

#[tokio::test]
async fn a_creation_statement_that_fails_leaves_no_role_and_no_lease() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    app.ok(
        "database/roles/broken",
        json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';",
                "GRANT SELECT ON no_such_table TO \"{{name}}\";"
            ],
        }),
    )
    .await;
    let before = pg.roles_for("broken").await;
    let (s, v) = app.get("database/creds/broken").await;
    assert!(s.is_client_error() || s.is_server_error(), "{s} {v}");
    assert!(!v["errors"][0].as_str().unwrap().is_empty());
    assert_eq!(
        pg.roles_for("broken").await,
        before,
        "a half-made role was left behind"
    );
    let (s, _) = app
        .call("LIST", "sys/leases/lookup/database/creds/broken/", None)
        .await;
    assert_eq!(s, 404, "a live lease remains for a failed issue");
}

#[tokio::test]
async fn disabling_the_mount_destroys_its_accounts() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "gone", "1h", "2h").await;
    let (_, user, password, _) = issue(&app, "gone").await;
    let (s, _) = app.call("DELETE", "sys/mounts/database", None).await;
    assert_eq!(s, 204);
    assert!(!pg.role_exists(&user).await);
    assert!(!pg.can_login(&user, &password).await);
}

#[tokio::test]
async fn storage_file_holds_no_plaintext_secret() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "sealed", "1h", "2h").await;
    let (_, _, password, _) = issue(&app, "sealed").await;
    let (dir, _) = app.stop().await;
    let mut bytes = std::fs::read(TestApp::db_path(&dir)).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("leasehold.db-wal")) {
        bytes.extend(wal);
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        !contains(pg.cluster.superuser_password()),
        "root password in plaintext at rest"
    );
    assert!(!contains(&password), "issued password at rest");
    assert!(
        !contains("postgresql-database-plugin"),
        "connection config not sealed"
    );
}

#[tokio::test]
async fn static_role_passwords_rotate_on_schedule_with_no_request() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let user = format!("static_{}", crate::app::rand_suffix());
    let admin = pg.cluster.admin(&pg.db).await.unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{user}\" LOGIN PASSWORD 'initial-Pass-1'"
        ))
        .await
        .unwrap();
    let (s, v) = app
        .put(
            "database/static-roles/app",
            json!({"db_name": "pg", "username": user, "rotation_period": "5s"}),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
    let (s, v) = app.get("database/static-creds/app").await;
    assert_eq!(s, 200, "{v}");
    let first = v["data"]["password"].as_str().unwrap().to_owned();
    assert!(pg.can_login(&user, &first).await);
    assert!(
        !pg.can_login(&user, "initial-Pass-1").await,
        "rotation on create did not change the password"
    );
    // No request from here: only the core's periodic tick can rotate it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while pg.can_login(&user, &first).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduled rotation never happened"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, v) = app.get("database/static-creds/app").await;
    let second = v["data"]["password"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(pg.can_login(&user, &second).await);
}

#[tokio::test]
async fn a_password_in_the_connection_url_query_is_never_read_back() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    let (s, _) = app
        .put("sys/mounts/database", json!({"type": "database"}))
        .await;
    assert_eq!(s, 204);
    let secret = pg.cluster.superuser_password();
    let port = pg.cluster.port();
    let urls = [
        // At the end of the query, and in the middle of it (libpq URI parameters).
        format!(
            "postgresql://postgres@127.0.0.1:{port}/{}?password={secret}",
            pg.db
        ),
        format!(
            "postgresql://127.0.0.1:{port}/{}?user=postgres&password={secret}&application_name=lh",
            pg.db
        ),
    ];
    for url in urls {
        let (s, v) = app
            .put(
                "database/config/pg",
                json!({
                    "plugin_name": "postgresql-database-plugin",
                    "connection_url": url,
                    "allowed_roles": "*",
                }),
            )
            .await;
        assert!(s.is_success(), "{s} {v}");
        assert!(!v.to_string().contains(secret), "write answer: {v}");
        let (s, v) = app.get("database/config/pg").await;
        assert_eq!(s, 200);
        assert!(!v.to_string().contains(secret), "read back: {v}");
        let shown = v["data"]["connection_details"]["connection_url"]
            .as_str()
            .unwrap();
        assert!(shown.contains("password=xxxxx"), "{shown}");
        // The connection works with the password it was given.
        pg.role(&app, "qs", "1h", "2h").await;
        let (_, user, password, _) = issue(&app, "qs").await;
        assert!(pg.can_login(&user, &password).await);
    }
}

#[tokio::test]
async fn a_creation_statement_with_a_syntax_error_ends_its_lease_with_a_readable_reason() {
    let app = TestApp::spawn().await;
    let log = app.dir.path().join("audit.log");
    let (s, _) = app
        .put(
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
        )
        .await;
    assert_eq!(s, 204);
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    app.ok(
        "database/roles/typo",
        json!({
            "db_name": "pg",
            "creation_statements": ["CREAT ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
        }),
    )
    .await;
    let (s, v) = app.get("database/creds/typo").await;
    assert_eq!(s, 502, "the target refused the statement: {v}");
    let error = v["errors"][0].as_str().unwrap();
    assert!(error.contains("syntax error"), "{error}");
    assert!(
        !error.contains("DbError") && !error.contains("{ "),
        "{error}"
    );
    // The lease ended at once: no role, no live lease, nothing irrevocable, and lookup says why.
    assert!(pg.roles_for("typo").await.is_empty());
    let lease_id = {
        let start = tokio::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let id = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|e| e["event"] == "issue_failed")
                .map(|e| e["lease"]["lease_id"].as_str().unwrap().to_owned());
            if let Some(id) = id {
                break id;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no issue_failed entry"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(s, 400, "{v}");
    let reason = v["errors"][0].as_str().unwrap();
    assert!(
        reason.starts_with("invalid lease: creation failed: ") && reason.contains("syntax error"),
        "{reason}"
    );
    let (s, _) = app
        .call("LIST", "sys/leases/lookup/database/creds/typo/", None)
        .await;
    assert_eq!(s, 404);
    let (_, v) = app.get("sys/leases?type=irrevocable").await;
    assert!(!v.to_string().contains(&lease_id), "{v}");
}

#[tokio::test]
async fn an_issue_that_cannot_connect_ends_its_lease_without_a_revoking_row() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "down", "1h", "2h").await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    pg.configure(&app, dead).await;
    let (s, v) = app.get("database/creds/down").await;
    assert_eq!(s, 502, "{v}");
    let error = v["errors"][0].as_str().unwrap();
    assert!(error.contains("cannot connect to the database"), "{error}");
    assert!(
        !error.contains("{ ") && !error.contains(pg.cluster.superuser_password()),
        "{error}"
    );
    // Nothing to retry: no live (revoking) lease, nothing irrevocable, nothing in pg_roles.
    let (s, v) = app
        .call("LIST", "sys/leases/lookup/database/creds/down/", None)
        .await;
    assert_eq!(
        s, 404,
        "a lease is left retrying a destruction of nothing: {v}"
    );
    assert!(pg.roles_for("down").await.is_empty());
    let (_, v) = app.get("sys/leases?type=irrevocable").await;
    assert!(!v.to_string().contains("database/creds/down"), "{v}");
}
