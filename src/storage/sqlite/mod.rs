//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL`, because the
//! write-ahead lease row must be on disk before the account it describes is created.
//!
//! Writes go to one writer thread that commits them in groups (`storage::writer`): whatever arrived
//! while the last fsync ran is committed by the next one, each call in its own savepoint, so
//! concurrent issues share fsyncs instead of queueing for one each. Reads run on a small pool of
//! their own connections (WAL lets them see the last commit without waiting for the writer), so a
//! long read such as the metrics' lease counts never holds up an issue.
//!
//! Files: `schema` (migrations), `files` (the database files' modes), `rows` (a lease or node
//! row to and from columns), then one file per capability: `kv`, `leases`, `queue`, `cluster`.

mod cluster;
mod files;
mod history;
mod kv;
mod leases;
mod queue;
mod rows;
mod schema;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OpenFlags, Row};
use tokio::sync::Semaphore;

use super::writer::Writer;
use super::{ChangeFeed, StorageChange, StorageError};

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

pub(super) fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(format!("sqlite: {e}"))
}

pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(super) fn opt_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}

impl SqliteStorage {
    /// Open (creating if needed) the database file and apply the schema.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let memory = path.as_os_str() == ":memory:";
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        if !memory {
            files::create_private(path)?;
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        if !memory {
            files::restrict_files(path)?;
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "busy_timeout", 5000)
            .map_err(err)?;
        // The writer runs each call in a savepoint, and a savepoint keeps the pages it changes
        // in a sub-journal. By default that spills to a temporary file past 64 KiB (a claim
        // of 128 due rows, a burst's tombstones in one commit), and from then on every page
        // of the transaction is written there too: a tenth of the server's CPU in a burst's
        // drain went to those writes. In memory, and no copy of lease rows in a temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(err)?;
        schema::migrate(&mut conn)?;
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
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Run the read-only `f` on a read connection; it sees every write that has returned.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
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
    pub(super) async fn scan_pairs(
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
    pub(super) async fn swap_if_equal(
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

/// Every statement through the connection's statement cache: the same few statements run on
/// every issue, and parsing them again each time showed in the profile.
pub(super) trait Cached {
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

impl ChangeFeed for SqliteStorage {
    /// One process owns the file: nobody else writes, so there is nothing to follow.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StorageChange>> {
        None
    }
}
