//! Storage an attacker cannot forge (issue 17): sealed values are bound to where they live, so
//! a blob copied onto another row of the SQLite file does not open there; the keyring rotates
//! (`sys/rotate`, `sys/key-status`) with old values rewritten in the background; and a backup of
//! the SQLite file plus the key file restores into a new directory with its leases intact.

use std::time::Duration;

use rusqlite::{params, Connection};
use serde_json::json;

use crate::app::{issue, PgTarget, TestApp};

fn db(app_dir: &tempfile::TempDir) -> Connection {
    let conn = Connection::open(TestApp::db_path(app_dir)).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn kv_value(conn: &Connection, key: &str) -> Vec<u8> {
    conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
        .unwrap()
}

fn token_rows(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT key FROM kv WHERE key LIKE 'token/id/%' ORDER BY key")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The key term in a sealed value's header (format 2: 1 format byte, 4-byte term).
fn term(value: &[u8]) -> u32 {
    assert_eq!(value[0], 2, "not a format-2 value");
    u32::from_be_bytes(value[1..5].try_into().unwrap())
}

#[tokio::test]
async fn the_root_tokens_entry_copied_onto_a_weak_tokens_row_does_not_make_it_root() {
    let app = TestApp::spawn().await;
    let before = token_rows(&db(&app.dir));
    assert_eq!(before.len(), 1, "only the root token at first start");
    let root_row = before[0].clone();
    let v = app
        .ok("auth/token/create", json!({ "policies": ["default"] }))
        .await;
    let weak = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let weak_row = token_rows(&db(&app.dir))
        .into_iter()
        .find(|k| *k != root_row)
        .unwrap();
    let (s, _) = app.call_as("GET", "sys/mounts", None, Some(&weak)).await;
    assert_eq!(s, 403, "the weak token is weak to begin with");
    let (dir, root) = app.stop().await;
    {
        let conn = db(&dir);
        let root_entry = kv_value(&conn, &root_row);
        conn.execute(
            "UPDATE kv SET value = ?1 WHERE key = ?2",
            params![root_entry, weak_row],
        )
        .unwrap();
    }
    let app = TestApp::spawn_in(dir, Some(root)).await;
    let (s, v) = app.call_as("GET", "sys/mounts", None, Some(&weak)).await;
    assert_ne!(s, 200, "the weak token read sys/mounts: {v}");
    assert!(v.get("data").is_none(), "{v}");
    let (s, v) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&weak))
        .await;
    assert_ne!(s, 200, "{v}");
    assert!(!v.to_string().contains("\"root\""), "{v}");
    // Nor can it mint a root token.
    let (s, v) = app
        .call_as(
            "POST",
            "auth/token/create",
            Some(json!({ "policies": ["root"] })),
            Some(&weak),
        )
        .await;
    assert_ne!(s, 200, "{v}");
    // The root token itself is untouched.
    let (s, _) = app.get("sys/mounts").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_policy_blob_moved_to_another_name_is_refused() {
    let app = TestApp::spawn().await;
    app.ok(
        "sys/policies/acl/weak",
        json!({ "policy": "path \"secret/*\" { capabilities = [\"read\"] }" }),
    )
    .await;
    app.ok(
        "sys/policies/acl/strong",
        json!({ "policy": "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }" }),
    )
    .await;
    let v = app
        .ok("auth/token/create", json!({ "policies": ["weak"] }))
        .await;
    let weak = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, _) = app.call_as("GET", "sys/mounts", None, Some(&weak)).await;
    assert_eq!(s, 403);
    let (dir, root) = app.stop().await;
    {
        let conn = db(&dir);
        let strong = kv_value(&conn, "policy/acl/strong");
        let n = conn
            .execute(
                "UPDATE kv SET value = ?1 WHERE key = 'policy/acl/weak'",
                params![strong],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let app = TestApp::spawn_in(dir, Some(root)).await;
    let (s, v) = app.call_as("GET", "sys/mounts", None, Some(&weak)).await;
    assert_ne!(s, 200, "the moved policy granted sys/mounts: {v}");
    let (s, v) = app.get("sys/policies/acl/weak").await;
    assert_ne!(s, 200, "{v}");
    assert!(!v.to_string().contains("sudo"), "{v}");
    // The policy where it belongs still reads.
    let (s, v) = app.get("sys/policies/acl/strong").await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_leases_internal_data_moved_to_another_lease_does_not_destroy_the_wrong_account() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "swap", "1h", "2h").await;
    let (lease_a, user_a, pass_a, _) = issue(&app, "swap").await;
    let (lease_b, user_b, _, _) = issue(&app, "swap").await;
    {
        // Edited underneath the running server.
        let conn = db(&app.dir);
        let internal_a: Vec<u8> = conn
            .query_row(
                "SELECT internal FROM leases WHERE id = ?1",
                [&lease_a],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute(
            "UPDATE leases SET internal = ?1 WHERE id = ?2",
            params![internal_a, lease_b],
        )
        .unwrap();
    }
    let (s, v) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_b }))
        .await;
    assert_ne!(s, 204, "revoking with another lease's data succeeded: {v}");
    assert!(
        pg.can_login(&user_a, &pass_a).await,
        "lease A's account was destroyed by revoking lease B"
    );
    assert!(pg.role_exists(&user_b).await, "B is left for an operator");
    let l = app.core.leases.get(&lease_b).await.unwrap().unwrap();
    assert_ne!(l.state, leasehold::lease::LeaseState::Revoked);
    // Lease A, whose data is where it belongs, still revokes and destroys its own account.
    let (s, v) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_a }))
        .await;
    assert_eq!(s, 204, "{v}");
    pg.wait_gone(&user_a, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn rotation_adds_a_term_keeps_old_values_and_rewrites_them_in_the_background() {
    let app = TestApp::spawn().await;
    let (s, v) = app.get("sys/key-status").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["term"], 1, "{v}");
    assert_eq!(v["data"]["term"], 1, "{v}");
    assert!(v["install_time"].as_str().unwrap().contains('T'), "{v}");
    let first_install = v["install_time"].clone();
    app.ok(
        "sys/policies/acl/old",
        json!({ "policy": "path \"old/*\" { capabilities = [\"read\"] }" }),
    )
    .await;
    // A token with a TTL has a lease row whose internal data is sealed too.
    let v = app
        .ok(
            "auth/token/create",
            json!({ "policies": ["old"], "ttl": "1h" }),
        )
        .await;
    let old_token = v["auth"]["client_token"].as_str().unwrap().to_owned();

    // Not without sudo.
    let (s, _) = app
        .call_as("PUT", "sys/rotate", Some(json!({})), Some(&old_token))
        .await;
    assert_eq!(s, 403);
    let (s, v) = app.put("sys/rotate", json!({})).await;
    assert_eq!(s, 204, "{v}");
    let (_, v) = app.get("sys/key-status").await;
    assert_eq!(v["term"], 2, "{v}");
    assert_ne!(v["install_time"], first_install);

    app.ok(
        "sys/policies/acl/new",
        json!({ "policy": "path \"new/*\" { capabilities = [\"read\"] }" }),
    )
    .await;
    let new_value = kv_value(&db(&app.dir), "policy/acl/new");
    assert_eq!(term(&new_value), 2, "new writes use the new term");
    let (s, v) = app.get("sys/policies/acl/old").await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]["policy"].as_str().unwrap().contains("old/*"));

    // The background rewrite moves every value (entries and lease data) to term 2.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let conn = db(&app.dir);
        let mut terms: Vec<u32> = Vec::new();
        let mut stmt = conn
            .prepare("SELECT value FROM kv WHERE key != 'core/keyring' UNION ALL SELECT internal FROM leases")
            .unwrap();
        for v in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
            terms.push(term(&v.unwrap()));
        }
        assert!(terms.len() > 5, "{terms:?}");
        if terms.iter().all(|t| *t == 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "values still under term 1: {terms:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // After a restart, old and new read, and the token from before the rotation works.
    let (dir, root) = app.stop().await;
    let app = TestApp::spawn_in(dir, Some(root)).await;
    let (_, v) = app.get("sys/key-status").await;
    assert_eq!(v["term"], 2, "{v}");
    for name in ["old", "new"] {
        let (s, v) = app.get(&format!("sys/policies/acl/{name}")).await;
        assert_eq!(s, 200, "{v}");
        assert!(v["data"]["policy"]
            .as_str()
            .unwrap()
            .contains(&format!("{name}/*")));
    }
    let (s, v) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&old_token))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["policies"], json!(["default", "old"]));
    let (s, _) = app.put("sys/rotate", json!({})).await;
    assert_eq!(s, 204);
    let (_, v) = app.get("sys/key-status").await;
    assert_eq!(v["term"], 3, "{v}");
}

/// README "Backup and restore": `VACUUM INTO` a copy while the server runs, copy the key file,
/// start a server on the copy in another directory.
#[tokio::test]
async fn a_backup_of_the_sqlite_file_and_key_restores_with_leases_intact() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "kept", "8s", "1h").await;
    let (lease_id, user, pass, _) = issue(&app, "kept").await;

    let restored = std::sync::Arc::new(tempfile::tempdir().unwrap());
    {
        let conn = db(&app.dir);
        conn.execute(
            "VACUUM INTO ?1",
            [TestApp::db_path(&restored).to_str().unwrap()],
        )
        .unwrap();
    }
    std::fs::copy(app.dir.path().join("key"), restored.path().join("key")).unwrap();
    // The original stops before its lease expires, so only the restored server can end it.
    let (_old_dir, root) = app.stop().await;

    let app = TestApp::spawn_in(restored, Some(root)).await;
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]["ttl"].as_i64().unwrap() > 0, "{v}");
    assert!(pg.can_login(&user, &pass).await);
    pg.wait_gone(&user, Duration::from_secs(30)).await;
    assert!(!pg.can_login(&user, &pass).await);
    app.wait_lease_ended(&lease_id, Duration::from_secs(5))
        .await;
    let l = app.core.leases.get(&lease_id).await.unwrap().unwrap();
    assert_eq!(l.state, leasehold::lease::LeaseState::Revoked);
}

/// Turn a store written by this version back into what versions before issue 17 wrote: every
/// value sealed under the key file itself, without associated data, and no keyring.
async fn downgrade_to_format_1(dir: &tempfile::TempDir) {
    use leasehold::storage::keyring;
    use leasehold::storage::seal::{Aad, Seal};
    use leasehold::storage::Storage;
    let seal =
        Seal::from_key_file_contents(&std::fs::read(dir.path().join("key")).unwrap()).unwrap();
    {
        let storage: std::sync::Arc<dyn Storage> = std::sync::Arc::new(
            leasehold::storage::sqlite::SqliteStorage::open(&TestApp::db_path(dir)).unwrap(),
        );
        keyring::load(&seal, &storage, &leasehold::clock::SystemClock)
            .await
            .unwrap();
    }
    let conn = db(dir);
    let rows: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT key, value FROM kv WHERE key != 'core/keyring'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (key, value) in rows {
        let plain = seal.open(&value, &Aad::kv(&key)).unwrap();
        conn.execute(
            "UPDATE kv SET value = ?1 WHERE key = ?2",
            params![seal.seal_legacy(&plain).unwrap(), key],
        )
        .unwrap();
    }
    let leases: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT id, internal FROM leases")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, internal) in leases {
        let plain = seal.open(&internal, &Aad::lease(&id)).unwrap();
        conn.execute(
            "UPDATE leases SET internal = ?1 WHERE id = ?2",
            params![seal.seal_legacy(&plain).unwrap(), id],
        )
        .unwrap();
    }
    conn.execute("DELETE FROM kv WHERE key = 'core/keyring'", [])
        .unwrap();
}

#[tokio::test]
async fn a_store_from_before_issue_17_is_migrated_once_and_format_1_is_refused_afterwards() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "mig", "1h", "2h").await;
    let (lease_id, user, pass, _) = issue(&app, "mig").await;
    let root_row = token_rows(&db(&app.dir))[0].clone();
    let v = app
        .ok("auth/token/create", json!({ "policies": ["default"] }))
        .await;
    let weak = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let weak_row = token_rows(&db(&app.dir))
        .into_iter()
        .find(|k| *k != root_row)
        .unwrap();
    let (dir, root) = app.stop().await;
    downgrade_to_format_1(&dir).await;
    let legacy_root_entry = kv_value(&db(&dir), &root_row);
    assert_eq!(legacy_root_entry[0], 1);

    // First start of the new version: everything is rewritten, bound to its place.
    let app = TestApp::spawn_in(dir, Some(root)).await;
    {
        let conn = db(&app.dir);
        let mut stmt = conn
            .prepare("SELECT value FROM kv UNION ALL SELECT internal FROM leases")
            .unwrap();
        for v in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
            assert_eq!(v.unwrap()[0], 2, "a value left in format 1");
        }
    }
    let (s, _) = app.get("sys/mounts").await;
    assert_eq!(s, 200, "the root token survived the migration");
    let (s, v) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&weak))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["policies"], json!(["default"]));
    let (s, v) = app.lookup(&lease_id).await;
    assert_eq!(s, 200, "{v}");
    assert!(pg.can_login(&user, &pass).await);

    // A format-1 blob copied in afterwards (the root token's entry from an old backup, onto the
    // weak token's row) is refused: it is not migrated again, and not accepted.
    let (dir, root) = app.stop().await;
    db(&dir)
        .execute(
            "UPDATE kv SET value = ?1 WHERE key = ?2",
            params![legacy_root_entry, weak_row],
        )
        .unwrap();
    let app = TestApp::spawn_in(dir, Some(root)).await;
    assert_eq!(kv_value(&db(&app.dir), &weak_row)[0], 1, "migrated twice");
    let (s, v) = app.call_as("GET", "sys/mounts", None, Some(&weak)).await;
    assert_ne!(s, 200, "a format-1 root entry was accepted: {v}");

    // The migrated lease is still destroyed by its revocation.
    let (s, v) = app
        .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
        .await;
    assert_eq!(s, 204, "{v}");
    pg.wait_gone(&user, Duration::from_secs(10)).await;
    assert!(!pg.can_login(&user, &pass).await);
}
