//! The SQLite schema: numbered migrations, applied in order when the file is opened.

use rusqlite::Connection;

use super::err;
use crate::storage::StorageError;

/// Schema migrations, applied in order at open; `PRAGMA user_version` records how many ran.
/// Never edit one that has shipped: add the next.
pub(super) const MIGRATIONS: &[&str] = &[
    SCHEMA_V1,
    SCHEMA_V2,
    SCHEMA_V3,
    SCHEMA_V4_LEASE_ROW_MAC,
    SCHEMA_V5_LEASE_HISTORY,
    SCHEMA_V6_LIVE_INDEX,
    SCHEMA_V7_STABLE_INDEXES,
    SCHEMA_V8_LIVE_COUNTS,
];

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
/// (the lease engine's `stamp_untagged_rows`): storage does not hold the key.
const SCHEMA_V4_LEASE_ROW_MAC: &str = r#"
ALTER TABLE leases ADD COLUMN row_mac BLOB;
ALTER TABLE leases ADD COLUMN tampered_at INTEGER;
"#;

/// The access history (storage/history.rs): each lease row's trail, and one compact row per
/// ended lease, kept after the tombstone is tidied. `WITHOUT ROWID`: the primary key is the
/// paging order, so the table is its own time index. Tombstones written before this version
/// have no history row.
const SCHEMA_V5_LEASE_HISTORY: &str = r#"
ALTER TABLE leases ADD COLUMN trail TEXT;
CREATE TABLE lease_history (
    issued_at    INTEGER NOT NULL,
    id           TEXT NOT NULL,
    mount        TEXT NOT NULL,
    role         TEXT NOT NULL,
    workload     TEXT NOT NULL,
    account      TEXT NOT NULL,
    accessor     TEXT NOT NULL,
    purpose      TEXT,
    ticket       TEXT,
    expire_at    INTEGER NOT NULL,
    last_renewal INTEGER,
    ended_at     INTEGER NOT NULL,
    ending       INTEGER NOT NULL,
    renewals     INTEGER NOT NULL,
    approval_id  TEXT,
    requested_at INTEGER,
    approved_at  INTEGER,
    destroyed_by TEXT,
    sessions     INTEGER,
    verified_at  INTEGER,
    PRIMARY KEY (issued_at, id)
) WITHOUT ROWID;
CREATE INDEX lease_history_workload ON lease_history (workload) WHERE workload != '';
CREATE INDEX lease_history_account ON lease_history (account);
"#;

/// A lease-count quota counts live leases by id prefix (and role) as it admits each issue, on
/// the writer: from this index alone, without reading each row (13 ms → 1.6 ms at 10,000 live
/// leases, measured on a copy of the table).
const SCHEMA_V6_LIVE_INDEX: &str = r#"
CREATE INDEX leases_live ON leases (id, role) WHERE state != 'revoked' AND mount_path != 'auth/token/';
"#;

/// Indexes that an update need not rewrite. SQLite rewrites an index on every update that sets
/// a column the index names, in its key or in its `WHERE`, whatever the value; conditions on
/// `state` meant every claim, activation and renewal rewrote four indexes, two of them keyed on
/// random values (a page each per write). The token, workload and account indexes now cover
/// tombstones too (until tidied; their queries test the state on the row) and name only columns
/// fixed at insert; the live index's condition is `revoked_time IS NULL`, set only when a row
/// becomes `revoked` (every transition to `revoked` sets it, the one back clears it). Measured
/// in a burst of 10,000 expiries: BENCHMARKS.md.
const SCHEMA_V7_STABLE_INDEXES: &str = r#"
DROP INDEX leases_token;
CREATE INDEX leases_token ON leases (token_accessor);
DROP INDEX leases_workload;
CREATE INDEX leases_workload ON leases (workload) WHERE workload != '';
DROP INDEX leases_account;
CREATE INDEX leases_account ON leases (mount_path, account);
DROP INDEX leases_live;
CREATE INDEX leases_live ON leases (id, role) WHERE revoked_time IS NULL AND mount_path != 'auth/token/';
"#;

/// A lease-count quota's count, kept rather than counted: live secret leases (the rows whose
/// `revoked_time` is NULL, token rows aside) per request path and role, where the path is the
/// lease id up to its last `/` (`rtrim` by every character but `/`). Triggers keep it in the
/// transaction of every write to `leases`, whichever statement makes it. Counting the live
/// index instead cost every admission under a quota a walk over that quota's live leases, on
/// the writer thread, which holds up every write meanwhile: ~1.6 ms at 10,000 live leases, and
/// growing with them. The index had no other use, so it goes: its entry was a random page per
/// issue and per destruction, where a count row is one page per role.
const SCHEMA_V8_LIVE_COUNTS: &str = r#"
CREATE TABLE lease_live_counts (
    path TEXT NOT NULL,
    role TEXT NOT NULL,
    live INTEGER NOT NULL,
    PRIMARY KEY (path, role)
) WITHOUT ROWID;
INSERT INTO lease_live_counts (path, role, live)
    SELECT rtrim(id, replace(id, '/', '')), role, count(*) FROM leases
    WHERE revoked_time IS NULL AND mount_path != 'auth/token/'
    GROUP BY 1, 2;
CREATE TRIGGER leases_live_insert AFTER INSERT ON leases
    WHEN new.revoked_time IS NULL AND new.mount_path != 'auth/token/'
BEGIN
    INSERT INTO lease_live_counts (path, role, live)
        VALUES (rtrim(new.id, replace(new.id, '/', '')), new.role, 1)
        ON CONFLICT (path, role) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER leases_live_delete AFTER DELETE ON leases
    WHEN old.revoked_time IS NULL AND old.mount_path != 'auth/token/'
BEGIN
    UPDATE lease_live_counts SET live = live - 1
        WHERE path = rtrim(old.id, replace(old.id, '/', '')) AND role = old.role;
END;
CREATE TRIGGER leases_live_update AFTER UPDATE OF id, role, mount_path, revoked_time ON leases
BEGIN
    UPDATE lease_live_counts SET live = live - 1
        WHERE old.revoked_time IS NULL AND old.mount_path != 'auth/token/'
        AND path = rtrim(old.id, replace(old.id, '/', '')) AND role = old.role;
    INSERT INTO lease_live_counts (path, role, live)
        SELECT rtrim(new.id, replace(new.id, '/', '')), new.role, 1
        WHERE new.revoked_time IS NULL AND new.mount_path != 'auth/token/'
        ON CONFLICT (path, role) DO UPDATE SET live = live + 1;
END;
DROP INDEX leases_live;
"#;

/// Apply the migrations this file has not seen, each in its own transaction with its version.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
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
