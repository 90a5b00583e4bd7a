//! Issuing: the lease row is written (`creating`) before the backend creates the account, so a
//! crash at any point leaves a row that start-up finds and destroys. Token expiry rows are
//! inserted here too.

use chrono::{DateTime, Utc};
use leasehold_backend::{BackendError, PlannedSecret};
use tracing::{info, warn};

use super::engine::{
    chrono_dur, Call, IssueTarget, Issued, LeaseEngine, TOKEN_LEASE_KIND, TOKEN_MOUNT_UUID,
};
use super::events::LeaseEvent;
use super::id::new_lease_id;
use super::model::{LeaseRecord, LeaseState};
use super::revoke::{CREATION_FAILED, NOTHING_CREATED};
use super::ttl::issue_ttl;
use crate::error::{Error, Result};
use crate::storage::seal::Aad;

/// Time beyond the target timeout that a `creating` row stays its node's before others may take
/// it over: covers the storage writes around the create call.
const CREATE_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

impl LeaseEngine {
    /// Issue a planned secret: write the lease (`creating`), create the account, mark `active`.
    /// If creation fails the lease goes straight to destruction and the error is returned.
    pub async fn issue(&self, target: IssueTarget, planned: PlannedSecret) -> Result<Issued> {
        let mount = self
            .mounts
            .resolve(&target.mount_uuid)
            .ok_or_else(|| Error::Internal(format!("mount {} vanished", target.mount_path)))?;
        let (ttl, max, warning) = issue_ttl(planned.ttl, planned.max_ttl, mount.ttls);
        let now = self.now();
        let started = std::time::Instant::now();
        let internal = serde_json::to_vec(&planned.internal)
            .map_err(|e| Error::Internal(format!("cannot encode secret data: {e}")))?;
        // Bound to the lease id: the row's internal data opens for this lease only.
        let id = new_lease_id(&target.request_path);
        let internal = self
            .seal
            .seal(&internal, &Aad::lease(&id))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let expire_time = now + chrono_dur(ttl);
        let mut lease = LeaseRecord {
            id,
            mount_uuid: target.mount_uuid,
            mount_path: target.mount_path,
            kind: planned.kind,
            role: planned.role,
            account: planned.account,
            state: LeaseState::Creating,
            issue_time: now,
            expire_time,
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
        };
        // Held until the lease is active (or marked for destruction): a revoke-prefix that finds
        // the row while the account is being made waits, instead of destroying it before it exists.
        let lock = self.lock_for(&lease.id);
        let held = lock.lock().await;
        // Write ahead: from here on, whatever the target ends up holding is known to the table.
        match &target.admission {
            // The quota counts and inserts under its lock; the row is tagged first all the same.
            Some(admission) => {
                self.stamp_row(&mut lease);
                admission.insert(&target.request_path, &lease).await?
            }
            None => self.insert_row(&mut lease).await?,
        }
        let ctx = self.context(&lease, &mount).await?;
        let created = self
            .call_target(mount.backend.clone(), ctx, Call::Create)
            .await;
        match created {
            Ok(Some(mut credentials)) => {
                lease.state = LeaseState::Active;
                lease.due_at = Some(expire_time);
                lease.claimed_by = None;
                if let Some(internal) = credentials.internal.take() {
                    let bytes = serde_json::to_vec(&internal)
                        .map_err(|e| Error::Internal(format!("cannot encode secret data: {e}")))?;
                    lease.internal = self
                        .seal
                        .seal(&bytes, &Aad::lease(&lease.id))
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
                if !self.update_row(&mut lease, LeaseState::Creating).await? {
                    // Another node took the row over (it thought this one dead): whatever it
                    // destroyed may have come before this creation, so destroy once more.
                    lease.state = LeaseState::Revoking;
                    lease.due_at = Some(self.now());
                    lease.claimed_by = None;
                    lease.revoked_time = None;
                    lease.last_error =
                        Some("account created after its lease row was taken over".into());
                    for expected in [LeaseState::Revoking, LeaseState::Revoked] {
                        if self.update_row(&mut lease, expected).await? {
                            break;
                        }
                    }
                    self.wake.notify_one();
                    return Err(Error::Internal(format!(
                        "lease {} was taken over while its account was created; the account \
                         is being destroyed",
                        lease.id
                    )));
                }
                drop(held);
                self.wake.notify_one();
                self.observers.emit(
                    &LeaseEvent::Issued {
                        lease: &lease,
                        latency: started.elapsed(),
                    },
                    self.now(),
                );
                info!(lease.id = %lease.id, account = %lease.account, ttl = ttl.as_secs(), "issued lease {}", lease.id);
                Ok(Issued {
                    lease,
                    credentials,
                    ttl,
                    warning,
                })
            }
            Ok(None) => Err(Error::Internal("create returned no credentials".into())),
            Err(e) => {
                self.end_failed_issue(lease, &e, held).await?;
                Err(Error::Backend(e))
            }
        }
    }

    /// A create call failed: settle the lease by the rule in the header of `lease/revoke.rs`. A
    /// create that provably never reached the target leaves nothing to destroy, so the lease
    /// ends at once as a tombstone saying why; any other failure may have left something
    /// behind, so the lease goes straight to destruction (which finds an absent account done).
    ///
    /// `held` is the lease's lock, held since the row was written, so no revoke can act on the
    /// row until its state says what happened; released before destroying (which takes it).
    async fn end_failed_issue(
        &self,
        mut lease: LeaseRecord,
        e: &BackendError,
        held: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<()> {
        let now = self.now();
        lease.claimed_by = None;
        if matches!(e, BackendError::TargetNotReached(_)) {
            lease.state = LeaseState::Revoked;
            lease.due_at = None;
            lease.revoked_time = Some(now);
            lease.last_error = Some(format!("{NOTHING_CREATED}{e}"));
        } else {
            lease.state = LeaseState::Revoking;
            lease.due_at = Some(now);
            lease.last_error = Some(format!("{CREATION_FAILED}{e}"));
        }
        // `false`: another node took the row over (it thought this one dead) and destroys it.
        let written = self.update_row(&mut lease, LeaseState::Creating).await?;
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
            internal: self
                .seal
                .seal(&internal, &Aad::lease(id))
                .map_err(|e| Error::Internal(e.to_string()))?,
        };
        self.insert_row(&mut lease).await?;
        self.wake.notify_one();
        Ok(())
    }
}
