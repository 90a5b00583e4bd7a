//! SQLite storage: the shared suite on a new file per case, and what only SQLite has.

use std::path::Path;

use rusqlite::Connection;

use super::schema::MIGRATIONS;
use super::SqliteStorage;
use crate::storage::suite;
use crate::storage::{ChangeFeed, ClusterStore, KvStore};

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

#[tokio::test]
async fn a_single_process_store_reports_no_change_feed() {
    let (_dir, s) = open();
    assert!(!s.shared());
    assert!(s.changes().is_none());
}
