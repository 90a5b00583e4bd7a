//! Issuing with a two-phase creation ([`SecretEngine::prepare`]), for targets whose changes
//! become real only when committed (PostgreSQL). The write-ahead rule is kept — the account
//! never exists without a row on disk that names it — while the waits overlap:
//!
//! 1. the `creating` row is written **while** the target runs the creation in a transaction
//!    it leaves open (neither waits for the other; the commit waits for both);
//! 2. the row is made `active` **while** the target commits.
//!
//! So an issue waits for its two durable writes only where the target's own work is shorter.
//! The outcomes, each leaving nothing unknown to the table:
//!
//! | row write | target | then |
//! |---|---|---|
//! | failed | prepared | the open transaction is dropped (rolled back): nothing exists |
//! | written | failed to prepare | abandoned as any failed create (`issue.rs`) |
//! | written | cannot prepare (`None`) | created in one step, as for any engine |
//! | `active` written | commit failed | abandoned from `active`: destroyed (an absent account is done) |
//! | `active` write failed | committed | the row stays `creating`, past its deadline destroyed by the worker |
//! | row taken over | committed | back to destruction ([`LeaseEngine::taken_over`]) |
//!
//! A crash between the two writes leaves a `creating` row, destroyed when its deadline passes;
//! a crash after the second leaves an `active` row whose account may not have been committed,
//! destroyed (a no-op) at expiry.
//!
//! [`SecretEngine::prepare`]: leasehold_backend::SecretEngine::prepare

use leasehold_backend::{BackendError, Credentials, SecretContext};

use super::destroy::LeaseLock;
use super::engine::{Answer, Call, LeaseEngine, ResolvedMount};
use crate::error::{Error, Result};
use crate::storage::{LeaseRecord, LeaseState};

/// How far [`LeaseEngine::issue_two_phase`] got.
pub(super) enum Made {
    /// The account is committed and the row `active`: the issue is done.
    Committed(Box<(LeaseRecord, Credentials)>),
    /// The row is written (`creating`) and nothing was made: create in one step (with the
    /// lease's context).
    OneStep(LeaseLock, SecretContext),
}

impl LeaseEngine {
    /// Write `lease`'s row and prepare its account at once, then commit while the row becomes
    /// `active`; see the module docs. `ctx`: the lease's context; `held` is the lease's lock.
    pub(super) async fn issue_two_phase(
        &self,
        lease: &mut LeaseRecord,
        mount: &ResolvedMount,
        ctx: SecretContext,
        held: LeaseLock,
    ) -> Result<Made> {
        let (written, prepared) = tokio::join!(
            self.insert_row(lease),
            self.call_target(mount.backend.clone(), ctx.clone(), Call::Prepare),
        );
        // No row: whatever the target prepared is dropped here, uncommitted.
        written?;
        let prepared = match prepared {
            Ok(Answer::Prepared(Some(pending))) => Ok(pending),
            Ok(Answer::Prepared(None)) => return Ok(Made::OneStep(held, ctx)),
            Ok(_) => Err(Error::Internal("prepare answered something else".into())),
            Err(e) => Err(Error::Backend(e)),
        };
        let pending = match prepared {
            Ok(pending) => pending,
            Err(e) => {
                self.abandon(lease.clone(), LeaseState::Creating, &e, held)
                    .await?;
                return Err(e);
            }
        };
        let mut credentials = pending.credentials;
        let mut active = self.active_row(lease.clone(), &mut credentials)?;
        let (updated, committed) = tokio::join!(
            self.update_row(&mut active, LeaseState::Creating),
            self.call_target(mount.backend.clone(), ctx, Call::Commit(pending.commit)),
        );
        match (updated?, committed) {
            (true, Ok(_)) => {
                self.activated(&active, held);
                Ok(Made::Committed(Box::new((active, credentials))))
            }
            (true, Err(e)) => {
                // Whatever it says, a failed COMMIT never proves nothing was made (its answer
                // may be what was lost): the account goes to destruction.
                let e = match e {
                    BackendError::TargetNotReached(m) => BackendError::Target(m),
                    other => other,
                };
                let e = Error::Backend(e);
                self.abandon(active, LeaseState::Active, &e, held).await?;
                Err(e)
            }
            (false, _) => Err(self.taken_over(active).await),
        }
    }
}
