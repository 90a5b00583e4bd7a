//! The shared storage suite against a real PostgreSQL, plus what only shared storage does:
//! concurrent claimers on separate pools, and the change feed between processes.
//!
//! Each test gets a database of its own on the server `LEASEHOLD_TEST_STORAGE_PG` names
//! (default: the machine's trust-auth PostgreSQL on 127.0.0.1:5432), dropped when it passes.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use tokio::sync::broadcast::error::RecvError;
use tokio_postgres::NoTls;

use super::postgres::{PostgresSettings, PostgresStorage};
use super::{suite, ChangeFeed, ClusterStore, KvStore, LeaseStore, Storage, StorageChange};

fn admin_url() -> String {
    std::env::var("LEASEHOLD_TEST_STORAGE_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".into())
}

/// A fresh database, and the admin connection to drop it with.
pub(crate) struct TestDb {
    name: String,
    admin: tokio_postgres::Client,
}

impl TestDb {
    pub(crate) async fn new() -> Self {
        let (admin, conn) = tokio_postgres::connect(&admin_url(), NoTls)
            .await
            .expect("the test PostgreSQL (LEASEHOLD_TEST_STORAGE_PG) is reachable");
        tokio::spawn(conn);
        let name = format!("lh_storage_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        Self { name, admin }
    }

    pub(crate) fn url(&self) -> String {
        let base: tokio_postgres::Config = admin_url().parse().unwrap();
        let mut cfg = base;
        cfg.dbname(&self.name);
        // Rebuild as key=value: Config has no Display.
        let host = match cfg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        };
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        let user = cfg.get_user().unwrap_or("postgres");
        let mut url = format!("host={host} port={port} user={user} dbname={}", self.name);
        if let Some(pw) = cfg.get_password() {
            url.push_str(&format!(" password={}", String::from_utf8_lossy(pw)));
        }
        url
    }

    pub(crate) async fn open(&self) -> PostgresStorage {
        PostgresStorage::open(PostgresSettings {
            connection_url: SecretString::from(self.url()),
            max_connections: 4,
        })
        .await
        .unwrap()
    }

    pub(crate) async fn drop_db(self) {
        self.admin
            .batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

macro_rules! suite_tests {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let db = TestDb::new().await;
            let s = db.open().await;
            suite::$case(&s).await;
            drop(s);
            db.drop_db().await;
        }
    )*};
}
suite::for_each_case!(suite_tests);

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let db = TestDb::new().await;
    let (a, b, c) = tokio::join!(db.open(), db.open(), db.open());
    assert!(a.shared() && b.shared() && c.shared());
    let (client, conn) = tokio_postgres::connect(&db.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = client
        .query("SELECT version FROM leasehold_schema", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].get::<_, i32>(0) as usize,
        super::postgres::SCHEMA_VERSION
    );
    drop((a, b, c));
    db.drop_db().await;
}

/// Two nodes (two pools) claim the same due rows at once: every row goes to exactly one.
#[tokio::test]
async fn concurrent_claimers_split_due_rows_without_overlap() {
    let db = TestDb::new().await;
    let (a, b) = (db.open().await, db.open().await);
    let now = Utc::now();
    let due = now - chrono::Duration::seconds(1);
    for i in 0..400 {
        a.lease_insert(&suite::lease(&format!("db/creds/ro/{i:04}"), due))
            .await
            .unwrap();
    }
    let until = now + chrono::Duration::seconds(60);
    let (got_a, got_b) = tokio::join!(
        claim_all(&a, now, until, "node-a"),
        claim_all(&b, now, until, "node-b")
    );
    let set_a: HashSet<_> = got_a.iter().collect();
    let set_b: HashSet<_> = got_b.iter().collect();
    assert_eq!(set_a.len(), got_a.len());
    assert_eq!(set_b.len(), got_b.len());
    assert!(set_a.is_disjoint(&set_b));
    assert_eq!(set_a.len() + set_b.len(), 400);
    drop((a, b));
    db.drop_db().await;
}

/// Claim in batches of 25 until nothing is due; the ids taken.
async fn claim_all(
    s: &dyn Storage,
    now: chrono::DateTime<Utc>,
    until: chrono::DateTime<Utc>,
    node: &str,
) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let batch = s.lease_claim_due(now, until, 25, node).await.unwrap();
        if batch.is_empty() {
            return got;
        }
        assert!(batch.iter().all(|l| l.claimed_by.as_deref() == Some(node)));
        got.extend(batch.into_iter().map(|l| l.id));
    }
}

async fn next_change(rx: &mut tokio::sync::broadcast::Receiver<StorageChange>) -> StorageChange {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Ok(c)) => c,
        Ok(Err(RecvError::Lagged(_))) => StorageChange::Resync,
        Ok(Err(e)) => panic!("change feed closed: {e}"),
        Err(_) => panic!("no change within 10 s"),
    }
}

#[tokio::test]
async fn other_nodes_writes_arrive_on_the_change_feed_and_own_writes_do_not() {
    let db = TestDb::new().await;
    let (a, b) = (db.open().await, db.open().await);
    let mut feed_a = a.changes().unwrap();
    let mut feed_b = b.changes().unwrap();
    a.kv_put("core/mounts", vec![1]).await.unwrap();
    assert_eq!(
        next_change(&mut feed_b).await,
        StorageChange::Key("core/mounts".into())
    );
    a.kv_put("sys/policy/a", vec![1]).await.unwrap();
    a.kv_put("sys/policy/b", vec![1]).await.unwrap();
    a.kv_delete_prefix("sys/policy/").await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_change(&mut feed_b).await);
    }
    assert_eq!(
        seen,
        [
            "sys/policy/a",
            "sys/policy/b",
            "sys/policy/a",
            "sys/policy/b"
        ]
        .map(|k| StorageChange::Key(k.into()))
    );
    // B writes once; A hears exactly that, and nothing of its own five writes.
    b.kv_put("core/auth-mounts", vec![3]).await.unwrap();
    assert_eq!(
        next_change(&mut feed_a).await,
        StorageChange::Key("core/auth-mounts".into())
    );
    assert!(feed_a.try_recv().is_err());
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn a_dropped_feed_says_so_reconnects_and_asks_for_a_resync() {
    let db = TestDb::new().await;
    let (a, b) = (db.open().await, db.open().await);
    let mut feed_b = b.changes().unwrap();
    // Cut every LISTEN session on this database (as a failover would).
    let cut = db
        .admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND query LIKE 'LISTEN%'",
            &[&db.name],
        )
        .await
        .unwrap();
    assert_eq!(cut, 2);
    // Caches learn at once that changes are being missed, then that the feed is back.
    assert_eq!(next_change(&mut feed_b).await, StorageChange::Interrupted);
    assert_eq!(next_change(&mut feed_b).await, StorageChange::Resync);
    // And it follows writes again afterwards.
    a.kv_put("core/mounts", vec![2]).await.unwrap();
    assert_eq!(
        next_change(&mut feed_b).await,
        StorageChange::Key("core/mounts".into())
    );
    drop((a, b));
    db.drop_db().await;
}

/// `sslmode` in the storage URL means what it means for targets: `require` encrypts every
/// storage session (pool and change feed) or refuses to start; `verify-full` refuses a
/// certificate no trusted root signed (this machine's server, when it has TLS on, serves a
/// self-signed one).
#[tokio::test]
async fn sslmode_is_honoured_by_every_storage_connection() {
    let db = TestDb::new().await;
    let tls_on = db
        .admin
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get::<_, String>(0)
        == "on";
    let open = |mode: &str| {
        PostgresStorage::open(PostgresSettings {
            connection_url: SecretString::from(format!("{} sslmode={mode}", db.url())),
            max_connections: 2,
        })
    };

    match open("require").await {
        Ok(s) => {
            assert!(tls_on, "sslmode=require connected to a server without TLS");
            s.kv_put("tls/probe", vec![1]).await.unwrap();
            let rows = db
                .admin
                .query(
                    "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE a.datname = $1 AND a.application_name = 'leasehold-storage'",
                    &[&db.name],
                )
                .await
                .unwrap();
            let encrypted: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
            assert!(
                encrypted.len() >= 2,
                "pool and feed sessions: {encrypted:?}"
            );
            assert!(encrypted.iter().all(|e| *e), "{encrypted:?}");
            drop(s);
        }
        Err(e) => assert!(!tls_on, "sslmode=require failed against a TLS server: {e}"),
    }

    let refused = open("verify-full")
        .await
        .err()
        .expect("an unverifiable server was accepted");
    assert!(!refused.0.contains("password"), "{refused}");
    if tls_on {
        assert!(refused.0.contains("certificate"), "{refused}");
    }
    let refused = open("sometimes")
        .await
        .err()
        .expect("a bad sslmode was accepted");
    assert!(refused.0.contains("sslmode \"sometimes\""), "{refused}");
    db.drop_db().await;
}

// ---- Sealing (issue 17, the "seal" part): the keyring on shared storage. ----

/// Several nodes start the new version together on a store written in format 1: exactly one
/// migrates (under the keyring's storage lock), and all end up with the same ring, so every
/// value opens on every node. Two migrations would leave values under a ring that was replaced.
#[tokio::test]
async fn nodes_starting_together_migrate_the_seal_format_once() {
    use super::keyring;
    use super::seal::{Aad, Seal};
    use std::sync::Arc;
    let db = TestDb::new().await;
    let key = [9u8; 32];
    let writer = db.open().await;
    let legacy = Seal::from_key(&key).unwrap();
    let now = Utc::now();
    for i in 0..300 {
        writer
            .kv_put(
                &format!("token/id/{i:04}"),
                legacy.seal_legacy(b"entry").unwrap(),
            )
            .await
            .unwrap();
        let mut lease = suite::lease(&format!("db/creds/ro/{i:04}"), now);
        lease.internal = legacy.seal_legacy(b"{\"username\":\"v-x\"}").unwrap();
        writer.lease_insert(&lease).await.unwrap();
    }
    let nodes: Vec<Arc<dyn Storage>> = vec![
        Arc::new(db.open().await),
        Arc::new(db.open().await),
        Arc::new(db.open().await),
    ];
    let seals: Vec<Seal> = (0..3).map(|_| Seal::from_key(&key).unwrap()).collect();
    let (a, b, c) = tokio::join!(
        keyring::load(&seals[0], &nodes[0], &crate::clock::SystemClock),
        keyring::load(&seals[1], &nodes[1], &crate::clock::SystemClock),
        keyring::load(&seals[2], &nodes[2], &crate::clock::SystemClock),
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    for i in 0..300 {
        let k = format!("token/id/{i:04}");
        let v = writer.kv_get(&k).await.unwrap().unwrap();
        let id = format!("db/creds/ro/{i:04}");
        let internal = writer.lease_get(&id).await.unwrap().unwrap().internal;
        for seal in &seals {
            assert_eq!(&seal.open(&v, &Aad::kv(&k)).unwrap()[..], b"entry");
            assert!(seal.open(&internal, &Aad::lease(&id)).is_ok());
        }
    }
    drop((writer, nodes));
    db.drop_db().await;
}

/// A sealed entry copied onto another key directly in the PostgreSQL table does not open there.
#[tokio::test]
async fn a_sealed_entry_copied_to_another_key_in_postgres_is_refused() {
    use super::keyring;
    use super::seal::Seal;
    use super::sealed::SealedKv;
    use std::sync::Arc;
    let db = TestDb::new().await;
    let storage: Arc<dyn Storage> = Arc::new(db.open().await);
    let seal = Seal::from_key(&[3u8; 32]).unwrap();
    keyring::load(&seal, &storage, &crate::clock::SystemClock)
        .await
        .unwrap();
    let kv = SealedKv::new(storage.clone(), seal);
    kv.put("token/id/root", b"{\"policies\":[\"root\"]}")
        .await
        .unwrap();
    kv.put("token/id/weak", b"{\"policies\":[\"default\"]}")
        .await
        .unwrap();
    let (client, conn) = tokio_postgres::connect(&db.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    let n = client
        .execute(
            "UPDATE kv SET value = (SELECT value FROM kv WHERE key = 'token/id/root') \
             WHERE key = 'token/id/weak'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(kv.get("token/id/weak").await.is_err());
    assert_eq!(
        &kv.get("token/id/root").await.unwrap().unwrap()[..],
        b"{\"policies\":[\"root\"]}"
    );
    drop((kv, storage));
    db.drop_db().await;
}

/// One node rotates; another, loaded before, reads what the first wrote under the new term (it
/// reloads the ring on meeting an unknown term) and its rewrite moves the old values.
#[tokio::test]
async fn a_rotation_on_one_node_is_read_on_another() {
    use super::keyring;
    use super::seal::Seal;
    use super::sealed::SealedKv;
    use std::sync::Arc;
    let db = TestDb::new().await;
    let (a, b): (Arc<dyn Storage>, Arc<dyn Storage>) =
        (Arc::new(db.open().await), Arc::new(db.open().await));
    let (seal_a, seal_b) = (
        Seal::from_key(&[4u8; 32]).unwrap(),
        Seal::from_key(&[4u8; 32]).unwrap(),
    );
    keyring::load(&seal_a, &a, &crate::clock::SystemClock)
        .await
        .unwrap();
    keyring::load(&seal_b, &b, &crate::clock::SystemClock)
        .await
        .unwrap();
    let (kv_a, kv_b) = (
        SealedKv::new(a.clone(), seal_a.clone()),
        SealedKv::new(b.clone(), seal_b.clone()),
    );
    kv_b.put("policy/acl/old", b"old").await.unwrap();
    assert_eq!(
        keyring::rotate(&seal_a, &a, &crate::clock::SystemClock)
            .await
            .unwrap(),
        2
    );
    kv_a.put("policy/acl/new", b"new").await.unwrap();
    assert_eq!(seal_b.active_term(), Some(1));
    assert_eq!(
        &kv_b.get("policy/acl/new").await.unwrap().unwrap()[..],
        b"new"
    );
    assert_eq!(seal_b.active_term(), Some(2), "b reloaded the ring");
    let report = keyring::rewrite(&seal_b, &b).await.unwrap().unwrap();
    assert_eq!(report.rewritten, 1);
    let v = a.kv_get("policy/acl/old").await.unwrap().unwrap();
    assert_eq!(super::seal::term_of(&v), Some(2));
    assert_eq!(
        &kv_a.get("policy/acl/old").await.unwrap().unwrap()[..],
        b"old"
    );
    assert!(!keyring::rewrite_pending(&seal_a, &a).await.unwrap());
    drop((kv_a, kv_b, a, b));
    db.drop_db().await;
}
