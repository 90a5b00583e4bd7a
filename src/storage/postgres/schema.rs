//! The PostgreSQL schema: numbered migrations, applied once across nodes under an advisory lock.

use deadpool_postgres::Pool;

use super::{pg_err, pool_err};
use crate::storage::StorageError;

/// Numbered migrations; `leasehold_schema.version` records how many ran. Never edit one that has
/// shipped: add the next.
const MIGRATIONS: &[&str] = &[
    SCHEMA_V1,
    SCHEMA_V2,
    SCHEMA_V3_LEASE_ROW_MAC,
    SCHEMA_V4_LEASE_HISTORY,
    SCHEMA_V5_LIVE_INDEX,
];

/// The schema version this build migrates to.
#[cfg(test)]
pub(crate) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Any 64-bit number of our own: the advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6c65_6173_6568_6f6c; // "leasehol"

const SCHEMA_V1: &str = r#"
CREATE TABLE kv (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE leases (
    id              TEXT COLLATE "C" PRIMARY KEY,
    mount_uuid      TEXT NOT NULL,
    mount_path      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    role            TEXT NOT NULL,
    account         TEXT NOT NULL,
    state           TEXT NOT NULL,
    issue_time      BIGINT NOT NULL,
    expire_time     BIGINT NOT NULL,
    max_expire_time BIGINT NOT NULL,
    last_renewal    BIGINT,
    role_ttl_secs   BIGINT NOT NULL,
    renewable       BOOLEAN NOT NULL,
    due_at          BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    revoked_time    BIGINT,
    forced          BOOLEAN NOT NULL DEFAULT false,
    token_accessor  TEXT NOT NULL,
    internal        BYTEA NOT NULL,
    workload        TEXT COLLATE "C" NOT NULL DEFAULT '',
    purpose         TEXT,
    ticket          TEXT,
    claimed_by      TEXT
);
-- The expiry queue: only rows with work to do carry a due_at.
CREATE INDEX leases_due ON leases (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX leases_state_revoked ON leases (state, revoked_time);
CREATE INDEX leases_token ON leases (token_accessor) WHERE state <> 'revoked';
CREATE INDEX leases_workload ON leases (workload) WHERE workload <> '' AND state <> 'revoked';
CREATE INDEX leases_claimed ON leases (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    api_addr     TEXT NOT NULL,
    version      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE TABLE locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
-- Tell the other nodes which key changed; they skip what their own sessions wrote.
CREATE FUNCTION leasehold_kv_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    k text := CASE WHEN TG_OP = 'DELETE' THEN OLD.key ELSE NEW.key END;
BEGIN
    IF octet_length(k) > 7000 THEN
        k := '*';
    END IF;
    PERFORM pg_notify('leasehold_kv', coalesce(current_setting('leasehold.origin', true), '') || ' ' || k);
    RETURN NULL;
END
$fn$;
CREATE TRIGGER kv_notify AFTER INSERT OR UPDATE OR DELETE ON kv
    FOR EACH ROW EXECUTE FUNCTION leasehold_kv_notify();
"#;

/// Reconciliation asks which accounts of a mount are leased.
const SCHEMA_V2: &str = r#"
CREATE INDEX leases_account ON leases (mount_path, account) WHERE state <> 'revoked';
"#;

/// Lease rows carry an integrity tag, and the engine's verdict when it does not match. Existing
/// rows get their tag from the engine at the first start of this version, once across nodes
/// (the lease engine's `stamp_untagged_rows`): storage does not hold the key.
const SCHEMA_V3_LEASE_ROW_MAC: &str = r#"
ALTER TABLE leases ADD COLUMN row_mac BYTEA;
ALTER TABLE leases ADD COLUMN tampered_at BIGINT;
"#;

/// The access history (storage/history.rs): each lease row's trail, and one compact row per
/// ended lease, kept after the tombstone is tidied. Tombstones written before this version have
/// no history row.
const SCHEMA_V4_LEASE_HISTORY: &str = r#"
ALTER TABLE leases ADD COLUMN trail TEXT;
CREATE TABLE lease_history (
    issued_at    BIGINT NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    mount        TEXT NOT NULL,
    role         TEXT NOT NULL,
    workload     TEXT COLLATE "C" NOT NULL,
    account      TEXT NOT NULL,
    accessor     TEXT NOT NULL,
    purpose      TEXT,
    ticket       TEXT,
    expire_at    BIGINT NOT NULL,
    last_renewal BIGINT,
    ended_at     BIGINT NOT NULL,
    ending       BIGINT NOT NULL,
    renewals     BIGINT NOT NULL,
    approval_id  TEXT,
    requested_at BIGINT,
    approved_at  BIGINT,
    destroyed_by TEXT,
    sessions     BIGINT,
    verified_at  BIGINT,
    PRIMARY KEY (issued_at, id)
);
CREATE INDEX lease_history_workload ON lease_history (workload) WHERE workload <> '';
CREATE INDEX lease_history_account ON lease_history (account);
"#;

/// A lease-count quota counts live leases by id prefix (and role) as it admits each issue:
/// from this index (the id in byte order, as the table's key) rather than from every row.
const SCHEMA_V5_LIVE_INDEX: &str = r#"
CREATE INDEX leases_live ON leases (id, role) WHERE state <> 'revoked' AND mount_path <> 'auth/token/';
"#;

/// Apply the migrations the database has not seen, each with its version, under an advisory lock
/// so that nodes starting at once run each exactly once.
pub(super) async fn migrate(pool: &Pool) -> Result<(), StorageError> {
    let mut client = pool.get().await.map_err(pool_err)?;
    let tx = client.transaction().await.map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS leasehold_schema (version INTEGER NOT NULL)")
        .await
        .map_err(pg_err)?;
    let done: i32 = tx
        .query_opt("SELECT max(version) FROM leasehold_schema", &[])
        .await
        .map_err(pg_err)?
        .and_then(|r| r.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    let done = usize::try_from(done).unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(StorageError(format!(
            "postgresql: the storage database has schema version {done}, newer than this \
             build's {}; run a newer leasehold",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.batch_execute(sql).await.map_err(pg_err)?;
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("DELETE FROM leasehold_schema", &[])
            .await
            .map_err(pg_err)?;
        tx.execute(
            "INSERT INTO leasehold_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(pg_err)?;
        tracing::info!(version, "storage schema migrated");
    }
    tx.commit().await.map_err(pg_err)
}
