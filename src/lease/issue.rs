//! Issuing, in three named steps, so a crash at any point leaves a row that start-up (or another
//! node) finds and destroys:
//!
//! 1. [`LeaseEngine::plan_row`], then written (`insert_row`, or a quota's admission): the lease
//!    row, `creating`, naming the planned account, before anything exists on the target;
//! 2. [`LeaseEngine::create_account`]: the backend creates the account (or, for a target with
//!    transactions, the two overlap without changing that order: `two_phase.rs`);
//! 3. [`LeaseEngine::activate`] or [`LeaseEngine::abandon`]: the row becomes `active`, or the
//!    failed issue is settled by the rule below.
//!
//! Token expiry rows are inserted here too.
//!
//! # When an issue fails
//!
//! The lease row is written before the account is created, so a failed create leaves a row
//! whose account may or may not exist. What we may conclude depends on how far the create got:
//!
//! 1. **The create provably never reached the target** (the backend answers
//!    `BackendError::TargetNotReached`: connection refused, name not resolved, TLS handshake
//!    failed — before any request was sent, on every attempt). Nothing exists, so the lease
//!    ends at once: a `revoked` tombstone whose `last_error` starts with [`NOTHING_CREATED`].
//!    No destruction is attempted (the target is unreachable anyway), nothing is retried, and
//!    it is never listed as irrevocable: there is no credential to page anyone about.
//! 2. **The target answered, refusing** (a creation statement with a syntax error, a policy
//!    IAM rejects). The backend rolled back what it made; destruction runs at once, and since
//!    every backend's revoke treats "no such account" as success (IAM `NoSuchEntity`, a
//!    PostgreSQL role that does not exist, a MySQL or Redis user that is absent), the lease
//!    ends as a `revoked` tombstone whose `last_error` starts with [`CREATION_FAILED`].
//! 3. **Anything else** (a timeout after the request was sent, a connection lost mid-answer,
//!    the target gone between create and destroy). Something may exist that we cannot see, so
//!    the lease stays `revoking` and is retried like any failed destruction, counted as
//!    irrevocable after N attempts, never forgotten. Its `last_error` keeps the creation
//!    failure in front of the latest destruction error, so a lookup says why the lease exists:
//!    `creation failed: <why>; then destruction failed: <why>`.
//!
//! Trusting a backend's "not reached" is what lets case 1 skip destruction; backends claim it
//! only when no byte of the create request can have left (the AWS engine sends `CreateUser`
//! without the SDK's own retries for exactly this reason, see `aws::iam`).

use chrono::{DateTime, Utc};
use leasehold_backend::{BackendError, Credentials, PlannedSecret, SecretContext};
use tracing::{info, warn};

use super::destroy::LeaseLock;
use super::engine::{
    chrono_dur, AdmissionCheck, Answer, Call, IssueTarget, Issued, LeaseEngine, ResolvedMount,
    TOKEN_LEASE_KIND, TOKEN_MOUNT_UUID,
};
use super::events::LeaseEvent;
use super::id::new_lease_id;
use super::transitions::CREATION_FAILED;
use super::ttl::issue_ttl;
use super::two_phase::Made;
use crate::error::{Error, Result};
use crate::storage::seal::Aad;
use crate::storage::{LeaseRecord, LeaseState};

/// Time beyond the target timeout that a `creating` row stays its node's before others may take
/// it over: covers the storage writes around the create call.
const CREATE_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// An admission check and the request path it counts the lease under.
type Admission = (std::sync::Arc<dyn AdmissionCheck>, String);

impl LeaseEngine {
    /// Issue a planned secret: write ahead (`creating`), create the account, then activate (or
    /// abandon, on failure: the lease goes to destruction and the error is returned).
    pub async fn issue(&self, target: IssueTarget, planned: PlannedSecret) -> Result<Issued> {
        let mount = self
            .mounts
            .resolve(&target.mount_uuid)
            .ok_or_else(|| Error::Internal(format!("mount {} vanished", target.mount_path)))?;
        let (ttl, max, warning) = issue_ttl(planned.ttl, planned.max_ttl, mount.ttls);
        let started = std::time::Instant::now();
        let (mut lease, admission, internal) = self.plan_row(target, planned, ttl, max)?;
        // The backend's context from the data just sealed into the row, not opened from it
        // again: the same bytes, without a decryption and a parse per issue.
        let ctx = SecretContext {
            storage: mount.storage.clone(),
            kind: lease.kind.clone(),
            internal,
            expire_time: lease.expire_time,
        };
        let held = self.lock_for(&lease.id).lock_owned().await;
        let made = match admission {
            // A request an admission check (a lease-count quota) may refuse runs nothing on the
            // target before the check has passed: it writes first, then creates.
            Some((admission, request_path)) => {
                self.stamp_row(&mut lease);
                admission.insert(&request_path, &lease).await?;
                Made::OneStep(held, ctx)
            }
            None => self.issue_two_phase(&mut lease, &mount, ctx, held).await?,
        };
        let (lease, credentials) = match made {
            Made::Committed(made) => *made,
            Made::OneStep(held, ctx) => self.create_and_activate(lease, &mount, ctx, held).await?,
        };
        self.observers.emit(
            &LeaseEvent::Issued {
                lease: &lease,
                latency: started.elapsed(),
            },
            self.now(),
        );
        // The id and account once each, as fields: this line is formatted on every issue.
        info!(lease.id = %lease.id, account = %lease.account, ttl = ttl.as_secs(), "issued lease");
        Ok(Issued {
            lease,
            credentials,
            ttl,
            warning,
        })
    }

    /// Steps 2 and 3 after a row written on its own: create the account in one step, then
    /// activate the row (or abandon it). `ctx`: the lease's context.
    async fn create_and_activate(
        &self,
        lease: LeaseRecord,
        mount: &ResolvedMount,
        ctx: SecretContext,
        held: LeaseLock,
    ) -> Result<(LeaseRecord, Credentials)> {
        match self.create_account(mount, ctx).await {
            Ok(credentials) => self.activate(lease, credentials, held).await,
            Err(e) => {
                self.abandon(lease, LeaseState::Creating, &e, held).await?;
                Err(e)
            }
        }
    }

    /// Step 1's row: `creating`, this node's work until a deadline, naming the planned account,
    /// and the admission check (with the request path it counts under) that must write it, if
    /// any. Written by the caller, before the account exists (or, two-phase, before it is
    /// committed), under the lease's lock, held until the row says how the create went: a
    /// revoke-prefix that finds the row meanwhile waits instead of destroying an account
    /// before it exists. Also answers the internal data in the clear, as sealed into the row.
    fn plan_row(
        &self,
        target: IssueTarget,
        planned: PlannedSecret,
        ttl: std::time::Duration,
        max: std::time::Duration,
    ) -> Result<(LeaseRecord, Option<Admission>, serde_json::Value)> {
        let now = self.now();
        let internal = serde_json::to_vec(&planned.internal)
            .map_err(|e| Error::Internal(format!("cannot encode secret data: {e}")))?;
        // Bound to the lease id: the row's internal data opens for this lease only.
        let id = new_lease_id(&target.request_path, now);
        let internal = self
            .seal
            .seal(&internal, &Aad::lease(&id))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let lease = LeaseRecord {
            id,
            mount_uuid: target.mount_uuid,
            mount_path: target.mount_path,
            kind: planned.kind,
            role: planned.role,
            account: planned.account,
            state: LeaseState::Creating,
            issue_time: now,
            expire_time: now + chrono_dur(ttl),
            max_expire_time: now + chrono_dur(max),
            last_renewal: None,
            role_ttl_secs: i64::try_from(planned.ttl.as_secs()).unwrap_or(i64::MAX),
            renewable: planned.renewable,
            // Until it is active, the row is this node's work with a deadline: if the node dies
            // (or creation overruns), any worker takes the row over and destroys the account.
            due_at: Some(now + chrono_dur(self.settings.target_timeout + CREATE_GRACE)),
            attempts: 0,
            last_error: None,
            revoked_time: None,
            forced: false,
            token_accessor: target.token_accessor,
            workload: target.workload,
            purpose: target.purpose,
            ticket: target.ticket,
            internal,
            claimed_by: Some(self.node_id().to_owned()),
            row_mac: None,
            tampered_at: None,
            trail: target.trail,
        };
        // The quota counts and inserts as one step; the row is tagged first all the same. Only
        // an admission that applies to this lease is kept: without one, a plain insert.
        let admission = target
            .admission
            .and_then(|admission| admission.check_for(&target.request_path, &lease.role))
            .map(|check| (check, target.request_path));
        Ok((lease, admission, planned.internal))
    }

    /// Step 2: the backend creates the account the row names (`ctx`, its opened context).
    async fn create_account(
        &self,
        mount: &ResolvedMount,
        ctx: SecretContext,
    ) -> Result<Credentials> {
        match self
            .call_target(mount.backend.clone(), ctx, Call::Create)
            .await
        {
            Ok(Answer::Created(credentials)) => Ok(credentials),
            Ok(_) => Err(Error::Internal("create returned no credentials".into())),
            Err(e) => Err(Error::Backend(e)),
        }
    }

    /// Step 3, the account exists: mark the row `active`. If another node took the row over
    /// meanwhile (it thought this one dead), whatever it destroyed may have come before this
    /// creation, so the lease goes to destruction once more and the issue fails.
    async fn activate(
        &self,
        lease: LeaseRecord,
        mut credentials: Credentials,
        held: LeaseLock,
    ) -> Result<(LeaseRecord, Credentials)> {
        let mut lease = self.active_row(lease, &mut credentials)?;
        if !self.update_row(&mut lease, LeaseState::Creating).await? {
            return Err(self.taken_over(lease).await);
        }
        self.activated(&lease, held);
        Ok((lease, credentials))
    }

    /// The row made `active`, with what the creation learned (`credentials.internal`) sealed in.
    pub(super) fn active_row(
        &self,
        lease: LeaseRecord,
        credentials: &mut Credentials,
    ) -> Result<LeaseRecord> {
        let internal = match credentials.internal.take() {
            Some(internal) => {
                let bytes = serde_json::to_vec(&internal)
                    .map_err(|e| Error::Internal(format!("cannot encode secret data: {e}")))?;
                let sealed = self
                    .seal
                    .seal(&bytes, &Aad::lease(&lease.id))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                Some(sealed)
            }
            None => None,
        };
        lease
            .activate(internal)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// The row was no longer `creating` when it was to become active: another node took it
    /// over. Back to destruction, and the error the issue fails with.
    pub(super) async fn taken_over(&self, lease: LeaseRecord) -> Error {
        let mut lease = match lease.begin_revoke(
            self.now(),
            Some("account created after its lease row was taken over".into()),
        ) {
            Ok(lease) => lease,
            Err(e) => return Error::Internal(e.to_string()),
        };
        lease.revoked_time = None;
        for expected in [LeaseState::Revoking, LeaseState::Revoked] {
            match self.update_row(&mut lease, expected).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return e.into(),
            }
        }
        self.wake.notify_one();
        Error::Internal(format!(
            "lease {} was taken over while its account was created; the account \
             is being destroyed",
            lease.id
        ))
    }

    /// The row is `active`: release its lock, and wake the worker only if it planned to sleep
    /// past the lease's expiry.
    pub(super) fn activated(&self, lease: &LeaseRecord, held: LeaseLock) {
        drop(held);
        if let Some(due) = lease.due_at {
            self.wake.due_at(due);
        }
    }

    /// Step 3, the create failed: settle the lease by the rule above. A create that provably
    /// never reached the target leaves nothing to destroy, so the lease ends at once as a
    /// tombstone saying why; any other failure may have left something behind, so the lease
    /// goes straight to destruction (which finds an absent account done).
    ///
    /// `held` is the lease's lock, held since the row was written, so no revoke can act on the
    /// row until its state says what happened; released before destroying (which takes it).
    pub(super) async fn abandon(
        &self,
        lease: LeaseRecord,
        expected: LeaseState,
        e: &Error,
        held: LeaseLock,
    ) -> Result<()> {
        let now = self.now();
        let mut lease = match e {
            Error::Backend(BackendError::TargetNotReached(_)) => {
                lease.end_unreached(now, &e.to_string())
            }
            _ => lease.begin_revoke(now, Some(format!("{CREATION_FAILED}{e}"))),
        }
        .map_err(|e| Error::Internal(e.to_string()))?;
        // `false`: another node took the row over (it thought this one dead) and destroys it.
        let written = self.update_row(&mut lease, expected).await?;
        drop(held);
        self.observers.emit(
            &LeaseEvent::IssueFailed {
                lease: &lease,
                error: lease.last_error.as_deref().unwrap_or_default(),
            },
            now,
        );
        if lease.state == LeaseState::Revoked {
            info!(lease.id = %lease.id, account = %lease.account, error = %e,
                "issue of lease {} never reached the target; nothing to destroy", lease.id);
            return Ok(());
        }
        if written {
            if let Err(cleanup) = self.destroy(&lease.id).await {
                warn!(lease.id = %lease.id, error = %cleanup, "cleanup after failed issue did not finish; will retry");
            }
        }
        Ok(())
    }

    /// Record a token's expiry as a lease row (already `active`: there is no account to create),
    /// so tokens expire through the same queue, worker and destruction path as secrets. The
    /// token mount's backend revokes the token tree and its leases.
    pub async fn insert_token_lease(
        &self,
        id: &str,
        accessor: &str,
        expire_time: DateTime<Utc>,
        max_expire_time: DateTime<Utc>,
        renewable: bool,
    ) -> Result<()> {
        let internal = serde_json::to_vec(&serde_json::json!({ "accessor": accessor }))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.now();
        let mut lease = LeaseRecord {
            id: id.to_owned(),
            mount_uuid: TOKEN_MOUNT_UUID.into(),
            mount_path: "auth/token/".into(),
            kind: TOKEN_LEASE_KIND.into(),
            role: String::new(),
            account: format!("token {accessor}"),
            state: LeaseState::Active,
            issue_time: now,
            expire_time,
            max_expire_time,
            last_renewal: None,
            role_ttl_secs: 0,
            renewable,
            due_at: Some(expire_time),
            attempts: 0,
            last_error: None,
            revoked_time: None,
            forced: false,
            token_accessor: accessor.into(),
            workload: String::new(),
            purpose: None,
            ticket: None,
            claimed_by: None,
            row_mac: None,
            tampered_at: None,
            trail: Default::default(),
            internal: self
                .seal
                .seal(&internal, &Aad::lease(id))
                .map_err(|e| Error::Internal(e.to_string()))?,
        };
        self.insert_row(&mut lease).await?;
        if let Some(due) = lease.due_at {
            self.wake.due_at(due);
        }
        Ok(())
    }
}
