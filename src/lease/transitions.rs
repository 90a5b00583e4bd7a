//! The lease state machine as code: each transition of the diagram in docs/DESIGN.md (and in
//! [`crate::lease`]) is one method on [`LeaseRecord`] that checks the state it starts from and
//! returns the row as it must be written, or [`IllegalTransition`]. The engine decides when a
//! transition happens; storage writes the result (conditionally on the state it started from).

use chrono::{DateTime, Utc};

use crate::storage::{Ending, LeaseRecord, LeaseState};

/// How `last_error` starts for a lease whose create failed after it may have reached the target.
pub(crate) const CREATION_FAILED: &str = "creation failed: ";

/// How `last_error` starts for a lease ended because its create never reached the target.
pub(crate) const NOTHING_CREATED: &str =
    "creation never reached the target, so nothing was created: ";

/// Between the creation failure and the latest destruction error in `last_error`.
const THEN_DESTRUCTION: &str = "; then destruction failed: ";

/// A transition asked of a row in a state the diagram has no such arrow from: a bug on our side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease {id}: cannot {to} a lease that is {from}")]
pub struct IllegalTransition {
    /// The lease.
    pub id: String,
    /// Its state.
    pub from: &'static str,
    /// What was asked (`activate`, `tombstone`...).
    pub to: &'static str,
}

impl LeaseRecord {
    fn require(&self, allowed: &[LeaseState], to: &'static str) -> Result<(), IllegalTransition> {
        if allowed.contains(&self.state) {
            Ok(())
        } else {
            Err(IllegalTransition {
                id: self.id.clone(),
                from: self.state.as_str(),
                to,
            })
        }
    }

    /// `creating → active`: the account exists; the row is due at its expiry and nobody's work.
    /// `internal` replaces the sealed backend data when the create returned some.
    pub fn activate(mut self, internal: Option<Vec<u8>>) -> Result<Self, IllegalTransition> {
        self.require(&[LeaseState::Creating], "activate")?;
        self.state = LeaseState::Active;
        self.due_at = Some(self.expire_time);
        self.claimed_by = None;
        if let Some(internal) = internal {
            self.internal = internal;
        }
        Ok(self)
    }

    /// `creating | active | revoking → revoking`, due at `due` and held by nobody: queued for
    /// the expiry worker (a revoke, a failed issue, a row taken over while it was created).
    /// `why`, when given, becomes `last_error`.
    pub fn begin_revoke(
        mut self,
        due: DateTime<Utc>,
        why: Option<String>,
    ) -> Result<Self, IllegalTransition> {
        self.require(
            &[
                LeaseState::Creating,
                LeaseState::Active,
                LeaseState::Revoking,
            ],
            "revoke",
        )?;
        self.state = LeaseState::Revoking;
        self.due_at = Some(due);
        self.claimed_by = None;
        if why.is_some() {
            self.last_error = why;
        }
        Ok(self)
    }

    /// `creating → revoked` without destruction: the create provably never reached the target,
    /// so nothing exists (rule 1 in `lease/issue.rs`).
    pub fn end_unreached(
        mut self,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<Self, IllegalTransition> {
        self.require(&[LeaseState::Creating], "end as never created")?;
        self.state = LeaseState::Revoked;
        self.due_at = None;
        self.claimed_by = None;
        self.revoked_time = Some(now);
        self.last_error = Some(format!("{NOTHING_CREATED}{error}"));
        self.trail.ending = Some(Ending::IssueFailed);
        Ok(self)
    }

    /// `revoking → revoking` after a failed destruction attempt: one more attempt counted, the
    /// error recorded (behind the creation failure, if that is why the lease exists), retried
    /// at `retry_at`, held by nobody.
    pub fn fail_attempt(
        mut self,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<Self, IllegalTransition> {
        self.require(&[LeaseState::Revoking], "record a failed destruction of")?;
        self.attempts += 1;
        self.claimed_by = None;
        self.due_at = Some(retry_at);
        self.last_error = Some(destruction_error(self.last_error.as_deref(), error));
        Ok(self)
    }

    /// `revoking → revoked` after a successful destruction: the tombstone, kept until tidied.
    pub fn tombstone(mut self, now: DateTime<Utc>) -> Result<Self, IllegalTransition> {
        self.require(&[LeaseState::Revoking], "tombstone")?;
        self.attempts += 1;
        self.claimed_by = None;
        self.state = LeaseState::Revoked;
        self.due_at = None;
        self.revoked_time = Some(now);
        self.trail.ending = Some(if self.issue_failure().is_some() {
            Ending::IssueFailed
        } else if now >= self.expire_time {
            Ending::Expired
        } else {
            Ending::Revoked
        });
        Ok(self)
    }

    /// Any live state `→ revoked` by an operator's revoke-force: the row leaves the live table
    /// although its account may remain (`forced`, with the reason in `last_error`).
    pub fn force_tombstone(
        mut self,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<Self, IllegalTransition> {
        self.require(
            &[
                LeaseState::Creating,
                LeaseState::Active,
                LeaseState::Revoking,
            ],
            "force-remove",
        )?;
        self.state = LeaseState::Revoked;
        self.forced = true;
        self.due_at = None;
        self.revoked_time = Some(now);
        self.last_error = Some(error.to_owned());
        self.trail.ending = Some(Ending::Forced);
        Ok(self)
    }

    /// `active → active` with a new expiry (a renewal).
    pub fn renewed(
        mut self,
        expire_time: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, IllegalTransition> {
        self.require(&[LeaseState::Active], "renew")?;
        self.expire_time = expire_time;
        self.due_at = Some(expire_time);
        self.last_renewal = Some(now);
        self.trail.renewals += 1;
        Ok(self)
    }

    /// Why the lease's issue failed, when it did: its `last_error` as recorded by the issue
    /// path, else `None`.
    pub fn issue_failure(&self) -> Option<&str> {
        self.last_error
            .as_deref()
            .filter(|e| e.starts_with(CREATION_FAILED) || e.starts_with(NOTHING_CREATED))
    }
}

/// The `last_error` for a failed destruction: the error, behind the creation failure that left
/// the lease when there was one (so a lookup keeps saying why a never-active lease exists).
fn destruction_error(previous: Option<&str>, error: &str) -> String {
    match previous.filter(|p| p.starts_with(CREATION_FAILED)) {
        Some(previous) => {
            let creation = previous
                .split_once(THEN_DESTRUCTION)
                .map_or(previous, |(creation, _)| creation);
            format!("{creation}{THEN_DESTRUCTION}{error}")
        }
        None => error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destruction_error_keeps_the_creation_failure_in_front() {
        let first = destruction_error(Some("creation failed: timed out"), "refused");
        assert_eq!(
            first,
            "creation failed: timed out; then destruction failed: refused"
        );
        // Later attempts replace the destruction part, never pile up.
        assert_eq!(
            destruction_error(Some(&first), "still refused"),
            "creation failed: timed out; then destruction failed: still refused"
        );
        assert_eq!(destruction_error(Some("old"), "new"), "new");
        assert_eq!(destruction_error(None, "new"), "new");
    }

    #[test]
    fn a_transition_checks_the_state_it_starts_from() {
        let now = chrono::Utc::now();
        let l = crate::storage::suite::lease("db/creds/ro/1", now);
        assert_eq!(l.state, LeaseState::Active);
        let err = l.clone().tombstone(now).unwrap_err();
        assert_eq!(err.from, "active");
        assert!(l.clone().activate(None).is_err());
        let revoking = l.begin_revoke(now, None).unwrap();
        let done = revoking.tombstone(now).unwrap();
        assert_eq!(done.state, LeaseState::Revoked);
        assert_eq!(
            done.trail.ending,
            Some(Ending::Expired),
            "destroyed at its expiry"
        );
        assert!(done.clone().begin_revoke(now, None).is_err());
        assert!(done.force_tombstone(now, "x").is_err());
    }
}
