//! The two-phase issue (`two_phase.rs`) against a fake engine whose "transaction" is a set of
//! prepared names: the commit must come after the row is on disk, and every failure must leave
//! neither an account nor a live row. The real effect on PostgreSQL (a prepared user is not in
//! `pg_roles`, a dropped one never appears) is proven in `tests/api/postgres.rs`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use leasehold_backend::{
    Backend, BackendError, Commit, Credentials, MountStorage, Pending, PlannedSecret, Request,
    Response, Revoked, SecretContext, SecretEngine,
};
use serde_json::json;

use super::engine::{IssueTarget, MountResolver, ResolvedMount};
use super::ttl::MountTtls;
use super::*;
use crate::clock::{ManualClock, SharedClock};
use crate::storage::seal::Seal;
use crate::storage::sealed::{MountView, SealedKv};
use crate::storage::sqlite::SqliteStorage;
use crate::storage::Storage;

/// What the fake target holds: committed accounts, open transactions, and what happened.
#[derive(Default)]
struct Target {
    accounts: Mutex<HashSet<String>>,
    open: Mutex<HashSet<String>>,
    rolled_back: Mutex<Vec<String>>,
    /// The row's state each commit found in storage.
    row_at_commit: Mutex<Vec<Option<LeaseState>>>,
    fail_prepare: AtomicBool,
    fail_commit: AtomicBool,
    storage: Mutex<Option<Arc<dyn Storage>>>,
}

struct TwoPhase(Arc<Target>);

#[async_trait]
impl Backend for TwoPhase {
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
impl SecretEngine for TwoPhase {
    async fn create(&self, _ctx: &SecretContext) -> Result<Credentials, BackendError> {
        Err(BackendError::Internal(
            "this engine creates in two phases".into(),
        ))
    }
    async fn prepare(&self, ctx: &SecretContext) -> Result<Option<Pending>, BackendError> {
        let name = ctx.internal["username"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if self.0.fail_prepare.load(Ordering::SeqCst) {
            return Err(BackendError::Target("creation statement 1 failed".into()));
        }
        self.0.open.lock().unwrap().insert(name.clone());
        let mut credentials = Credentials::default();
        credentials.data.insert("username".into(), json!(name));
        Ok(Some(Pending {
            credentials,
            commit: Box::new(Open {
                target: self.0.clone(),
                name,
                done: false,
            }),
        }))
    }
    async fn revoke(&self, ctx: &SecretContext) -> Result<Revoked, BackendError> {
        let name = ctx.internal["username"].as_str().unwrap_or_default();
        self.0.accounts.lock().unwrap().remove(name);
        Ok(Revoked::unknown())
    }
}

/// One open "transaction": committed, or rolled back when dropped.
struct Open {
    target: Arc<Target>,
    name: String,
    done: bool,
}

#[async_trait]
impl Commit for Open {
    async fn commit(mut self: Box<Self>) -> Result<(), BackendError> {
        let storage = self.target.storage.lock().unwrap().clone().unwrap();
        let rows = storage.lease_list_live("fake/").await.unwrap();
        let row = rows
            .iter()
            .find(|l| l.account == self.name)
            .map(|l| l.state);
        self.target.row_at_commit.lock().unwrap().push(row);
        self.done = true;
        self.target.open.lock().unwrap().remove(&self.name);
        if self.target.fail_commit.load(Ordering::SeqCst) {
            return Err(BackendError::Target("cannot commit the new user".into()));
        }
        self.target
            .accounts
            .lock()
            .unwrap()
            .insert(self.name.clone());
        Ok(())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if !self.done {
            self.target.open.lock().unwrap().remove(&self.name);
            self.target
                .rolled_back
                .lock()
                .unwrap()
                .push(self.name.clone());
        }
    }
}

struct OneMount(Arc<TwoPhase>, Arc<dyn MountStorage>);

impl MountResolver for OneMount {
    fn resolve(&self, uuid: &str) -> Option<ResolvedMount> {
        (uuid == "m1").then(|| ResolvedMount {
            backend: self.0.clone(),
            storage: self.1.clone(),
            ttls: MountTtls {
                default_ttl: Duration::from_secs(3600),
                max_ttl: Duration::from_secs(7200),
            },
        })
    }
}

/// An engine on a SQLite file (so that a second connection can break its writes) and the
/// fake target.
fn fixture(dir: &std::path::Path) -> (Arc<LeaseEngine>, Arc<Target>, std::path::PathBuf) {
    let path = dir.join("leasehold.db");
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&path).unwrap());
    let seal = Seal::generate();
    let target = Arc::new(Target::default());
    *target.storage.lock().unwrap() = Some(storage.clone());
    let view: Arc<dyn MountStorage> = Arc::new(MountView::new(
        SealedKv::new(storage.clone(), seal.clone()),
        "m1",
    ));
    let clock: SharedClock = Arc::new(ManualClock::at(Utc::now()));
    let engine = Arc::new(LeaseEngine::new(
        storage,
        seal,
        clock,
        Arc::new(OneMount(Arc::new(TwoPhase(target.clone())), view)),
        Arc::new(token_rows::NoTokens),
        LeaseSettings::default(),
    ));
    (engine, target, path)
}

fn planned(name: &str) -> PlannedSecret {
    PlannedSecret {
        kind: "creds".into(),
        role: "ro".into(),
        account: name.into(),
        internal: json!({"username": name}),
        ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(0),
        renewable: true,
        require_purpose: false,
        approval_tier: None,
    }
}

fn issue_target() -> IssueTarget {
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
async fn the_commit_comes_after_the_creating_row_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, target, _) = fixture(dir.path());
    let issued = engine.issue(issue_target(), planned("u1")).await.unwrap();
    assert_eq!(issued.lease.state, LeaseState::Active);
    // The commit found the row written: `creating`, or already `active` (the activation is
    // written while the commit runs). Never absent.
    let seen = target.row_at_commit.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        matches!(seen[0], Some(LeaseState::Creating | LeaseState::Active)),
        "committed with the row {:?}",
        seen[0]
    );
    assert!(target.accounts.lock().unwrap().contains("u1"));
    let row = engine
        .storage()
        .lease_get(&issued.lease.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, LeaseState::Active);
    assert!(engine.verify_row(&row));
}

#[tokio::test]
async fn a_row_that_cannot_be_written_rolls_the_creation_back() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, target, path) = fixture(dir.path());
    // Another connection makes every new lease row fail, as a full disk would.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER no_rows BEFORE INSERT ON leases BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    let err = engine
        .issue(issue_target(), planned("u2"))
        .await
        .err()
        .expect("the issue should fail");
    assert!(err.to_string().contains("disk full"), "{err}");
    // The prepared creation was dropped uncommitted: nothing on the target, nothing open.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(target.accounts.lock().unwrap().is_empty());
    assert!(target.open.lock().unwrap().is_empty());
    assert_eq!(*target.rolled_back.lock().unwrap(), vec!["u2".to_owned()]);
    assert!(target.row_at_commit.lock().unwrap().is_empty());
    assert!(engine
        .storage()
        .lease_list_live("fake/")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_failed_commit_ends_the_lease_it_had_activated() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, target, _) = fixture(dir.path());
    target.fail_commit.store(true, Ordering::SeqCst);
    let err = engine
        .issue(issue_target(), planned("u3"))
        .await
        .err()
        .expect("the issue should fail");
    assert!(err.to_string().contains("cannot commit"), "{err}");
    assert!(target.accounts.lock().unwrap().is_empty());
    // No live row is left claiming an account: the lease went through destruction.
    assert!(engine
        .storage()
        .lease_list_live("fake/")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_failed_prepare_abandons_the_row_as_a_failed_create() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, target, _) = fixture(dir.path());
    target.fail_prepare.store(true, Ordering::SeqCst);
    let err = engine
        .issue(issue_target(), planned("u4"))
        .await
        .err()
        .expect("the issue should fail");
    assert!(
        err.to_string().contains("creation statement 1 failed"),
        "{err}"
    );
    assert!(target.accounts.lock().unwrap().is_empty());
    assert!(engine
        .storage()
        .lease_list_live("fake/")
        .await
        .unwrap()
        .is_empty());
}

/// A lease-count quota's admission: one that covers the lease writes the row itself, before
/// anything runs on the target, and the account is then created in one step; one that covers
/// nothing leaves the issue two-phase.
struct Admission {
    applies: bool,
    inserted: Mutex<Vec<String>>,
    storage: Arc<dyn Storage>,
}

impl engine::LeaseAdmission for Arc<Admission> {
    fn check_for(
        &self,
        _request_path: &str,
        _role: &str,
    ) -> Option<Arc<dyn engine::AdmissionCheck>> {
        self.applies
            .then(|| Arc::clone(self) as Arc<dyn engine::AdmissionCheck>)
    }
}

#[async_trait]
impl engine::AdmissionCheck for Admission {
    async fn insert(&self, _request_path: &str, lease: &LeaseRecord) -> crate::error::Result<()> {
        self.inserted.lock().unwrap().push(lease.account.clone());
        Ok(self.storage.lease_insert(lease).await?)
    }
}

#[tokio::test]
async fn only_an_admission_that_applies_turns_the_issue_into_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, target, _) = fixture(dir.path());
    let storage = target.storage.lock().unwrap().clone().unwrap();
    for applies in [false, true] {
        let admission = Arc::new(Admission {
            applies,
            inserted: Mutex::default(),
            storage: storage.clone(),
        });
        let mut issue = issue_target();
        issue.admission = Some(Arc::new(admission.clone()));
        let name = format!("q{applies}");
        let outcome = engine.issue(issue, planned(&name)).await;
        if applies {
            // Admitted by the quota, then created in one step: this fake has no one-step
            // creation, so the issue fails, and the prepare never ran.
            assert!(outcome.is_err());
            assert_eq!(*admission.inserted.lock().unwrap(), vec![name.clone()]);
            assert!(!target.rolled_back.lock().unwrap().contains(&name));
        } else {
            assert!(outcome.is_ok());
            assert!(admission.inserted.lock().unwrap().is_empty());
            assert!(target.accounts.lock().unwrap().contains(&name));
        }
    }
}
