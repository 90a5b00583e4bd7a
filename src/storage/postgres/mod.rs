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
//!
//! Files: `connect` (connection settings and the TLS policy), `schema` (migrations), `rows` (a
//! lease or node row to and from columns), `changes` (the change feed), then one file per
//! capability: `kv`, `leases`, `queue`, `cluster`.

mod changes;
mod cluster;
mod connect;
mod history;
mod kv;
mod leases;
mod queue;
mod rows;
mod schema;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::SecretString;
use tokio::sync::broadcast;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{StorageChange, StorageError};

#[cfg(test)]
pub(crate) use schema::SCHEMA_VERSION;

/// How long a caller waits for a pooled connection before the call fails.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// Used when the URL sets no `connect_timeout`.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
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

pub(super) fn pg_err(e: tokio_postgres::Error) -> StorageError {
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

pub(super) fn pool_err(e: deadpool_postgres::PoolError) -> StorageError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_err(e),
        other => StorageError(format!("postgresql pool: {other}")),
    }
}

pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl PostgresStorage {
    /// Connect, apply missing migrations and start following other nodes' writes.
    pub async fn open(settings: PostgresSettings) -> Result<Self, StorageError> {
        // Random per process: notifications carrying it came from this process's own writes.
        let origin = format!("o{}", uuid::Uuid::new_v4().simple());
        let (config, tls) = connect::pg_config(&settings.connection_url, &origin)?;
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
        schema::migrate(&pool).await?;
        let (changes, _) = broadcast::channel(1024);
        // Listen before returning, so no write after `open` can be missed.
        let first = changes::listen(&config, &tls).await?;
        let listener = tokio::spawn(changes::follow(config, tls, origin, changes.clone(), first));
        Ok(Self {
            pool,
            changes,
            listener,
        })
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(pool_err)
    }

    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StorageError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
        client.query(&stmt, params).await.map_err(pg_err)
    }

    /// `(key, value)` pairs from a keyset-paged `sql` (`$1` = after, `$2` = limit).
    pub(super) async fn scan_pairs(
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

    pub(super) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
        client.execute(&stmt, params).await.map_err(pg_err)
    }
}
