//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL`, because the
//! write-ahead lease row must be on disk before the account it describes is created.
//!
//! Writes go to one writer thread that commits them in groups ([`writer`]): whatever arrived
//! while the last fsync ran is committed by the next one, each call in its own savepoint, so
//! concurrent issues share fsyncs instead of queueing for one each. Reads run on a small pool of
//! their own connections (WAL lets them see the last commit without waiting for the writer), so a
//! long read such as the metrics' lease counts never holds up an issue.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row};
use tokio::sync::Semaphore;

use super::writer::Writer;
use super::{
    ClaimOne, LeaseCount, NodeRecord, Storage, StorageChange, StorageError, CREATION_ABANDONED,
};
use crate::lease::model::{LeaseRecord, LeaseState};

/// Schema migrations, applied in order at open; `PRAGMA user_version` records how many ran.
/// Never edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4_LEASE_ROW_MAC];

const SCHEMA_V1: &str = r#"
CREATE TABLE IF NOT EXISTS kv (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    id              TEXT PRIMARY KEY,
    mount_uuid      TEXT NOT NULL,
    mount_path      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    role            TEXT NOT NULL,
    account         TEXT NOT NULL,
    state           TEXT NOT NULL,
    issue_time      INTEGER NOT NULL,
    expire_time     INTEGER NOT NULL,
    max_expire_time INTEGER NOT NULL,
    last_renewal    INTEGER,
    role_ttl_secs   INTEGER NOT NULL,
    renewable       INTEGER NOT NULL,
    due_at          INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    revoked_time    INTEGER,
    forced          INTEGER NOT NULL DEFAULT 0,
    token_accessor  TEXT NOT NULL,
    internal        BLOB NOT NULL,
    workload        TEXT NOT NULL DEFAULT '',
    purpose         TEXT,
    ticket          TEXT
);
-- The expiry queue: only rows with work to do carry a due_at.
CREATE INDEX IF NOT EXISTS leases_due ON leases (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS leases_state_revoked ON leases (state, revoked_time);
-- Token and workload revocation find a token's or workload's leases without a scan.
CREATE INDEX IF NOT EXISTS leases_token ON leases (token_accessor) WHERE state != 'revoked';
CREATE INDEX IF NOT EXISTS leases_workload ON leases (workload) WHERE workload != '' AND state != 'revoked';
"#;

/// Claims name their node; nodes heartbeat; named locks (the leader's, rotations').
const SCHEMA_V2: &str = r#"
ALTER TABLE leases ADD COLUMN claimed_by TEXT;
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    api_addr     TEXT NOT NULL,
    version      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
CREATE TABLE locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
"#;

/// Reconciliation asks which accounts of a mount are leased.
const SCHEMA_V3: &str = r#"
CREATE INDEX leases_account ON leases (mount_path, account) WHERE state != 'revoked';
"#;

/// Lease rows carry an integrity tag, and the engine's verdict when it does not match. Existing
/// rows get their tag from the engine at the first start of this version
/// ([`crate::lease::LeaseEngine::stamp_untagged_rows`]): storage does not hold the key.
const SCHEMA_V4_LEASE_ROW_MAC: &str = r#"
ALTER TABLE leases ADD COLUMN row_mac BLOB;
ALTER TABLE leases ADD COLUMN tampered_at INTEGER;
"#;

/// Accounts asked about per statement in `lease_live_accounts` (SQLite allows 32766 variables).
const ACCOUNT_CHUNK: usize = 500;

const LEASE_COLUMNS: &str = "id, mount_uuid, mount_path, kind, role, account, state, issue_time, \
    expire_time, max_expire_time, last_renewal, role_ttl_secs, renewable, due_at, attempts, \
    last_error, revoked_time, forced, token_accessor, internal, workload, purpose, ticket, claimed_by, \
    row_mac, tampered_at";

/// Prepared statements kept per connection (more than the storage has statements, so none is
/// parsed twice; `lease_live_accounts` adds one per chunk size).
const STATEMENT_CACHE: usize = 64;

/// Bytes of the file each connection reads through a memory map instead of `pread` copies:
/// every connection's page cache is dropped whenever another commits, so without it each read
/// after a write copied its pages in again (a tenth of the server's CPU in the issue profile).
const MMAP_SIZE: i64 = 1 << 30;

/// Read connections at most (each read holds one for its duration).
const READERS: usize = 4;

/// SQLite storage in one file.
#[derive(Clone)]
pub struct SqliteStorage {
    writer: Writer,
    /// `None` for `:memory:`, whose database exists only on the writer's connection.
    readers: Option<Arc<ReadPool>>,
}

/// Read-only connections to the same file, opened as needed up to [`READERS`].
struct ReadPool {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReadPool {
    fn checkout(&self) -> Result<Connection, StorageError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(err)?;
                c.pragma_update(None, "busy_timeout", 5000).map_err(err)?;
                c.pragma_update(None, "mmap_size", MMAP_SIZE).map_err(err)?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                Ok(c)
            }
        }
    }

    fn checkin(&self, c: Connection) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    }
}

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(format!("sqlite: {e}"))
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn opt_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}

fn lease_from_row(row: &Row<'_>) -> rusqlite::Result<LeaseRecord> {
    let state: String = row.get(6)?;
    Ok(LeaseRecord {
        id: row.get(0)?,
        mount_uuid: row.get(1)?,
        mount_path: row.get(2)?,
        kind: row.get(3)?,
        role: row.get(4)?,
        account: row.get(5)?,
        // An unknown state can only come from a newer schema; treat it as needing destruction.
        state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
        issue_time: time(row.get(7)?),
        expire_time: time(row.get(8)?),
        max_expire_time: time(row.get(9)?),
        last_renewal: opt_time(row.get(10)?),
        role_ttl_secs: row.get(11)?,
        renewable: row.get(12)?,
        due_at: opt_time(row.get(13)?),
        attempts: row.get(14)?,
        last_error: row.get(15)?,
        revoked_time: opt_time(row.get(16)?),
        forced: row.get(17)?,
        token_accessor: row.get(18)?,
        internal: row.get(19)?,
        workload: row.get(20)?,
        purpose: row.get(21)?,
        ticket: row.get(22)?,
        claimed_by: row.get(23)?,
        row_mac: row.get(24)?,
        tampered_at: opt_time(row.get(25)?),
    })
}

impl SqliteStorage {
    /// Open (creating if needed) the database file and apply the schema.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let memory = path.as_os_str() == ":memory:";
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        if !memory {
            create_private(path)?;
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        if !memory {
            restrict_files(path)?;
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "busy_timeout", 5000)
            .map_err(err)?;
        migrate(&mut conn)?;
        conn.pragma_update(None, "mmap_size", MMAP_SIZE)
            .map_err(err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let readers = (!memory).then(|| {
            Arc::new(ReadPool {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
            })
        });
        Ok(Self {
            writer: Writer::start(conn)?,
            readers,
        })
    }

    /// Run `f` in the next group commit; its changes are durable when this returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Run the read-only `f` on a read connection; it sees every write that has returned.
    async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let Some(pool) = self.readers.clone() else {
            return self.writer.run(f).await;
        };
        let held = pool.clone();
        let _permit = held.permits.acquire().await.map_err(err)?;
        tokio::task::spawn_blocking(move || {
            let conn = pool.checkout()?;
            let out = f(&conn);
            pool.checkin(conn);
            out
        })
        .await
        .map_err(err)?
    }

    /// `(key, value)` pairs from a keyset-paged `sql` (`?1` = after, `?2` = limit).
    async fn scan_pairs(
        &self,
        sql: &'static str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let after = after.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c: &Connection| {
            let mut stmt = c.prepare_cached(sql).map_err(err)?;
            let rows = stmt
                .query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    /// A compare-and-put `sql` (`?1` = key, `?2` = expected, `?3` = new value): true when the
    /// row still held `expected` and now holds `value`.
    async fn swap_if_equal(
        &self,
        sql: &'static str,
        key: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError> {
        let key = key.to_owned();
        self.write(move |c: &Connection| {
            c.exec(sql, params![key, expected, value])
                .map(|changed| changed == 1)
                .map_err(err)
        })
        .await
    }
}

/// Create the database file 0600 before SQLite opens it. SQLite gives the `-wal` and `-shm` files
/// it creates later the mode of the database file, so this one choice covers all three; a process
/// umask is not relied on (it is the operator's, and would also narrow files that are not ours).
fn create_private(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StorageError(format!(
            "sqlite: cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Narrow the database, `-wal` and `-shm` files to 0600 when they are wider: files an older
/// version created 0644 are fixed on the first start of this one. The sealed values were never
/// readable, but lease rows (accounts, accessors, workloads) and token-hash rows were.
fn restrict_files(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    StorageError(format!(
                        "sqlite: cannot make {} private: {e}",
                        file.display()
                    ))
                },
            )?;
        }
    }
    Ok(())
}

/// Apply the migrations this file has not seen, each in its own transaction with its version.
fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let done: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    let done = usize::try_from(done).unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(StorageError(format!(
            "sqlite: the storage file has schema version {done}, newer than this build's {}; \
             run a newer leasehold",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

fn node_from_row(r: &Row<'_>) -> rusqlite::Result<NodeRecord> {
    Ok(NodeRecord {
        id: r.get(0)?,
        hostname: r.get(1)?,
        api_addr: r.get(2)?,
        version: r.get(3)?,
        started_at: time(r.get(4)?),
        heartbeat_at: time(r.get(5)?),
    })
}

/// A lease's column values, in `LEASE_COLUMNS` order (`?1`..`?26` in the statements below).
fn lease_values(l: &LeaseRecord) -> Vec<SqlValue> {
    vec![
        l.id.clone().into(),
        l.mount_uuid.clone().into(),
        l.mount_path.clone().into(),
        l.kind.clone().into(),
        l.role.clone().into(),
        l.account.clone().into(),
        l.state.as_str().to_owned().into(),
        millis(l.issue_time).into(),
        millis(l.expire_time).into(),
        millis(l.max_expire_time).into(),
        l.last_renewal.map(millis).into(),
        l.role_ttl_secs.into(),
        l.renewable.into(),
        l.due_at.map(millis).into(),
        l.attempts.into(),
        l.last_error.clone().into(),
        l.revoked_time.map(millis).into(),
        l.forced.into(),
        l.token_accessor.clone().into(),
        l.internal.clone().into(),
        l.workload.clone().into(),
        l.purpose.clone().into(),
        l.ticket.clone().into(),
        l.claimed_by.clone().into(),
        l.row_mac.clone().into(),
        l.tampered_at.map(millis).into(),
    ]
}

/// Every statement through the connection's statement cache: the same few statements run on
/// every issue, and parsing them again each time showed in the profile.
trait Cached {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_owned();
        self.read(move |c: &Connection| {
            c.row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(err)
        })
        .await
    }

    async fn kv_put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.write(move |c: &Connection| {
            c.exec(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn kv_compare_and_put(
        &self,
        key: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError> {
        self.swap_if_equal(
            "UPDATE kv SET value = ?3 WHERE key = ?1 AND value = ?2",
            key,
            expected,
            value,
        )
        .await
    }

    async fn kv_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.scan_pairs(
            "SELECT key, value FROM kv WHERE key > ?1 ORDER BY key LIMIT ?2",
            after,
            limit,
        )
        .await
    }

    async fn lease_internal_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.scan_pairs(
            "SELECT id, internal FROM leases WHERE id > ?1 ORDER BY id LIMIT ?2",
            after,
            limit,
        )
        .await
    }

    async fn lease_internal_compare_and_put(
        &self,
        id: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError> {
        self.swap_if_equal(
            "UPDATE leases SET internal = ?3 WHERE id = ?1 AND internal = ?2",
            id,
            expected,
            value,
        )
        .await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.write(move |c: &Connection| {
            c.exec("DELETE FROM kv WHERE key = ?1", [key])
                .map(|_| ())
                .map_err(err)
        })
        .await
    }

    async fn kv_list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
                )
                .map_err(err)?;
            let keys = stmt
                .query_map([&prefix], |r| r.get::<_, String>(0))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            let mut out: Vec<String> = Vec::new();
            for key in keys {
                let rest = key.get(prefix.len()..).unwrap_or_default();
                let child = match rest.find('/') {
                    Some(i) => rest.get(..=i).unwrap_or(rest).to_owned(),
                    None => rest.to_owned(),
                };
                if !child.is_empty() && out.last() != Some(&child) {
                    out.push(child);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn kv_delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let prefix = prefix.to_owned();
        self.write(move |c: &Connection| {
            c.exec(
                "DELETE FROM kv WHERE substr(key, 1, length(?1)) = ?1",
                [prefix],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn lease_insert(&self, lease: &LeaseRecord) -> Result<(), StorageError> {
        let lease = lease.clone();
        self.write(move |c: &Connection| {
            let sql = format!(
                "INSERT INTO leases ({LEASE_COLUMNS}) VALUES \
                 (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26)"
            );
            c.exec(&sql, params_from_iter(lease_values(&lease)))
                .map(|_| ())
                .map_err(err)
        })
        .await
    }

    async fn lease_get(&self, id: &str) -> Result<Option<LeaseRecord>, StorageError> {
        let id = id.to_owned();
        self.read(move |c: &Connection| {
            c.row(
                &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = ?1"),
                [id],
                lease_from_row,
            )
            .optional()
            .map_err(err)
        })
        .await
    }

    async fn lease_update(
        &self,
        lease: &LeaseRecord,
        expected: LeaseState,
    ) -> Result<bool, StorageError> {
        let lease = lease.clone();
        self.write(move |c: &Connection| {
            let sql = "UPDATE leases SET mount_uuid=?2, mount_path=?3, kind=?4, role=?5, \
                account=?6, state=?7, issue_time=?8, expire_time=?9, max_expire_time=?10, \
                last_renewal=?11, role_ttl_secs=?12, renewable=?13, due_at=?14, attempts=?15, \
                last_error=?16, revoked_time=?17, forced=?18, token_accessor=?19, internal=?20, workload=?21, purpose=?22, ticket=?23, claimed_by=?24, \
                row_mac=?25, tampered_at=?26 WHERE id=?1 AND state=?27";
            let mut values = lease_values(&lease);
            values.push(expected.as_str().to_owned().into());
            c.exec(sql, params_from_iter(values))
                .map(|n| n == 1)
                .map_err(err)
        })
        .await
    }

    async fn lease_list_live(&self, prefix: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let prefix = prefix.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases \
                     WHERE substr(id, 1, length(?1)) = ?1 AND state != 'revoked' ORDER BY id"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([prefix], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_count_live(
        &self,
        prefix: &str,
        role: Option<&str>,
    ) -> Result<u64, StorageError> {
        let (prefix, role) = (prefix.to_owned(), role.map(str::to_owned));
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT count(*) FROM leases WHERE substr(id, 1, length(?1)) = ?1 \
                     AND state != 'revoked' AND mount_path != 'auth/token/' \
                     AND (?2 IS NULL OR role = ?2)",
                )
                .map_err(err)?;
            let n: i64 = stmt
                .query_row(rusqlite::params![prefix, role], |r| r.get(0))
                .map_err(err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn lease_list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let accessor = accessor.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases \
                     WHERE token_accessor = ?1 AND state != 'revoked' ORDER BY id"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([accessor], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_list_by_workload(
        &self,
        workload: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let workload = workload.trim_end_matches('/').to_owned();
        self.read(move |c: &Connection| {
            // The workload itself, or anything below it at a segment boundary.
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE workload != '' AND state != 'revoked' \
                     AND (workload = ?1 OR substr(workload, 1, length(?1) + 1) = ?1 || '/') ORDER BY id"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([workload], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_live_accounts(
        &self,
        mount_path: &str,
        accounts: &[String],
    ) -> Result<std::collections::HashSet<String>, StorageError> {
        let (mount_path, accounts) = (mount_path.to_owned(), accounts.to_vec());
        self.read(move |c: &Connection| {
            let mut live = std::collections::HashSet::new();
            for chunk in accounts.chunks(ACCOUNT_CHUNK) {
                let marks = vec!["?"; chunk.len()].join(",");
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT account FROM leases WHERE mount_path = ? AND state != 'revoked' \
                         AND account IN ({marks})"
                    ))
                    .map_err(err)?;
                let params = std::iter::once(&mount_path).chain(chunk.iter());
                let found = stmt
                    .query_map(params_from_iter(params), |r| r.get::<_, String>(0))
                    .map_err(err)?;
                for account in found {
                    live.insert(account.map_err(err)?);
                }
            }
            Ok(live)
        })
        .await
    }

    async fn lease_claim_due(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: usize,
        node: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let node = node.to_owned();
        self.write(move |c: &Connection| {
            // Atomic without a transaction of its own: the writer runs each call in a savepoint.
            let mut claimed = {
                // `+state` keeps the planner off the state index, which would visit every active
                // lease and sort them: the queue must be read from `leases_due`, in order.
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {LEASE_COLUMNS} FROM leases WHERE due_at IS NOT NULL \
                         AND due_at <= ?1 AND +state IN ('creating','active','revoking') \
                         ORDER BY due_at LIMIT ?2"
                    ))
                    .map_err(err)?;
                let rows = stmt
                    .query_map(params![millis(now), limit as i64], lease_from_row)
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                rows
            };
            for lease in &mut claimed {
                c.exec(
                    "UPDATE leases SET state='revoking', due_at=?2, claimed_by=?3 WHERE id=?1",
                    params![lease.id, millis(claim_until), node],
                )
                .map_err(err)?;
                if lease.state == LeaseState::Creating && lease.last_error.is_none() {
                    lease.last_error = Some(CREATION_ABANDONED.into());
                    c.exec(
                        "UPDATE leases SET last_error=?2 WHERE id=?1",
                        params![lease.id, CREATION_ABANDONED],
                    )
                    .map_err(err)?;
                }
                lease.state = LeaseState::Revoking;
                lease.due_at = Some(claim_until);
                lease.claimed_by = Some(node.clone());
            }
            Ok(claimed)
        })
        .await
    }

    async fn lease_claim_one(
        &self,
        id: &str,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        node: &str,
    ) -> Result<ClaimOne, StorageError> {
        let (id, node) = (id.to_owned(), node.to_owned());
        self.write(move |c: &Connection| {
            let found = c
                .query_row(
                    &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = ?1"),
                    [&id],
                    lease_from_row,
                )
                .optional()
                .map_err(err)?;
            let Some(mut lease) = found else {
                return Ok(ClaimOne::Missing);
            };
            let free = match lease.state {
                LeaseState::Revoked => return Ok(ClaimOne::Revoked(lease)),
                LeaseState::Active => true,
                LeaseState::Creating | LeaseState::Revoking => {
                    lease.claimed_by.is_none()
                        || lease.claimed_by.as_deref() == Some(node.as_str())
                        || lease.due_at.is_some_and(|d| d <= now)
                }
            };
            if !free {
                return Ok(ClaimOne::Busy(lease));
            }
            c.exec(
                "UPDATE leases SET state='revoking', due_at=?2, claimed_by=?3 WHERE id=?1",
                params![id, millis(claim_until), node],
            )
            .map_err(err)?;
            lease.state = LeaseState::Revoking;
            lease.due_at = Some(claim_until);
            lease.claimed_by = Some(node);
            Ok(ClaimOne::Claimed(lease))
        })
        .await
    }

    async fn lease_release_dead_claims(
        &self,
        now: DateTime<Utc>,
        alive_since: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET due_at=?1, claimed_by=NULL \
                 WHERE claimed_by IS NOT NULL AND state IN ('creating','revoking') \
                 AND claimed_by NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= ?2)",
                params![millis(now), millis(alive_since)],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }

    async fn lease_next_due(&self) -> Result<Option<DateTime<Utc>>, StorageError> {
        self.read(|c: &Connection| {
            c.row(
                "SELECT min(due_at) FROM leases WHERE due_at IS NOT NULL \
                 AND +state IN ('creating','active','revoking')",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(opt_time)
            .map_err(err)
        })
        .await
    }

    async fn lease_recover_creating(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET state='revoking', due_at=?1, \
                 last_error=coalesce(last_error, ?2), claimed_by=NULL \
                 WHERE state='creating'",
                params![millis(now), CREATION_ABANDONED],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }

    async fn lease_release_claims(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET due_at=?1, claimed_by=NULL WHERE state='revoking' AND due_at > ?1",
                [millis(now)],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }

    async fn lease_irrevocable(
        &self,
        min_attempts: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE (state='revoking' AND attempts >= ?1) \
                     OR (tampered_at IS NOT NULL AND state != 'revoked') \
                     ORDER BY expire_time, id LIMIT ?2"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map(params![min_attempts, limit as i64], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_flag_tampered(&self, id: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET tampered_at = coalesce(tampered_at, ?2), due_at = NULL, \
                 claimed_by = NULL WHERE id = ?1 AND state != 'revoked'",
                params![id, millis(now)],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn lease_page_live(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let after = after.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE id > ?1 AND state != 'revoked' \
                     ORDER BY id LIMIT ?2"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map(params![after, limit as i64], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(rows)
        })
        .await
    }

    async fn lease_untagged(&self, limit: usize) -> Result<Vec<LeaseRecord>, StorageError> {
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE row_mac IS NULL ORDER BY id LIMIT ?1"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([limit as i64], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(rows)
        })
        .await
    }

    async fn lease_set_row_macs(&self, tags: Vec<(String, Vec<u8>)>) -> Result<u64, StorageError> {
        // The writer runs each closure inside its group-commit transaction.
        self.write(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached("UPDATE leases SET row_mac = ?2 WHERE id = ?1 AND row_mac IS NULL")
                .map_err(err)?;
            let mut n = 0u64;
            for (id, mac) in tags {
                n += stmt.execute(params![id, mac]).map_err(err)? as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn lease_any_tagged(&self) -> Result<bool, StorageError> {
        self.read(move |c: &Connection| {
            c.row(
                "SELECT EXISTS (SELECT 1 FROM leases WHERE row_mac IS NOT NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(err)
        })
        .await
    }

    async fn lease_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "DELETE FROM leases WHERE state='revoked' AND revoked_time < ?1",
                [millis(before)],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }

    async fn lease_counts(&self, irrevocable_after: i64) -> Result<Vec<LeaseCount>, StorageError> {
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT mount_path, role, state, state = 'revoking' AND attempts >= ?1, count(*) \
                     FROM leases GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([irrevocable_after], |r| {
                    let state: String = r.get(2)?;
                    Ok(LeaseCount {
                        mount_path: r.get(0)?,
                        role: r.get(1)?,
                        // As in lease_from_row: an unknown state needs destruction.
                        state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
                        irrevocable: r.get(3)?,
                        count: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    })
                })
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }
    fn shared(&self) -> bool {
        false
    }

    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StorageError> {
        let node = node.clone();
        self.write(move |c: &Connection| {
            c.exec(
                "INSERT INTO nodes (id, hostname, api_addr, version, started_at, heartbeat_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET \
                 hostname=excluded.hostname, api_addr=excluded.api_addr, \
                 version=excluded.version, heartbeat_at=excluded.heartbeat_at",
                params![
                    node.id,
                    node.hostname,
                    node.api_addr,
                    node.version,
                    millis(node.started_at),
                    millis(node.heartbeat_at)
                ],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn node_list(&self) -> Result<Vec<NodeRecord>, StorageError> {
        self.read(|c: &Connection| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, hostname, api_addr, version, started_at, heartbeat_at \
                     FROM nodes ORDER BY id",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], node_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn node_remove(&self, id: &str) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.write(move |c: &Connection| {
            c.exec("DELETE FROM nodes WHERE id = ?1", [id])
                .map(|_| ())
                .map_err(err)
        })
        .await
    }

    async fn lock_try(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c: &Connection| {
            c.exec(
                "INSERT INTO locks (name, holder, expires_at) VALUES (?1, ?2, ?4) \
                 ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, \
                 expires_at=excluded.expires_at \
                 WHERE locks.holder = excluded.holder OR locks.expires_at <= ?3",
                params![name, holder, millis(now), millis(until)],
            )
            .map(|n| n == 1)
            .map_err(err)
        })
        .await
    }

    async fn lock_release(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c: &Connection| {
            c.exec(
                "DELETE FROM locks WHERE name = ?1 AND holder = ?2",
                [name, holder],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn lock_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        let name = name.to_owned();
        self.read(move |c: &Connection| {
            c.row(
                "SELECT holder FROM locks WHERE name = ?1 AND expires_at > ?2",
                params![name, millis(now)],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)
        })
        .await
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StorageChange>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::suite;

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
}
