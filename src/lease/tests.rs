//! Engine tests against a fake backend whose "accounts" are a set in memory: they check the
//! engine's own guarantees (write-ahead, cleanup on failed issue, retry bookkeeping, renew caps,
//! crash recovery). The real effects on PostgreSQL are proven in `tests/`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use leasehold_backend::{
    Backend, BackendError, Credentials, MountStorage, PlannedSecret, Renew, Request, Response,
    Revoked, SecretContext, SecretEngine,
};
use serde_json::json;

use super::engine::IssueTarget;
use super::ttl::MountTtls;
use super::*;
use crate::clock::{Clock, ManualClock, SharedClock};
use crate::error::{Error, LeaseProblem};
use crate::storage::seal::Seal;
use crate::storage::sealed::{MountView, SealedKv};
use crate::storage::sqlite::SqliteStorage;
use crate::storage::Storage;

#[derive(Default)]
struct FakeBackend {
    accounts: Mutex<HashSet<String>>,
    /// Accounts created at any time, to check creation happened after the row existed.
    fail_create_after_making: AtomicBool,
    /// Create fails before reaching the target (nothing made).
    create_not_reached: AtomicBool,
    fail_revoke: AtomicBool,
    /// Create panics after making the account.
    panic_create: AtomicBool,
    /// Revoke calls made, to check none is made for a create that never reached the target.
    revokes: std::sync::atomic::AtomicUsize,
    /// Sessions each account has open, ended (and reported) by its revocation.
    sessions: Mutex<std::collections::HashMap<String, u64>>,
    storage: Mutex<Option<Arc<dyn Storage>>>,
}

#[async_trait]
impl Backend for FakeBackend {
    fn mount_type(&self) -> &'static str {
        "fake"
    }
    async fn handle(&self, _req: Request) -> Result<Option<Response>, BackendError> {
        Ok(None)
    }
    fn secrets(&self) -> Option<&dyn SecretEngine> {
        Some(self)
    }
}

#[async_trait]
impl SecretEngine for FakeBackend {
    fn renewer(&self) -> Option<&dyn Renew> {
        Some(self)
    }
    async fn create(&self, ctx: &SecretContext) -> Result<Credentials, BackendError> {
        let name = ctx.internal["username"].as_str().unwrap().to_owned();
        // Write-ahead: the lease row must already exist when the account is made.
        let storage = self.storage.lock().unwrap().clone().unwrap();
        let rows = storage.lease_list_live("fake/").await.unwrap();
        assert!(
            rows.iter().any(|l| l.account == name),
            "account created before its lease row"
        );
        if self.create_not_reached.load(Ordering::SeqCst) {
            return Err(BackendError::TargetNotReached("connection refused".into()));
        }
        self.accounts.lock().unwrap().insert(name.clone());
        if self.fail_create_after_making.load(Ordering::SeqCst) {
            return Err(BackendError::Target("grant failed".into()));
        }
        if self.panic_create.load(Ordering::SeqCst) {
            panic!("the fake backend panics on create, as told");
        }
        let mut c = Credentials::default();
        c.data.insert("username".into(), json!(name));
        Ok(c)
    }
    async fn revoke(&self, ctx: &SecretContext) -> Result<Revoked, BackendError> {
        self.revokes.fetch_add(1, Ordering::SeqCst);
        if self.fail_revoke.load(Ordering::SeqCst) {
            return Err(BackendError::Target("connection refused".into()));
        }
        let name = ctx.internal["username"].as_str().unwrap();
        // As the database drivers do: an account found reports its sessions, a missing one
        // cannot say.
        if !self.accounts.lock().unwrap().remove(name) {
            return Ok(Revoked::unknown());
        }
        let open = self.sessions.lock().unwrap().remove(name).unwrap_or(0);
        Ok(Revoked::sessions(open))
    }
}

#[async_trait]
impl Renew for FakeBackend {
    async fn renew(&self, _ctx: &SecretContext) -> Result<(), BackendError> {
        Ok(())
    }
}

struct OneMount {
    backend: Arc<FakeBackend>,
    view: Arc<dyn MountStorage>,
}

impl MountResolver for OneMount {
    fn resolve(&self, uuid: &str) -> Option<ResolvedMount> {
        (uuid == "m1").then(|| ResolvedMount {
            backend: self.backend.clone(),
            storage: self.view.clone(),
            ttls: MountTtls {
                default_ttl: Duration::from_secs(3600),
                max_ttl: Duration::from_secs(7200),
            },
        })
    }
}

struct Fixture {
    engine: Arc<LeaseEngine>,
    backend: Arc<FakeBackend>,
    clock: Arc<ManualClock>,
}

fn fixture() -> Fixture {
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(std::path::Path::new(":memory:")).unwrap());
    let seal = Seal::generate();
    let backend = Arc::new(FakeBackend::default());
    *backend.storage.lock().unwrap() = Some(storage.clone());
    let view: Arc<dyn MountStorage> = Arc::new(MountView::new(
        SealedKv::new(storage.clone(), seal.clone()),
        "m1",
    ));
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let shared: SharedClock = clock.clone();
    let settings = LeaseSettings {
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(8),
        ..LeaseSettings::default()
    };
    let engine = Arc::new(LeaseEngine::new(
        storage,
        seal,
        shared,
        Arc::new(OneMount {
            backend: backend.clone(),
            view,
        }),
        Arc::new(token_rows::NoTokens),
        settings,
    ));
    Fixture {
        engine,
        backend,
        clock,
    }
}

fn planned(name: &str, ttl: u64, max: u64) -> PlannedSecret {
    PlannedSecret {
        kind: "creds".into(),
        role: "ro".into(),
        account: name.into(),
        internal: json!({"username": name}),
        ttl: Duration::from_secs(ttl),
        max_ttl: Duration::from_secs(max),
        renewable: true,
        require_purpose: false,
        approval_tier: None,
    }
}

fn target() -> IssueTarget {
    IssueTarget {
        mount_uuid: "m1".into(),
        mount_path: "fake/".into(),
        request_path: "fake/creds/ro".into(),
        token_accessor: "acc".into(),
        workload: String::new(),
        purpose: None,
        ticket: None,
        trail: Default::default(),
        admission: None,
    }
}

#[tokio::test]
async fn issue_writes_ahead_and_activates() {
    let f = fixture();
    let issued = f
        .engine
        .issue(target(), planned("u1", 60, 0))
        .await
        .unwrap();
    assert!(issued.lease.id.starts_with("fake/creds/ro/"));
    assert_eq!(issued.ttl, Duration::from_secs(60));
    let stored = f.engine.get(&issued.lease.id).await.unwrap().unwrap();
    assert_eq!(stored.state, LeaseState::Active);
    assert!(f.backend.accounts.lock().unwrap().contains("u1"));
    // Internal data is sealed at rest.
    assert!(!stored.internal.windows(2).any(|w| w == b"u1"));
}

#[tokio::test]
async fn a_backend_that_panics_fails_its_issue_only_and_what_it_made_is_destroyed() {
    let f = fixture();
    f.backend.panic_create.store(true, Ordering::SeqCst);
    let err = f
        .engine
        .issue(target(), planned("u-panic", 60, 0))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert!(
        f.backend.accounts.lock().unwrap().is_empty(),
        "the account made before the panic was left behind"
    );
    assert!(f.engine.list_live("fake/").await.unwrap().is_empty());
    // The engine (and the caller's task) go on: the next issue works.
    f.backend.panic_create.store(false, Ordering::SeqCst);
    f.engine
        .issue(target(), planned("u-after", 60, 0))
        .await
        .unwrap();
    assert!(f.backend.accounts.lock().unwrap().contains("u-after"));
}

#[tokio::test]
async fn failed_issue_destroys_what_was_made() {
    let f = fixture();
    f.backend
        .fail_create_after_making
        .store(true, Ordering::SeqCst);
    let err = f
        .engine
        .issue(target(), planned("u2", 60, 0))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("grant failed"));
    assert!(
        f.backend.accounts.lock().unwrap().is_empty(),
        "half-made account left behind"
    );
    assert!(f.engine.list_live("fake/").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_issue_that_never_reached_the_target_ends_at_once() {
    let f = fixture();
    f.backend.create_not_reached.store(true, Ordering::SeqCst);
    f.backend.fail_revoke.store(true, Ordering::SeqCst);
    let err = f.engine.issue(target(), planned("u9", 60, 0)).await.err();
    assert!(err.unwrap().to_string().contains("connection refused"));
    // Ended as a tombstone saying why, with no destruction attempted and nothing to retry.
    assert!(f.engine.list_live("fake/").await.unwrap().is_empty());
    assert_eq!(f.backend.revokes.load(Ordering::SeqCst), 0);
    assert!(f.engine.irrevocable(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_issue_whose_cleanup_fails_keeps_the_creation_reason() {
    let f = fixture();
    f.backend
        .fail_create_after_making
        .store(true, Ordering::SeqCst);
    f.backend.fail_revoke.store(true, Ordering::SeqCst);
    assert!(f
        .engine
        .issue(target(), planned("u8", 60, 0))
        .await
        .is_err());
    let live = f.engine.list_live("fake/").await.unwrap();
    let l = live.first().unwrap();
    assert_eq!(l.state, LeaseState::Revoking);
    assert_eq!(
        l.last_error.as_deref(),
        Some("creation failed: grant failed; then destruction failed: connection refused")
    );
    assert_eq!(
        l.issue_failure(),
        l.last_error.as_deref(),
        "a lookup would say why the lease exists"
    );
}

#[tokio::test]
async fn failed_revoke_stays_revoking_then_succeeds() {
    let f = fixture();
    let id = f
        .engine
        .issue(target(), planned("u3", 60, 0))
        .await
        .unwrap()
        .lease
        .id;
    f.backend.fail_revoke.store(true, Ordering::SeqCst);
    let err = f.engine.revoke(&id, true).await.err().unwrap();
    assert!(matches!(err, Error::RevokeFailed { .. }));
    let l = f.engine.get(&id).await.unwrap().unwrap();
    assert_eq!(l.state, LeaseState::Revoking);
    assert_eq!(l.attempts, 1);
    assert_eq!(l.last_error.as_deref(), Some("connection refused"));
    assert!(l.due_at.unwrap() > f.clock.now());
    // Renewing a lease being destroyed is refused.
    assert!(matches!(
        f.engine.renew(&id, Duration::ZERO).await,
        Err(Error::Lease(LeaseProblem::Expired))
    ));
    f.backend.fail_revoke.store(false, Ordering::SeqCst);
    f.engine.destroy(&id).await.unwrap();
    let l = f.engine.get(&id).await.unwrap().unwrap();
    assert_eq!(l.state, LeaseState::Revoked);
    assert!(f.backend.accounts.lock().unwrap().is_empty());
    // Idempotent: revoking again, or an unknown lease, succeeds.
    f.engine.revoke(&id, true).await.unwrap();
    f.engine.revoke("fake/creds/ro/nope", true).await.unwrap();
}

/// Records the `destroyed` events' session counts, by account.
#[derive(Default)]
struct SessionCounts(Mutex<Vec<(String, Option<u64>)>>);

impl events::LeaseObserver for SessionCounts {
    fn on_event(&self, event: &events::LeaseEvent<'_>, _at: chrono::DateTime<Utc>) {
        if let events::LeaseEvent::Destroyed {
            lease,
            sessions_terminated,
            ..
        } = event
        {
            let account = lease.account.clone();
            self.0.lock().unwrap().push((account, *sessions_terminated));
        }
    }
}

#[tokio::test]
async fn the_destroyed_event_carries_the_sessions_the_target_ended() {
    let f = fixture();
    let seen = Arc::new(SessionCounts::default());
    f.engine.observers.add(seen.clone());
    let mut ids = Vec::new();
    for name in ["busy", "idle", "gone"] {
        let issued = f.engine.issue(target(), planned(name, 60, 0)).await;
        ids.push(issued.unwrap().lease.id);
    }
    f.backend.sessions.lock().unwrap().insert("busy".into(), 2);
    // An account that vanished before its revocation: the target cannot say.
    f.backend.accounts.lock().unwrap().remove("gone");
    // One revocation fails first: its retry still reports what the target found.
    f.backend.fail_revoke.store(true, Ordering::SeqCst);
    assert!(f.engine.revoke(&ids[0], true).await.is_err());
    f.backend.fail_revoke.store(false, Ordering::SeqCst);
    for id in &ids {
        f.engine.revoke(id, true).await.unwrap();
    }
    let mut seen = seen.0.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("busy".to_owned(), Some(2)),
            ("gone".to_owned(), None),
            ("idle".to_owned(), Some(0)),
        ]
    );
}

#[tokio::test]
async fn irrevocable_after_n_attempts_but_kept() {
    let f = fixture();
    let id = f
        .engine
        .issue(target(), planned("u4", 60, 0))
        .await
        .unwrap()
        .lease
        .id;
    f.backend.fail_revoke.store(true, Ordering::SeqCst);
    for _ in 0..6 {
        let _ = f.engine.destroy(&id).await;
    }
    let irrevocable = f.engine.irrevocable(10).await.unwrap();
    assert_eq!(irrevocable.len(), 1);
    assert_eq!(irrevocable[0].id, id);
    assert!(matches!(
        f.engine.renew(&id, Duration::ZERO).await,
        Err(Error::Lease(LeaseProblem::Irrevocable))
    ));
}

#[tokio::test]
async fn renew_caps_at_max_and_refuses_after() {
    let f = fixture();
    let id = f
        .engine
        .issue(target(), planned("u5", 60, 120))
        .await
        .unwrap()
        .lease
        .id;
    f.clock.advance(chrono::Duration::seconds(30));
    let r = f
        .engine
        .renew(&id, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(r.ttl, Duration::from_secs(90));
    assert!(r
        .warning
        .unwrap()
        .contains("exceeded the effective max_ttl"));
    f.clock.advance(chrono::Duration::seconds(91));
    assert!(matches!(
        f.engine.renew(&id, Duration::ZERO).await,
        Err(Error::Lease(LeaseProblem::Expired))
    ));
}

#[tokio::test]
async fn force_removes_and_warns() {
    let f = fixture();
    let id = f
        .engine
        .issue(target(), planned("u6", 60, 0))
        .await
        .unwrap()
        .lease
        .id;
    f.backend.fail_revoke.store(true, Ordering::SeqCst);
    let warnings = f.engine.revoke_force("fake/").await.unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("u6") && warnings[0].contains("may remain"));
    let l = f.engine.get(&id).await.unwrap().unwrap();
    assert!(l.forced && l.state == LeaseState::Revoked);
}

#[tokio::test]
async fn expiry_worker_destroys_due_leases() {
    let f = fixture();
    let id = f
        .engine
        .issue(target(), planned("u7", 60, 0))
        .await
        .unwrap()
        .lease
        .id;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(expiry::run(f.engine.clone(), rx));
    f.clock.advance(chrono::Duration::seconds(61));
    f.engine.wake.notify_one();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while f.engine.get(&id).await.unwrap().unwrap().state != LeaseState::Revoked {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease not destroyed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(f.backend.accounts.lock().unwrap().is_empty());
    stop.send(true).unwrap();
    worker.await.unwrap();
}

/// A backend whose revoke takes a while and records how many run at once.
#[derive(Default)]
struct SlowBackend {
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
    revoked: std::sync::atomic::AtomicUsize,
    /// Says it bounds its target's load itself (as the database engine does).
    bounds_load: bool,
}

#[async_trait]
impl Backend for SlowBackend {
    fn mount_type(&self) -> &'static str {
        "slow"
    }
    async fn handle(&self, _req: Request) -> Result<Option<Response>, BackendError> {
        Ok(None)
    }
    fn secrets(&self) -> Option<&dyn SecretEngine> {
        Some(self)
    }
}

#[async_trait]
impl SecretEngine for SlowBackend {
    fn renewer(&self) -> Option<&dyn Renew> {
        Some(self)
    }
    async fn create(&self, _ctx: &SecretContext) -> Result<Credentials, BackendError> {
        Ok(Credentials::default())
    }
    fn bounds_target_load(&self) -> bool {
        self.bounds_load
    }
    async fn revoke(&self, _ctx: &SecretContext) -> Result<Revoked, BackendError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.revoked.fetch_add(1, Ordering::SeqCst);
        Ok(Revoked::unknown())
    }
}

#[async_trait]
impl Renew for SlowBackend {
    async fn renew(&self, _ctx: &SecretContext) -> Result<(), BackendError> {
        Ok(())
    }
}

struct SlowMount {
    backend: Arc<SlowBackend>,
    view: Arc<dyn MountStorage>,
}

impl MountResolver for SlowMount {
    fn resolve(&self, _uuid: &str) -> Option<ResolvedMount> {
        Some(ResolvedMount {
            backend: self.backend.clone(),
            storage: self.view.clone(),
            ttls: MountTtls {
                default_ttl: Duration::from_secs(3600),
                max_ttl: Duration::from_secs(7200),
            },
        })
    }
}

/// Drain 60 leases that fell due while the server was down with `revoke_concurrency = 4`;
/// the most destructions that ran at once.
async fn drain_backlog(bounds_load: bool) -> usize {
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(std::path::Path::new(":memory:")).unwrap());
    let seal = Seal::generate();
    let backend = Arc::new(SlowBackend {
        bounds_load,
        ..SlowBackend::default()
    });
    let view: Arc<dyn MountStorage> = Arc::new(MountView::new(
        SealedKv::new(storage.clone(), seal.clone()),
        "m1",
    ));
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let shared: SharedClock = clock.clone();
    let settings = LeaseSettings {
        revoke_concurrency: 4,
        ..LeaseSettings::default()
    };
    let engine = Arc::new(LeaseEngine::new(
        storage,
        seal,
        shared,
        Arc::new(SlowMount {
            backend: backend.clone(),
            view,
        }),
        Arc::new(token_rows::NoTokens),
        settings,
    ));
    for i in 0..60 {
        engine
            .issue(target(), planned(&format!("b{i}"), 60, 0))
            .await
            .unwrap();
    }
    // The "downtime": every lease is now long past its expiry.
    clock.advance(chrono::Duration::seconds(3600));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(expiry::run(engine.clone(), rx));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while backend.revoked.load(Ordering::SeqCst) < 60 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "backlog not drained"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(engine.list_live("fake/").await.unwrap().is_empty());
    stop.send(true).unwrap();
    worker.await.unwrap();
    backend.max_in_flight.load(Ordering::SeqCst)
}

/// Leases that fell due while the server was down are destroyed at a bounded rate: never more
/// than `revoke_concurrency` at once on an engine that leaves its target's load to us, so a
/// returning server does not storm its targets.
#[tokio::test]
async fn a_backlog_of_due_leases_is_drained_with_bounded_concurrency() {
    let max = drain_backlog(false).await;
    assert!(
        max <= 4,
        "{max} destructions ran at once with revoke_concurrency = 4"
    );
    assert!(
        max >= 2,
        "the backlog was drained one at a time ({max}); concurrency is not used"
    );
}

/// An engine that bounds its target's load itself (pools, batches) gets more in flight, up to
/// 16 times `revoke_concurrency`: what waits, waits in the engine.
#[tokio::test]
async fn an_engine_that_bounds_its_load_gets_a_wider_bound() {
    let max = drain_backlog(true).await;
    assert!(
        (8..=64).contains(&max),
        "{max} destructions ran at once with revoke_concurrency = 4 on a bounding engine"
    );
}

/// A row the expiry worker claimed goes to the destruction path as it is, with no second
/// claim; if someone in this process held the lease meanwhile (a sync revoke that ended it),
/// the worker reads the row again and leaves an ended lease alone.
#[tokio::test]
async fn a_claimed_row_is_destroyed_once_even_when_a_revoke_ended_it_first() {
    let f = fixture();
    let id = f
        .engine
        .issue(target(), planned("u9", 60, 0))
        .await
        .unwrap()
        .lease
        .id;
    let later = f.clock.now() + chrono::Duration::seconds(120);
    let claimed = f
        .engine
        .storage()
        .lease_claim_due(later, later, 10, f.engine.node_id())
        .await
        .unwrap();
    let lease = claimed.into_iter().next().unwrap();
    assert_eq!(lease.id, id);
    // A revoke in this process takes the lease's lock first and ends it.
    let held = f.engine.lock_for(&id).lock_owned().await;
    assert!(f.engine.try_lock_claimed(&id).is_none());
    drop(held);
    f.engine.revoke(&id, true).await.unwrap();
    assert_eq!(f.backend.revokes.load(Ordering::SeqCst), 1);
    // The worker's stale row: read again under the lock, found ended, not destroyed again.
    f.engine.destroy_expired(lease, None).await.unwrap();
    assert_eq!(f.backend.revokes.load(Ordering::SeqCst), 1);
    let l = f.engine.get(&id).await.unwrap().unwrap();
    assert_eq!(l.state, LeaseState::Revoked);
    assert_eq!(l.attempts, 1);
}
