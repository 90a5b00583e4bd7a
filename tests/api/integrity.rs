//! Storage edited underneath a running server: lease rows whose account or expiry was changed in
//! the SQLite file are flagged, audited and left alone (never destroyed as named, never kept
//! alive past their real expiry by us), and an operator can still remove them with revoke-force.
//! Also: the one-time tagging of rows written before tags existed, and private file modes.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{issue, PgTarget, TestApp};

fn entries(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn with_audit_and_pg() -> (TestApp, PgTarget, std::path::PathBuf) {
    let app = TestApp::spawn().await;
    let log = app.dir.path().join("audit.log");
    let (s, v) = app
        .put(
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    (app, pg, log)
}

/// Poll the lookup until the row is flagged; returns the lookup data.
async fn wait_flagged(app: &TestApp, lease_id: &str, within: Duration) -> Value {
    let start = tokio::time::Instant::now();
    loop {
        let (s, v) = app.lookup(lease_id).await;
        assert_eq!(s, 200, "{v}");
        if !v["data"]["tampered_at"].is_null() {
            return v["data"].clone();
        }
        assert!(
            start.elapsed() < within,
            "lease {lease_id} never flagged: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tampered_events<'a>(log: &'a [Value], lease_id: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|e| e["type"] == "lease" && e["event"] == "tampered")
        .filter(|e| e["lease"]["lease_id"] == lease_id)
        .collect()
}

#[tokio::test]
async fn a_lease_pointed_at_another_account_is_flagged_and_destroys_nothing() {
    let (app, pg, log) = with_audit_and_pg().await;
    pg.role(&app, "bystander", "1h", "2h").await;
    pg.role(&app, "short", "2s", "1h").await;
    let (_, victim, victim_pw, _) = issue(&app, "bystander").await;
    let (lease_id, user, password, _) = issue(&app, "short").await;

    // Point the short lease's destruction at the bystander's account.
    app.edit_storage(
        "UPDATE leases SET account = ?1 WHERE id = ?2",
        [&victim, &lease_id],
    );
    let data = wait_flagged(&app, &lease_id, Duration::from_secs(10)).await;
    assert_eq!(data["integrity"], "failed", "{data}");
    assert_ne!(data["state"], "revoked", "{data}");

    // Its expiry passed and the worker took it: nothing was destroyed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(pg.can_login(&victim, &victim_pw).await, "bystander hit");
    assert!(pg.role_exists(&user).await, "destroyed on an edited row");
    // ...and the credential does not outlive its real expiry: the role's own VALID UNTIL
    // (written at issue, out of the storage attacker's reach) ends it.
    assert!(!pg.can_login(&user, &password).await);
    let l = app.core.leases.get(&lease_id).await.unwrap().unwrap();
    assert!(l.due_at.is_none() && l.claimed_by.is_none(), "{l:?}");

    // Listed for the operator, audited once as refused.
    let (s, v) = app.get("sys/leases?type=irrevocable").await;
    assert_eq!(s, 200, "{v}");
    let listed: Vec<&Value> = v["data"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["lease_id"] == lease_id.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{v}");
    assert_eq!(listed[0]["tampered"], true);
    let audit = entries(&log);
    let events = tampered_events(&audit, &lease_id);
    assert!(!events.is_empty(), "no tampered audit entry");
    // Whichever found it first: the sweep (`keep`) or the expiry worker (`destroy`).
    let action = events[0]["refused_action"].as_str().unwrap();
    assert!(["keep", "destroy"].contains(&action), "{action}");

    // A plain revoke refuses it too; revoke-force (sudo) removes it and says what may remain.
    let (s, v) = app
        .put(
            "sys/leases/revoke",
            json!({ "lease_id": lease_id, "sync": true }),
        )
        .await;
    assert!(s.is_client_error() || s.is_server_error(), "{s} {v}");
    let (s, v) = app
        .put(
            "sys/leases/revoke",
            json!({ "lease_id": lease_id, "sync": false }),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("integrity"), "{v}");
    assert!(pg.can_login(&victim, &victim_pw).await);
    let (s, v) = app
        .put("sys/leases/revoke-force/database/creds/short", json!({}))
        .await;
    assert!(s.is_success(), "{s} {v}");
    let (s, _) = app.lookup(&lease_id).await;
    assert_eq!(s, 400);
    assert!(pg.can_login(&victim, &victim_pw).await);
    let (_, v) = app.get("sys/leases?type=irrevocable").await;
    assert!(!v.to_string().contains(&lease_id), "{v}");
}

#[tokio::test]
async fn an_expiry_pushed_back_in_storage_is_found_and_not_honoured() {
    let (app, pg, log) = with_audit_and_pg().await;
    pg.role(&app, "pushed", "3s", "1h").await;
    let (lease_id, user, password, _) = issue(&app, "pushed").await;
    let original = app.core.leases.get(&lease_id).await.unwrap().unwrap();

    // A day more, with the queue's due time moved along so the expiry worker does not look.
    app.edit_storage(
        "UPDATE leases SET expire_time = expire_time + 86400000, \
         max_expire_time = max_expire_time + 86400000, due_at = due_at + 86400000 WHERE id = ?1",
        [&lease_id],
    );
    let (_, v) = app.lookup(&lease_id).await;
    assert_eq!(v["data"]["integrity"], "failed", "{v}");
    // The sweep finds it long before the pushed-back time and before the real expiry.
    let data = wait_flagged(&app, &lease_id, Duration::from_secs(5)).await;
    assert_eq!(data["integrity"], "failed");
    let audit = entries(&log);
    assert!(!tampered_events(&audit, &lease_id).is_empty());

    // Renewing from the edited row is refused and moves nothing.
    let (s, v) = app
        .put("sys/leases/renew", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("integrity"), "{v}");
    // Past the real expiry, the credential is dead at the target (VALID UNTIL from issue).
    let wait = (original.expire_time - app.core.leases.now_ms())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(1500)).await;
    assert!(!pg.can_login(&user, &password).await);
    assert!(pg.role_exists(&user).await, "an edited row was acted on");
}

#[tokio::test]
async fn rows_from_before_tags_are_tagged_once_and_a_stripped_tag_is_not_blessed() {
    let (app, pg, _log) = with_audit_and_pg().await;
    pg.role(&app, "old", "1h", "2h").await;
    let (old_id, _, _, _) = issue(&app, "old").await;
    let (stripped_id, _, _, _) = issue(&app, "old").await;
    let (dir, token) = app.stop().await;

    // As an older version left it: no tag, no completion marker.
    let conn = rusqlite::Connection::open(TestApp::db_path(&dir)).unwrap();
    conn.execute("UPDATE leases SET row_mac = NULL", [])
        .unwrap();
    assert_eq!(
        conn.execute(
            "DELETE FROM locks WHERE name = 'lease-row-tags-v1-done'",
            []
        )
        .unwrap(),
        1
    );
    drop(conn);
    let app = TestApp::spawn_in(dir, Some(token)).await;
    for id in [&old_id, &stripped_id] {
        let (_, v) = app.lookup(id).await;
        assert_eq!(v["data"]["integrity"], "ok", "{v}");
    }
    // After the migration, a tag removed in storage is a failure, not a row to tag again.
    app.edit_storage(
        "UPDATE leases SET row_mac = NULL WHERE id = ?1",
        [&stripped_id],
    );
    let (dir, token) = app.stop().await;
    let app = TestApp::spawn_in(dir, Some(token)).await;
    let (_, v) = app.lookup(&stripped_id).await;
    assert_eq!(v["data"]["integrity"], "failed", "{v}");
    let (_, v) = app.lookup(&old_id).await;
    assert_eq!(v["data"]["integrity"], "ok", "{v}");
}

#[tokio::test]
async fn storage_and_audit_files_are_private() {
    let (app, pg, log) = with_audit_and_pg().await;
    pg.role(&app, "modes", "1h", "2h").await;
    issue(&app, "modes").await;
    let db = TestApp::db_path(&app.dir);
    let mut files = vec![log];
    for suffix in ["", "-wal", "-shm"] {
        let mut f = db.clone().into_os_string();
        f.push(suffix);
        files.push(f.into());
    }
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
}

/// `due_at` is queue bookkeeping outside the tag: moved alone, it would hide an intact row from
/// the expiry worker. The sweep queues it again and the account goes at its real expiry.
#[tokio::test]
async fn a_lease_hidden_from_the_queue_is_still_destroyed_on_time() {
    let (app, pg, _log) = with_audit_and_pg().await;
    pg.role(&app, "hidden", "2s", "1h").await;
    let (lease_id, user, _, _) = issue(&app, "hidden").await;
    app.edit_storage(
        "UPDATE leases SET due_at = due_at + 86400000 WHERE id = ?1",
        [&lease_id],
    );
    pg.wait_gone(&user, Duration::from_secs(8)).await;
    let l = app.core.leases.get(&lease_id).await.unwrap().unwrap();
    assert!(l.tampered_at.is_none(), "{l:?}");
    assert!(app.core.leases.verify_row(&l));
}
