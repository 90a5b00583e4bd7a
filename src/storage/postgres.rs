//! Shared storage on PostgreSQL: several leasehold nodes use one lease table on the users' own
//! replicated database (Patroni, RDS, Cloud SQL).
//!
//! - Schema changes are numbered migrations, applied at start-up under a transaction-scoped
//!   advisory lock, so nodes starting together apply each one exactly once.
//! - Due work is claimed with `FOR UPDATE SKIP LOCKED`: concurrent workers on different nodes
//!   never take the same row, and never wait on each other's rows.
//! - Every write to `kv` fires `pg_notify`; one LISTEN connection per node turns those into
//!   [`StorageChange`]s so caches (mount tables, policies) follow other nodes' writes. Each
//!   session names its process in `leasehold.origin`, so a node skips its own notifications.
//!
//! Times are stored as milliseconds since the epoch (`BIGINT`), as in SQLite; nodes compare them
//! with their own clocks, so they must be kept in sync (NTP), as Vault's lease expiry also needs.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use leasehold_pg_tls::{take_tls_params, MakeRustlsConnect, Mode as TlsMode, TlsParams};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::broadcast;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Row};

use super::{
    ClaimOne, LeaseCount, NodeRecord, Storage, StorageChange, StorageError, CREATION_ABANDONED,
};
use crate::lease::model::{LeaseRecord, LeaseState};

/// Numbered migrations; `leasehold_schema.version` records how many ran. Never edit one that has
/// shipped: add the next.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3_LEASE_ROW_MAC];

/// The schema version this build migrates to.
#[cfg(test)]
pub(crate) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Any 64-bit number of our own: the advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6c65_6173_6568_6f6c; // "leasehol"

/// The notification channel of `kv` writes.
const CHANNEL: &str = "leasehold_kv";

/// Key payload that stands for "too long to send; reload everything" (NOTIFY's limit is 8000 bytes).
const RESYNC_PAYLOAD: &str = "*";

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
/// ([`crate::lease::LeaseEngine::stamp_untagged_rows`]): storage does not hold the key.
const SCHEMA_V3_LEASE_ROW_MAC: &str = r#"
ALTER TABLE leases ADD COLUMN row_mac BYTEA;
ALTER TABLE leases ADD COLUMN tampered_at BIGINT;
"#;

const LEASE_COLUMNS: &str = "id, mount_uuid, mount_path, kind, role, account, state, issue_time, \
    expire_time, max_expire_time, last_renewal, role_ttl_secs, renewable, due_at, attempts, \
    last_error, revoked_time, forced, token_accessor, internal, workload, purpose, ticket, claimed_by, \
    row_mac, tampered_at";

/// How long a caller waits for a pooled connection before the call fails.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// Used when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts to bring the LISTEN connection back.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Settings of [`PostgresStorage::open`].
pub struct PostgresSettings {
    /// `postgres://user:password@host:5432/db?sslmode=disable` or a `key=value` string.
    pub connection_url: SecretString,
    /// Pooled connections at most.
    pub max_connections: usize,
}

/// PostgreSQL storage shared by every node pointed at the same database.
pub struct PostgresStorage {
    pool: Pool,
    changes: broadcast::Sender<StorageChange>,
    /// Stops the LISTEN task with the storage.
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn pg_err(e: tokio_postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(db) => StorageError(format!(
            "postgresql: {} ({})",
            db.message(),
            db.code().code()
        )),
        // Not an answer from the server: the causes say what (TLS, I/O, a timeout).
        None => StorageError(format!("postgresql: {}", leasehold_pg_tls::with_causes(&e))),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StorageError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_err(e),
        other => StorageError(format!("postgresql pool: {other}")),
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn lease_from_row(row: &Row) -> Result<LeaseRecord, StorageError> {
    let state: String = row.try_get(6).map_err(pg_err)?;
    let t = |i: usize| -> Result<DateTime<Utc>, StorageError> {
        row.try_get::<_, i64>(i).map(time).map_err(pg_err)
    };
    let opt_t = |i: usize| -> Result<Option<DateTime<Utc>>, StorageError> {
        row.try_get::<_, Option<i64>>(i)
            .map(|v| v.map(time))
            .map_err(pg_err)
    };
    Ok(LeaseRecord {
        id: row.try_get(0).map_err(pg_err)?,
        mount_uuid: row.try_get(1).map_err(pg_err)?,
        mount_path: row.try_get(2).map_err(pg_err)?,
        kind: row.try_get(3).map_err(pg_err)?,
        role: row.try_get(4).map_err(pg_err)?,
        account: row.try_get(5).map_err(pg_err)?,
        // An unknown state can only come from a newer schema; treat it as needing destruction.
        state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
        issue_time: t(7)?,
        expire_time: t(8)?,
        max_expire_time: t(9)?,
        last_renewal: opt_t(10)?,
        role_ttl_secs: row.try_get(11).map_err(pg_err)?,
        renewable: row.try_get(12).map_err(pg_err)?,
        due_at: opt_t(13)?,
        attempts: row.try_get(14).map_err(pg_err)?,
        last_error: row.try_get(15).map_err(pg_err)?,
        revoked_time: opt_t(16)?,
        forced: row.try_get(17).map_err(pg_err)?,
        token_accessor: row.try_get(18).map_err(pg_err)?,
        internal: row.try_get(19).map_err(pg_err)?,
        workload: row.try_get(20).map_err(pg_err)?,
        purpose: row.try_get(21).map_err(pg_err)?,
        ticket: row.try_get(22).map_err(pg_err)?,
        claimed_by: row.try_get(23).map_err(pg_err)?,
        row_mac: row.try_get(24).map_err(pg_err)?,
        tampered_at: opt_t(25)?,
    })
}

fn leases_from_rows(rows: &[Row]) -> Result<Vec<LeaseRecord>, StorageError> {
    rows.iter().map(lease_from_row).collect()
}

/// A lease's time columns as stored, kept alive while its parameter list borrows them.
struct LeaseTimes {
    state: &'static str,
    issue: i64,
    expire: i64,
    max_expire: i64,
    last_renewal: Option<i64>,
    due: Option<i64>,
    revoked: Option<i64>,
    tampered: Option<i64>,
}

impl LeaseTimes {
    fn of(l: &LeaseRecord) -> Self {
        Self {
            state: l.state.as_str(),
            issue: millis(l.issue_time),
            expire: millis(l.expire_time),
            max_expire: millis(l.max_expire_time),
            last_renewal: l.last_renewal.map(millis),
            due: l.due_at.map(millis),
            revoked: l.revoked_time.map(millis),
            tampered: l.tampered_at.map(millis),
        }
    }

    /// The row's values in `LEASE_COLUMNS` order (`$1`..`$26`).
    fn params<'a>(&'a self, l: &'a LeaseRecord) -> Vec<&'a (dyn ToSql + Sync)> {
        vec![
            &l.id,
            &l.mount_uuid,
            &l.mount_path,
            &l.kind,
            &l.role,
            &l.account,
            &self.state,
            &self.issue,
            &self.expire,
            &self.max_expire,
            &self.last_renewal,
            &l.role_ttl_secs,
            &l.renewable,
            &self.due,
            &l.attempts,
            &l.last_error,
            &self.revoked,
            &l.forced,
            &l.token_accessor,
            &l.internal,
            &l.workload,
            &l.purpose,
            &l.ticket,
            &l.claimed_by,
            &l.row_mac,
            &self.tampered,
        ]
    }
}

fn node_from_row(r: &Row) -> Result<NodeRecord, StorageError> {
    Ok(NodeRecord {
        id: r.try_get(0).map_err(pg_err)?,
        hostname: r.try_get(1).map_err(pg_err)?,
        api_addr: r.try_get(2).map_err(pg_err)?,
        version: r.try_get(3).map_err(pg_err)?,
        started_at: time(r.try_get(4).map_err(pg_err)?),
        heartbeat_at: time(r.try_get(5).map_err(pg_err)?),
    })
}

/// The connection settings: the URL's, plus our application name, a connect timeout and this
/// process's origin tag (which the kv trigger copies into its notifications); and the TLS
/// connector its `sslmode`/`sslrootcert`/`sslcert`/`sslkey` ask for (as for targets).
fn pg_config(
    url: &SecretString,
    origin: &str,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect), StorageError> {
    let (url, mut tls) = take_tls_params(url.expose_secret())
        .map_err(|e| StorageError(format!("storage connection_url: {e}")))?;
    let mut pg: tokio_postgres::Config = url.parse().map_err(|e| {
        // The parser's message names the malformed part, never the password.
        StorageError(format!(
            "storage connection_url is not a PostgreSQL URL or key=value string: {e}"
        ))
    })?;
    if pg.get_hosts().is_empty() {
        return Err(StorageError("storage connection_url names no host".into()));
    }
    apply_tls_policy(&mut tls, hosts_are_local(&pg))?;
    let connector = tls
        .connector()
        .map_err(|e| StorageError(format!("storage connection_url: {e}")))?;
    pg.application_name("leasehold-storage");
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT_TIMEOUT);
    }
    let options = match pg.get_options() {
        Some(o) if !o.trim().is_empty() => format!("{o} -c leasehold.origin={origin}"),
        _ => format!("-c leasehold.origin={origin}"),
    };
    pg.options(&options);
    pg.ssl_mode(tls.ssl_mode());
    Ok((pg, connector))
}

/// The TLS the storage connection must use. libpq's default, `prefer`, falls back to plain text
/// when the server (or a man in the middle) says it has no TLS, and checks no certificate: the
/// lease table and the sealed blobs would cross the network readable and editable. So, where the
/// connection leaves the machine (a host that is not loopback or a Unix socket):
/// - no `sslmode`: `verify-full` (the chain against `sslrootcert` or the system's roots, and the
///   certificate must name the host);
/// - `sslmode=prefer` or `allow`: refused as a configuration error, since whoever wrote it asked
///   for something a downgrade defeats — we would rather stop than silently change what they
///   asked for;
/// - `disable`, `require`, `verify-ca`, `verify-full`: as asked (plain text only by name).
///
/// On loopback or a Unix socket nothing crosses a network, so libpq's default is kept.
fn apply_tls_policy(tls: &mut TlsParams, local: bool) -> Result<(), StorageError> {
    if local {
        return Ok(());
    }
    match (tls.mode_given, tls.mode) {
        (false, _) => tls.mode = TlsMode::VerifyFull,
        (true, TlsMode::Prefer) => {
            return Err(StorageError(
                "storage connection_url: sslmode=prefer/allow falls back to plain text when a \
                 man in the middle asks it to, and the host is not loopback; use \
                 sslmode=verify-full (the default when sslmode is absent), or sslmode=disable \
                 to ask for plain text by name"
                    .into(),
            ))
        }
        (true, _) => {}
    }
    Ok(())
}

/// True when every host of the connection is a Unix socket or a loopback address/`localhost`
/// (and every `hostaddr`, which is where the connection really goes, is loopback).
fn hosts_are_local(pg: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    let host_local = |h: &Host| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    };
    pg.get_hosts().iter().all(host_local) && pg.get_hostaddrs().iter().all(|a| a.is_loopback())
}

impl PostgresStorage {
    /// Connect, apply missing migrations and start following other nodes' writes.
    pub async fn open(settings: PostgresSettings) -> Result<Self, StorageError> {
        // Random per process: notifications carrying it came from this process's own writes.
        let origin = format!("o{}", uuid::Uuid::new_v4().simple());
        let (config, tls) = pg_config(&settings.connection_url, &origin)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StorageError(format!("postgresql pool: {e}")))?;
        migrate(&pool).await?;
        let (changes, _) = broadcast::channel(1024);
        // Listen before returning, so no write after `open` can be missed.
        let first = listen(&config, &tls).await?;
        let listener = tokio::spawn(follow(config, tls, origin, changes.clone(), first));
        Ok(Self {
            pool,
            changes,
            listener,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(pool_err)
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StorageError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
        client.query(&stmt, params).await.map_err(pg_err)
    }

    /// `(key, value)` pairs from a keyset-paged `sql` (`$1` = after, `$2` = limit).
    async fn scan_pairs(
        &self,
        sql: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(sql, &[&after, &limit]).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?)))
            .collect()
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
        client.execute(&stmt, params).await.map_err(pg_err)
    }
}

/// Apply the migrations the database has not seen, each with its version, under an advisory lock
/// so that nodes starting at once run each exactly once.
async fn migrate(pool: &Pool) -> Result<(), StorageError> {
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

type Notifications = tokio::sync::mpsc::UnboundedReceiver<Option<tokio_postgres::Notification>>;

/// Open a connection that LISTENs on the kv channel. Its notifications arrive on the returned
/// receiver; `None` (or the channel closing) means the connection ended.
async fn listen(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
) -> Result<(tokio_postgres::Client, Notifications), StorageError> {
    let (client, mut connection) = config.connect(tls.clone()).await.map_err(pg_err)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(Some(n)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %pg_err(e), "storage change feed connection failed");
                    break;
                }
            }
        }
        let _ = tx.send(None);
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(pg_err)?;
    Ok((client, rx))
}

/// Forward other processes' kv notifications as [`StorageChange`]s, for as long as the storage
/// lives; after the connection drops, reconnect and send [`StorageChange::Resync`], since
/// whatever changed in between was missed.
async fn follow(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    origin: String,
    changes: broadcast::Sender<StorageChange>,
    first: (tokio_postgres::Client, Notifications),
) {
    let mut current = Some(first);
    loop {
        if let Some((_client, mut rx)) = current.take() {
            while let Some(Some(n)) = rx.recv().await {
                let (from, key) = n.payload().split_once(' ').unwrap_or(("", n.payload()));
                if from == origin {
                    continue;
                }
                let change = if key == RESYNC_PAYLOAD {
                    StorageChange::Resync
                } else {
                    StorageChange::Key(key.to_owned())
                };
                // No receivers is fine: nobody caches yet.
                let _ = changes.send(change);
            }
        }
        tokio::time::sleep(LISTEN_RETRY).await;
        match listen(&config, &tls).await {
            Ok(next) => {
                tracing::info!("storage change feed reconnected");
                let _ = changes.send(StorageChange::Resync);
                current = Some(next);
            }
            Err(e) => tracing::warn!(error = %e, "storage change feed cannot reconnect"),
        }
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self
            .query("SELECT value FROM kv WHERE key = $1", &[&key])
            .await?;
        rows.first()
            .map(|r| r.try_get(0).map_err(pg_err))
            .transpose()
    }

    async fn kv_put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO kv (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .await
        .map(|_| ())
    }

    async fn kv_compare_and_put(
        &self,
        key: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError> {
        self.execute(
            "UPDATE kv SET value = $3 WHERE key = $1 AND value = $2",
            &[&key, &expected, &value],
        )
        .await
        .map(|changed| changed == 1)
    }

    async fn kv_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.scan_pairs(
            "SELECT key, value FROM kv WHERE key COLLATE \"C\" > $1 \
             ORDER BY key COLLATE \"C\" LIMIT $2",
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
            "SELECT id, internal FROM leases WHERE id COLLATE \"C\" > $1 \
             ORDER BY id COLLATE \"C\" LIMIT $2",
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
        self.execute(
            "UPDATE leases SET internal = $3 WHERE id = $1 AND internal = $2",
            &[&id, &expected, &value],
        )
        .await
        .map(|changed| changed == 1)
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM kv WHERE key = $1", &[&key])
            .await
            .map(|_| ())
    }

    async fn kv_list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        // One row per direct child: the part of the key after the prefix, up to and including
        // the next '/'.
        let rows = self
            .query(
                "SELECT child FROM (SELECT DISTINCT CASE WHEN strpos(rest, '/') > 0 \
                     THEN left(rest, strpos(rest, '/')) ELSE rest END AS child \
                 FROM (SELECT substr(key, length($1) + 1) AS rest FROM kv \
                       WHERE starts_with(key, $1)) k WHERE rest <> '') c \
                 ORDER BY child COLLATE \"C\"",
                &[&prefix],
            )
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(pg_err)).collect()
    }

    async fn kv_delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM kv WHERE starts_with(key, $1)", &[&prefix])
            .await
            .map(|_| ())
    }

    async fn lease_insert(&self, lease: &LeaseRecord) -> Result<(), StorageError> {
        let times = LeaseTimes::of(lease);
        let sql = format!(
            "INSERT INTO leases ({LEASE_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,\
             $12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26)"
        );
        self.execute(&sql, &times.params(lease)).await.map(|_| ())
    }

    async fn lease_get(&self, id: &str) -> Result<Option<LeaseRecord>, StorageError> {
        let sql = format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = $1");
        let rows = self.query(&sql, &[&id]).await?;
        rows.first().map(lease_from_row).transpose()
    }

    async fn lease_update(
        &self,
        lease: &LeaseRecord,
        expected: LeaseState,
    ) -> Result<bool, StorageError> {
        let times = LeaseTimes::of(lease);
        let expected = expected.as_str();
        let mut params = times.params(lease);
        params.push(&expected);
        let sql = "UPDATE leases SET mount_uuid=$2, mount_path=$3, kind=$4, role=$5, account=$6, \
            state=$7, issue_time=$8, expire_time=$9, max_expire_time=$10, last_renewal=$11, \
            role_ttl_secs=$12, renewable=$13, due_at=$14, attempts=$15, last_error=$16, \
            revoked_time=$17, forced=$18, token_accessor=$19, internal=$20, workload=$21, \
            purpose=$22, ticket=$23, claimed_by=$24, row_mac=$25, tampered_at=$26 \
            WHERE id=$1 AND state=$27";
        self.execute(sql, &params).await.map(|n| n == 1)
    }

    async fn lease_list_live(&self, prefix: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases \
             WHERE starts_with(id, $1) AND state <> 'revoked' ORDER BY id"
        );
        leases_from_rows(&self.query(&sql, &[&prefix]).await?)
    }

    async fn lease_count_live(
        &self,
        prefix: &str,
        role: Option<&str>,
    ) -> Result<u64, StorageError> {
        let rows = self
            .query(
                "SELECT count(*) FROM leases WHERE starts_with(id, $1) AND state <> 'revoked' \
                 AND mount_path <> 'auth/token/' AND ($2::text IS NULL OR role = $2)",
                &[&prefix, &role],
            )
            .await?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(pg_err)?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn lease_list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases \
             WHERE token_accessor = $1 AND state <> 'revoked' ORDER BY id"
        );
        leases_from_rows(&self.query(&sql, &[&accessor]).await?)
    }

    async fn lease_list_by_workload(
        &self,
        workload: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let workload = workload.trim_end_matches('/');
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE workload <> '' AND state <> 'revoked' \
             AND (workload = $1 OR starts_with(workload, $1 || '/')) ORDER BY id"
        );
        leases_from_rows(&self.query(&sql, &[&workload]).await?)
    }

    async fn lease_live_accounts(
        &self,
        mount_path: &str,
        accounts: &[String],
    ) -> Result<std::collections::HashSet<String>, StorageError> {
        let mut live = std::collections::HashSet::new();
        for chunk in accounts.chunks(5000) {
            let rows = self
                .query(
                    "SELECT account FROM leases WHERE mount_path = $1 AND state <> 'revoked' \
                     AND account = ANY($2)",
                    &[&mount_path, &chunk],
                )
                .await?;
            for r in rows {
                live.insert(r.try_get(0).map_err(pg_err)?);
            }
        }
        Ok(live)
    }

    async fn lease_claim_due(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: usize,
        node: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let (now, until) = (millis(now), millis(claim_until));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: rows another node is claiming right now are left to it, not waited for.
        let sql = format!(
            "UPDATE leases l SET state = 'revoking', due_at = $2, claimed_by = $3, \
                 last_error = CASE WHEN l.state = 'creating' THEN coalesce(l.last_error, $4) \
                              ELSE l.last_error END \
             FROM (SELECT id FROM leases WHERE due_at IS NOT NULL AND due_at <= $1 \
                   AND state IN ('creating','active','revoking') \
                   ORDER BY due_at LIMIT $5 FOR UPDATE SKIP LOCKED) due \
             WHERE l.id = due.id RETURNING {}",
            LEASE_COLUMNS
                .split(", ")
                .map(|c| format!("l.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = self
            .query(&sql, &[&now, &until, &node, &CREATION_ABANDONED, &limit])
            .await?;
        let mut leases = leases_from_rows(&rows)?;
        leases.sort_by(|a, b| (a.expire_time, &a.id).cmp(&(b.expire_time, &b.id)));
        Ok(leases)
    }

    async fn lease_claim_one(
        &self,
        id: &str,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        node: &str,
    ) -> Result<ClaimOne, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let select = format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = $1 FOR UPDATE");
        let row = tx.query_opt(&select, &[&id]).await.map_err(pg_err)?;
        let Some(row) = row else {
            return Ok(ClaimOne::Missing);
        };
        let mut lease = lease_from_row(&row)?;
        let free = match lease.state {
            LeaseState::Revoked => return Ok(ClaimOne::Revoked(lease)),
            LeaseState::Active => true,
            LeaseState::Creating | LeaseState::Revoking => {
                lease.claimed_by.is_none()
                    || lease.claimed_by.as_deref() == Some(node)
                    || lease.due_at.is_some_and(|d| d <= now)
            }
        };
        if !free {
            return Ok(ClaimOne::Busy(lease));
        }
        let until = millis(claim_until);
        tx.execute(
            "UPDATE leases SET state = 'revoking', due_at = $2, claimed_by = $3 WHERE id = $1",
            &[&id, &until, &node],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        lease.state = LeaseState::Revoking;
        lease.due_at = Some(time(until));
        lease.claimed_by = Some(node.to_owned());
        Ok(ClaimOne::Claimed(lease))
    }

    async fn lease_next_due(&self) -> Result<Option<DateTime<Utc>>, StorageError> {
        let rows = self
            .query(
                "SELECT min(due_at) FROM leases WHERE due_at IS NOT NULL \
                 AND state IN ('creating','active','revoking')",
                &[],
            )
            .await?;
        let min: Option<i64> = match rows.first() {
            Some(r) => r.try_get(0).map_err(pg_err)?,
            None => None,
        };
        Ok(min.map(time))
    }

    async fn lease_release_dead_claims(
        &self,
        now: DateTime<Utc>,
        alive_since: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        self.execute(
            "UPDATE leases SET due_at = $1, claimed_by = NULL \
             WHERE claimed_by IS NOT NULL AND state IN ('creating','revoking') \
             AND claimed_by NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= $2)",
            &[&millis(now), &millis(alive_since)],
        )
        .await
    }

    async fn lease_recover_creating(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.execute(
            "UPDATE leases SET state = 'revoking', due_at = $1, \
             last_error = coalesce(last_error, $2), claimed_by = NULL WHERE state = 'creating'",
            &[&millis(now), &CREATION_ABANDONED],
        )
        .await
    }

    async fn lease_release_claims(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.execute(
            "UPDATE leases SET due_at = $1, claimed_by = NULL \
             WHERE state = 'revoking' AND due_at > $1",
            &[&millis(now)],
        )
        .await
    }

    async fn lease_irrevocable(
        &self,
        min_attempts: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE (state = 'revoking' AND attempts >= $1) \
             OR (tampered_at IS NOT NULL AND state <> 'revoked') \
             ORDER BY expire_time, id LIMIT $2"
        );
        leases_from_rows(&self.query(&sql, &[&min_attempts, &limit]).await?)
    }

    async fn lease_flag_tampered(&self, id: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        self.execute(
            "UPDATE leases SET tampered_at = coalesce(tampered_at, $2), due_at = NULL, \
             claimed_by = NULL WHERE id = $1 AND state <> 'revoked'",
            &[&id, &millis(now)],
        )
        .await
        .map(|_| ())
    }

    async fn lease_page_live(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE id > $1 AND state <> 'revoked' \
             ORDER BY id LIMIT $2"
        );
        leases_from_rows(&self.query(&sql, &[&after, &limit]).await?)
    }

    async fn lease_untagged(&self, limit: usize) -> Result<Vec<LeaseRecord>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE row_mac IS NULL ORDER BY id LIMIT $1"
        );
        leases_from_rows(&self.query(&sql, &[&limit]).await?)
    }

    async fn lease_set_row_macs(&self, tags: Vec<(String, Vec<u8>)>) -> Result<u64, StorageError> {
        let (ids, macs): (Vec<String>, Vec<Vec<u8>>) = tags.into_iter().unzip();
        self.execute(
            "UPDATE leases SET row_mac = t.mac FROM unnest($1::text[], $2::bytea[]) AS t(id, mac) \
             WHERE leases.id = t.id AND leases.row_mac IS NULL",
            &[&ids, &macs],
        )
        .await
    }

    async fn lease_any_tagged(&self) -> Result<bool, StorageError> {
        let rows = self
            .query(
                "SELECT EXISTS (SELECT 1 FROM leases WHERE row_mac IS NOT NULL)",
                &[],
            )
            .await?;
        rows.first()
            .map(|r| r.try_get::<_, bool>(0).map_err(pg_err))
            .unwrap_or(Ok(false))
    }

    async fn lease_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        self.execute(
            "DELETE FROM leases WHERE state = 'revoked' AND revoked_time < $1",
            &[&millis(before)],
        )
        .await
    }

    async fn lease_counts(&self, irrevocable_after: i64) -> Result<Vec<LeaseCount>, StorageError> {
        let rows = self
            .query(
                "SELECT mount_path, role, state, (state = 'revoking' AND attempts >= $1), count(*) \
                 FROM leases GROUP BY 1, 2, 3, 4 \
                 ORDER BY mount_path COLLATE \"C\", role COLLATE \"C\", \
                 state COLLATE \"C\", 4",
                &[&irrevocable_after],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get(2).map_err(pg_err)?;
                Ok(LeaseCount {
                    mount_path: r.try_get(0).map_err(pg_err)?,
                    role: r.try_get(1).map_err(pg_err)?,
                    // As in lease_from_row: an unknown state needs destruction.
                    state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
                    irrevocable: r.try_get(3).map_err(pg_err)?,
                    count: u64::try_from(r.try_get::<_, i64>(4).map_err(pg_err)?).unwrap_or(0),
                })
            })
            .collect()
    }

    fn shared(&self) -> bool {
        true
    }

    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO nodes (id, hostname, api_addr, version, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
             hostname = excluded.hostname, api_addr = excluded.api_addr, \
             version = excluded.version, heartbeat_at = excluded.heartbeat_at",
            &[
                &node.id,
                &node.hostname,
                &node.api_addr,
                &node.version,
                &millis(node.started_at),
                &millis(node.heartbeat_at),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn node_list(&self) -> Result<Vec<NodeRecord>, StorageError> {
        let rows = self
            .query(
                "SELECT id, hostname, api_addr, version, started_at, heartbeat_at \
                 FROM nodes ORDER BY id COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter().map(node_from_row).collect()
    }

    async fn node_remove(&self, id: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM nodes WHERE id = $1", &[&id])
            .await
            .map(|_| ())
    }

    async fn lock_try(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        // ON CONFLICT makes racing takers serialise on the row: one wins, the other sees its row.
        self.execute(
            "INSERT INTO locks (name, holder, expires_at) VALUES ($1, $2, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE locks.holder = excluded.holder OR locks.expires_at <= $3",
            &[&name, &holder, &millis(now), &millis(until)],
        )
        .await
        .map(|n| n == 1)
    }

    async fn lock_release(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        self.execute(
            "DELETE FROM locks WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )
        .await
        .map(|_| ())
    }

    async fn lock_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        let rows = self
            .query(
                "SELECT holder FROM locks WHERE name = $1 AND expires_at > $2",
                &[&name, &millis(now)],
            )
            .await?;
        rows.first()
            .map(|r| r.try_get(0).map_err(pg_err))
            .transpose()
    }

    fn changes(&self) -> Option<broadcast::Receiver<StorageChange>> {
        Some(self.changes.subscribe())
    }
}

#[cfg(test)]
mod tls_policy_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn config(url: &str) -> Result<tokio_postgres::Config, StorageError> {
        pg_config(&SecretString::from(url.to_owned()), "o1").map(|(c, _)| c)
    }

    #[test]
    fn a_remote_host_without_sslmode_requires_tls_and_prefer_is_refused() {
        use tokio_postgres::config::SslMode;
        let remote = config("host=db.example.com user=lh password=pw").unwrap();
        assert_eq!(remote.get_ssl_mode(), SslMode::Require);
        let err = config("postgres://lh:pw@10.1.2.3/lh?sslmode=prefer").unwrap_err();
        assert!(err.0.contains("sslmode=verify-full"), "{err}");
        assert!(!err.0.contains("pw@"), "{err}");
        assert!(config("host=db.example.com sslmode=allow").is_err());
        // Plain text when asked for by name; loopback and sockets keep libpq's default.
        let plain = config("host=db.example.com sslmode=disable").unwrap();
        assert_eq!(plain.get_ssl_mode(), SslMode::Disable);
        for local in [
            "host=localhost",
            "host=127.0.0.1",
            "postgres://lh@[::1]/lh",
            "host=/run/postgresql",
            "host=127.0.0.1 sslmode=prefer",
        ] {
            assert_eq!(
                config(local).unwrap().get_ssl_mode(),
                SslMode::Prefer,
                "{local}"
            );
        }
        // The host names the server; hostaddr (loopback here) does not make it local.
        let named = config("host=db.example.com hostaddr=127.0.0.1").unwrap();
        assert_eq!(named.get_ssl_mode(), SslMode::Require);
    }

    /// A server (or a man in the middle) that answers "no TLS here" gets no plain-text login:
    /// before this change the client went on with a startup message in the clear.
    #[tokio::test]
    async fn a_downgrade_to_plain_text_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            sock.read_exact(&mut request).await.unwrap();
            // SSLRequest: length 8, code 80877103.
            assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
            sock.write_all(b"N").await.unwrap();
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                sock.read_to_end(&mut rest),
            )
            .await;
            rest
        });
        let url = format!(
            "host=db.example.com hostaddr=127.0.0.1 port={port} user=lh password=pw \
             connect_timeout=5"
        );
        let opened = PostgresStorage::open(PostgresSettings {
            connection_url: SecretString::from(url),
            max_connections: 1,
        })
        .await;
        assert!(opened.is_err());
        let sent_after_refusal = server.await.unwrap();
        assert!(
            sent_after_refusal.is_empty(),
            "the client sent {} bytes in plain text after the server refused TLS",
            sent_after_refusal.len()
        );
    }
}
