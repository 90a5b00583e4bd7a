//! Group commit for SQLite: one thread owns the write connection and commits whatever calls
//! have queued up in one transaction, so N concurrent writers pay for one fsync, not N.
//!
//! Each call runs in its own savepoint inside the group's transaction: a call that fails is
//! rolled back alone and gets its own error, the others commit (a group of one call runs
//! without one: its failure rolls back the transaction). Every caller is answered only
//! after the group's COMMIT has returned, so `Ok` still means "on disk" (`synchronous=FULL`).
//! Nothing waits to fill a group: the first call after an idle period commits at once, and the
//! calls that arrive during its fsync form the next group.

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::sqlite::Cached;
use super::StorageError;

/// Calls committed together at most; bounds the time the first caller of a group waits.
const MAX_GROUP: usize = 256;

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(format!("sqlite: {e}"))
}

/// One queued call: run it inside the group, then answer once the group's fate is known.
trait Job: Send {
    /// Run the call on the group's connection; false if it failed (its savepoint rolls back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answer the caller: its own result if the group committed, else the commit's error.
    fn finish(self: Box<Self>, committed: Result<(), &StorageError>);
}

struct Call<T, F> {
    f: Option<F>,
    out: Option<Result<T, StorageError>>,
    reply: oneshot::Sender<Result<T, StorageError>>,
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StorageError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let out = match self.f.take() {
            Some(f) => f(conn),
            None => Err(err("a write call ran twice")),
        };
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &StorageError>) {
        let out = match committed {
            Ok(()) => self
                .out
                .unwrap_or_else(|| Err(err("a write call was not run"))),
            Err(e) => Err(StorageError(e.0.clone())),
        };
        // The caller may have gone away (its request was cancelled); nothing to tell then.
        let _ = self.reply.send(out);
    }
}

/// The handle callers queue writes through; cloning shares the one writer thread, which ends
/// when the last handle is dropped.
#[derive(Clone)]
pub struct Writer {
    queue: std::sync::mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Start the writer thread on `conn` (already configured and migrated).
    pub fn start(conn: Connection) -> Result<Self, StorageError> {
        let (queue, rx) = std::sync::mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(err)?;
        Ok(Self { queue })
    }

    /// Run `f` in the next group; `Ok` once the group is committed.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let call = Call {
            f: Some(f),
            out: None,
            reply,
        };
        self.queue
            .send(Box::new(call))
            .map_err(|_| err("the writer thread has stopped"))?;
        answer
            .await
            .map_err(|_| err("the writer thread stopped before answering"))?
    }
}

fn write_loop(conn: Connection, rx: std::sync::mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let committed = commit_group(&conn, &mut group);
        if let Err(e) = &committed {
            tracing::error!(error = %e, calls = group.len(), "storage group commit failed");
        }
        for job in group {
            job.finish(committed.as_ref().map(|_| ()));
        }
    }
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<(), StorageError> {
    exec(conn, "BEGIN IMMEDIATE")?;
    match run_group(conn, group) {
        // Every call that succeeded is kept: commit (on failure, nothing is).
        Ok(true) => exec(conn, "COMMIT").inspect_err(|_| roll_back(conn)),
        // The group's one call failed: nothing to keep, and it answers its own error.
        Ok(false) => {
            roll_back(conn);
            Ok(())
        }
        Err(e) => {
            roll_back(conn);
            Err(e)
        }
    }
}

/// Run each call of the open transaction in its own savepoint, so that a failing call rolls
/// back alone; a group of one needs none (a failure rolls back the transaction instead).
/// Answers whether there is anything to commit.
fn run_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<bool, StorageError> {
    if let [job] = group {
        return Ok(job.run(conn));
    }
    for job in group.iter_mut() {
        exec(conn, "SAVEPOINT call")?;
        if !job.run(conn) {
            exec(conn, "ROLLBACK TO call")?;
        }
        exec(conn, "RELEASE call")?;
    }
    Ok(true)
}

/// A transaction-control statement, prepared once per connection: parsing `SAVEPOINT` and
/// `RELEASE` anew for every call (as rusqlite's savepoints do) was a measurable part of the
/// writer's time in a burst of destructions.
fn exec(conn: &Connection, sql: &str) -> Result<(), StorageError> {
    conn.exec(sql, []).map(drop).map_err(err)
}

/// End the open transaction without keeping anything (best effort: a failed ROLLBACK leaves
/// SQLite to roll back itself, as it does when a transaction cannot go on).
fn roll_back(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = exec(conn, "ROLLBACK") {
            tracing::error!(error = %e, "storage rollback failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (k INTEGER PRIMARY KEY);")
            .unwrap();
        (dir, Writer::start(conn).unwrap())
    }

    fn count(dir: &tempfile::TempDir) -> i64 {
        let c = Connection::open(dir.path().join("w.db")).unwrap();
        c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_failing_call_rolls_back_alone_and_the_rest_commit() {
        let (dir, w) = writer();
        // Queue many calls at once so that they share groups; every 10th inserts a row and
        // then fails, and that row must not survive.
        let mut calls = Vec::new();
        for k in 0..200i64 {
            let w = w.clone();
            calls.push(tokio::spawn(async move {
                w.run(move |c| {
                    c.execute("INSERT INTO t (k) VALUES (?1)", [k])
                        .map_err(err)?;
                    if k % 10 == 0 {
                        return Err(err("refused"));
                    }
                    Ok(k)
                })
                .await
            }));
        }
        let mut ok = 0;
        for (k, call) in calls.into_iter().enumerate() {
            match call.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v, k as i64);
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(k % 10, 0, "call {k} failed: {e}");
                    assert!(e.0.contains("refused"));
                }
            }
        }
        assert_eq!(ok, 180);
        assert_eq!(count(&dir), 180);
    }

    #[tokio::test]
    async fn an_answered_write_is_visible_to_another_connection() {
        let (dir, w) = writer();
        w.run(|c| c.execute("INSERT INTO t (k) VALUES (1)", []).map_err(err))
            .await
            .unwrap();
        assert_eq!(count(&dir), 1);
    }

    /// A group of one runs without a savepoint: its failure must still leave nothing, and the
    /// connection must not stay inside the transaction.
    #[tokio::test]
    async fn a_lone_failing_call_leaves_nothing_and_the_next_call_commits() {
        let (dir, w) = writer();
        let failed = w
            .run(|c| {
                c.execute("INSERT INTO t (k) VALUES (7)", []).map_err(err)?;
                Err::<(), _>(err("refused"))
            })
            .await;
        assert!(failed.unwrap_err().0.contains("refused"));
        assert_eq!(count(&dir), 0);
        w.run(|c| c.execute("INSERT INTO t (k) VALUES (8)", []).map_err(err))
            .await
            .unwrap();
        assert_eq!(count(&dir), 1);
    }

    #[tokio::test]
    async fn a_call_that_violates_a_constraint_gets_its_error() {
        let (_dir, w) = writer();
        w.run(|c| c.execute("INSERT INTO t (k) VALUES (1)", []).map_err(err))
            .await
            .unwrap();
        let again = w
            .run(|c| c.execute("INSERT INTO t (k) VALUES (1)", []).map_err(err))
            .await;
        assert!(again.unwrap_err().0.contains("UNIQUE"));
    }
}
