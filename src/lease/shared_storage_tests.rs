//! The engine on shared PostgreSQL storage: what several nodes on one lease table do together
//! (tagging old rows once, refusing an edited row), on a database of each test's own.

use chrono::Utc;
use tokio_postgres::NoTls;

use crate::lease::{LeaseEngine, LeaseSettings, LeaseState, MountResolver, ResolvedMount};
use crate::storage::postgres::PostgresStorage;
use crate::storage::postgres_tests::TestDb;
use crate::storage::{suite, LeaseQueue, LeaseStore};

/// No mount resolves: the tests below never get as far as a target.
struct NoMounts;

impl MountResolver for NoMounts {
    fn resolve(&self, _uuid: &str) -> Option<ResolvedMount> {
        None
    }
}

fn engine_on(
    storage: PostgresStorage,
    seal: &crate::storage::seal::Seal,
) -> std::sync::Arc<LeaseEngine> {
    let clock: crate::clock::SharedClock = std::sync::Arc::new(crate::clock::SystemClock);
    std::sync::Arc::new(LeaseEngine::new(
        std::sync::Arc::new(storage),
        seal.clone(),
        clock,
        std::sync::Arc::new(NoMounts),
        std::sync::Arc::new(crate::lease::token_rows::NoTokens),
        LeaseSettings::default(),
    ))
}

/// Rows from before integrity tags, three nodes starting together: every row is tagged exactly
/// once (by whichever node holds the migration lock), and nothing is left to tag afterwards.
#[tokio::test]
async fn nodes_starting_together_tag_old_rows_once() {
    let db = TestDb::new().await;
    let s = db.open().await;
    let due = Utc::now() + chrono::Duration::hours(1);
    for i in 0..1200 {
        let mut l = suite::lease(&format!("db/creds/ro/{i:04}"), due);
        l.row_mac = None;
        s.lease_insert(&l).await.unwrap();
    }
    let seal = crate::storage::seal::Seal::generate();
    let (a, b, c) = tokio::join!(db.open(), db.open(), db.open());
    let (a, b, c) = (
        engine_on(a, &seal),
        engine_on(b, &seal),
        engine_on(c, &seal),
    );
    let (x, y, z) = tokio::join!(
        a.stamp_untagged_rows(),
        b.stamp_untagged_rows(),
        c.stamp_untagged_rows()
    );
    let counts = [x.unwrap(), y.unwrap(), z.unwrap()];
    assert_eq!(counts.iter().sum::<u64>(), 1200, "{counts:?}");
    assert_eq!(counts.iter().filter(|n| **n > 0).count(), 1, "{counts:?}");
    assert!(s.lease_untagged(10).await.unwrap().is_empty());
    let row = s.lease_get("db/creds/ro/0042").await.unwrap().unwrap();
    assert!(a.verify_row(&row));
    // The marker is set: a later start tags nothing, and a stripped tag stays a failure.
    let (client, conn) = tokio_postgres::connect(&db.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "UPDATE leases SET row_mac = NULL WHERE id = 'db/creds/ro/0042'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(a.stamp_untagged_rows().await.unwrap(), 0);
    let row = s.lease_get("db/creds/ro/0042").await.unwrap().unwrap();
    assert!(!a.verify_row(&row));
    drop((a, b, c, s));
    db.drop_db().await;
}

/// A row whose account was edited in the shared table is not destroyed: destroy refuses, the
/// row is flagged (no longer due, no holder) and listed with the irrevocable leases.
#[tokio::test]
async fn an_edited_row_on_shared_storage_is_flagged_not_destroyed() {
    let db = TestDb::new().await;
    let seal = crate::storage::seal::Seal::generate();
    let engine = engine_on(db.open().await, &seal);
    let now = Utc::now();
    let mut l = suite::lease("db/creds/ro/edited", now - chrono::Duration::seconds(1));
    seal.row_mac().stamp(&mut l);
    let s = db.open().await;
    s.lease_insert(&l).await.unwrap();
    let (client, conn) = tokio_postgres::connect(&db.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "UPDATE leases SET account = 'postgres' WHERE id = 'db/creds/ro/edited'",
            &[],
        )
        .await
        .unwrap();
    let err = engine
        .destroy("db/creds/ro/edited")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("integrity"), "{err}");
    let row = s.lease_get("db/creds/ro/edited").await.unwrap().unwrap();
    assert!(row.tampered_at.is_some(), "{row:?}");
    assert_eq!(row.state, LeaseState::Revoking);
    assert!(row.due_at.is_none() && row.claimed_by.is_none(), "{row:?}");
    assert_eq!(row.attempts, 0, "no destruction was attempted");
    let listed = s.lease_irrevocable(6, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    // The worker does not take it again.
    let claimed = s
        .lease_claim_due(Utc::now(), Utc::now(), 10, "n1")
        .await
        .unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    drop((engine, s));
    db.drop_db().await;
}
