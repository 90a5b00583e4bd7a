//! SQLite storage: the shared suite on a new file per case, and what only SQLite has.

use std::path::Path;

use rusqlite::Connection;

use super::schema::MIGRATIONS;
use super::SqliteStorage;
use crate::storage::suite;
use crate::storage::{ChangeFeed, ClusterStore, KvStore, LeaseStore};

fn open() -> (tempfile::TempDir, SqliteStorage) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(&dir.path().join("t.db")).unwrap();
    (dir, s)
}

/// One `#[tokio::test]` per case of the shared suite, each on a new file.
macro_rules! suite_tests {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let (_dir, s) = open();
            suite::$case(&s).await;
        }
    )*};
}
crate::storage::suite::for_each_case!(suite_tests);

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn database_wal_and_shm_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = SqliteStorage::open(&path).unwrap();
    s.kv_put("k", b"v".to_vec()).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("t.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    drop(s);

    // A file an older version left 0644 is narrowed at the next open.
    use std::os::unix::fs::PermissionsExt;
    let old = dir.path().join("old.db");
    drop(SqliteStorage::open(&old).unwrap());
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = SqliteStorage::open(&old).unwrap();
    s.kv_put("k", b"v".to_vec()).await.unwrap();
    assert_eq!(mode(&old), 0o600);
    assert_eq!(mode(&dir.path().join("old.db-wal")), 0o600);
}

#[test]
fn reopening_keeps_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(SqliteStorage::open(&path).unwrap());
    // A second open must not rerun the migrations (ALTER TABLE would fail).
    drop(SqliteStorage::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len() as i64);
}

/// A file written before schema v7 (indexes conditioned on `state`) gets the indexes keyed on
/// what no update of a live row sets, and counts the same afterwards.
#[tokio::test]
async fn a_file_from_before_v7_gets_its_stable_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = SqliteStorage::open(&path).unwrap();
    let now = chrono::Utc::now();
    let mut live = suite::lease("database/creds/ro/1", now);
    live.role = "ro".into();
    s.lease_insert(&live).await.unwrap();
    let mut ended = suite::lease("database/creds/ro/2", now);
    ended.role = "ro".into();
    ended.state = crate::storage::LeaseState::Revoked;
    ended.revoked_time = Some(now);
    s.lease_insert(&ended).await.unwrap();
    drop(s);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(UNDO_V8).unwrap();
    conn.execute_batch(
        "DROP INDEX leases_token; DROP INDEX leases_workload; DROP INDEX leases_account; \
         DROP INDEX leases_live; PRAGMA user_version = 6;",
    )
    .unwrap();
    for sql in &MIGRATIONS[..6] {
        // The v6 indexes, as that version made them (the statements are IF NOT EXISTS or new).
        for stmt in sql.split(';').filter(|s| s.contains("CREATE INDEX")) {
            if [
                "leases_token",
                "leases_workload",
                "leases_account",
                "leases_live",
            ]
            .iter()
            .any(|name| stmt.contains(name))
            {
                conn.execute_batch(stmt).unwrap();
            }
        }
    }
    let indexed = |conn: &Connection| -> String {
        conn.query_row(
            "SELECT group_concat(sql, ';') FROM sqlite_master WHERE name IN \
             ('leases_token', 'leases_workload', 'leases_account', 'leases_live')",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(indexed(&conn).contains("state != 'revoked'"));
    drop(conn);

    let s = SqliteStorage::open(&path).unwrap();
    assert_eq!(
        s.lease_count_live("database/", Some("ro")).await.unwrap(),
        1
    );
    let conn = Connection::open(&path).unwrap();
    let now_indexed = indexed(&conn);
    assert!(!now_indexed.contains("state"), "{now_indexed}");
}

/// Schema v8 undone: the kept counts and their triggers gone, v7's live index back.
const UNDO_V8: &str = "DROP TRIGGER leases_live_insert; DROP TRIGGER leases_live_delete; \
     DROP TRIGGER leases_live_update; DROP TABLE lease_live_counts; \
     CREATE INDEX leases_live ON leases (id, role) \
     WHERE revoked_time IS NULL AND mount_path != 'auth/token/'; PRAGMA user_version = 7;";

/// A file from before schema v8 gets its live counts from its rows (tombstones and token rows
/// left out), keeps them from then on through inserts, updates and deletes, and loses the live
/// index, which nothing reads any more.
#[tokio::test]
async fn a_file_from_before_v8_counts_its_live_leases_from_its_rows() {
    use crate::storage::LeaseState;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = SqliteStorage::open(&path).unwrap();
    let now = chrono::Utc::now();
    suite::insert_leases_and_a_token_row(
        &s,
        &[
            ("database/creds/ro/1", "ro", LeaseState::Creating),
            ("database/creds/ro/2", "ro", LeaseState::Active),
            ("database/creds/ro/3", "ro", LeaseState::Revoked),
            ("database/creds/rw/1", "rw", LeaseState::Revoking),
            ("db2/creds/ro/1", "ro", LeaseState::Active),
        ],
        now,
    )
    .await;
    drop(s);
    Connection::open(&path)
        .unwrap()
        .execute_batch(UNDO_V8)
        .unwrap();

    let s = SqliteStorage::open(&path).unwrap();
    let count = |prefix: &'static str, role: Option<&'static str>| {
        let s = s.clone();
        async move { s.lease_count_live(prefix, role).await.unwrap() }
    };
    assert_eq!(count("database/", Some("ro")).await, 2);
    assert_eq!(count("database/", None).await, 3);
    assert_eq!(count("", Some("ro")).await, 3);
    assert_eq!(count("", None).await, 4);
    let conn = Connection::open(&path).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'leases_live'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the live index is dropped");

    // From here on the triggers keep the counts: an insert, an end, a delete of a live row.
    let mut l = suite::lease("database/creds/ro/4", now);
    l.role = "ro".into();
    s.lease_insert(&l).await.unwrap();
    assert_eq!(count("database/", Some("ro")).await, 3);
    let mut ended = s.lease_get("database/creds/ro/2").await.unwrap().unwrap();
    ended.state = LeaseState::Revoked;
    ended.revoked_time = Some(now);
    assert!(s.lease_update(&ended, LeaseState::Active).await.unwrap());
    assert_eq!(count("database/", Some("ro")).await, 2);
    conn.execute("DELETE FROM leases WHERE id = 'database/creds/ro/1'", [])
        .unwrap();
    assert_eq!(count("database/", Some("ro")).await, 1);
    // A tombstone's delete (tidy) changes nothing.
    conn.execute("DELETE FROM leases WHERE id = 'database/creds/ro/3'", [])
        .unwrap();
    assert_eq!(count("database/", None).await, 2);
}

#[tokio::test]
async fn a_single_process_store_reports_no_change_feed() {
    let (_dir, s) = open();
    assert!(!s.shared());
    assert!(s.changes().is_none());
}

/// The writer's savepoints keep their sub-journals in memory: a large call (a claim of many due
/// rows) would otherwise spill to a temporary file and write every later page of its
/// transaction there too (BENCHMARKS.md, "sixth round").
#[tokio::test]
async fn the_writer_keeps_temporary_data_in_memory() {
    let (_dir, s) = open();
    let temp_store: i64 = s
        .write(|c: &Connection| {
            c.pragma_query_value(None, "temp_store", |r| r.get(0))
                .map_err(super::err)
        })
        .await
        .unwrap();
    assert_eq!(temp_store, 2, "PRAGMA temp_store = MEMORY");
}
