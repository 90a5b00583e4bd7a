//! What a mount implements, in two halves:
//!
//! - [`Backend`]: paths and mount life. The core routes requests to [`Backend::handle`], asks
//!   about existence and login roles, gives the mount time of its own through `tick`, and closes
//!   it with `shutdown`. Every mount (secrets engine or auth method) is one.
//! - [`SecretEngine`]: the life of the accounts its leases name — `create`, `revoke`,
//!   reconciliation — offered through [`Backend::secrets`]. Auth methods offer none. Renewal is
//!   a further, optional half ([`Renew`], through [`SecretEngine::renewer`]): a lease is
//!   renewable only when its engine has one.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::BackendError;
use crate::request::Request;
use crate::response::{Credentials, Response};
use crate::storage::MountStorage;

/// An account found on a target during reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Where it lives within the mount (a connection name; empty when the mount has one target).
    pub target: String,
    /// Its name on the target (what leases record as their account).
    pub name: String,
    /// True when the name proves this mount made it (it carries the mount's marker).
    /// Reconciliation destroys only such accounts; the others (names from before markers, from
    /// a custom template, or from another tool using the same prefix) are only reported.
    pub marked: bool,
}

impl Account {
    /// Account `name` found on `target`, marked when it starts with `marked_prefix` (the
    /// template's fixed text up to and including the mount's marker; `None` for templates
    /// without one, whose accounts are never marked).
    pub fn found(target: &str, name: String, marked_prefix: Option<&str>) -> Self {
        Self {
            target: target.to_owned(),
            marked: marked_prefix.is_some_and(|p| name.starts_with(p)),
            name,
        }
    }

    /// Refuse to destroy an account that does not carry the mount's marker; `what` names the
    /// kind of account in the message (`IAM user`).
    pub fn require_marked(&self, what: &str) -> Result<(), BackendError> {
        if self.marked {
            Ok(())
        } else {
            Err(BackendError::invalid(format!(
                "{what} {} does not carry this mount's marker: not destroyed",
                self.name
            )))
        }
    }
}

/// What a revocation found, beyond "the account is gone": evidence of use for the audit log and
/// the metrics, and the destruction receipt — what the target was asked afterwards that proved
/// the account absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// How many sessions of the account were open at revocation and ended by it. `None`: the
    /// target cannot tell — it has no sessions (AWS keys, STS credentials), or the account was
    /// already gone when this revocation came (a retry after an earlier attempt that dropped
    /// it, or a creation that never made it), so whatever sessions it had are not this call's
    /// to count. `Some(0)` means the account existed and had no session open: not proof it was
    /// never used, only that nothing was connected at the end.
    pub sessions_terminated: Option<u64>,
    /// The check that proved the account gone, asked of the target after the destruction (e.g.
    /// `pg_roles has no role "v-..."`); `None` when the engine asked nothing. The core records
    /// it with the time it received the answer.
    pub verified: Option<String>,
}

impl Revoked {
    /// `n` sessions ended by the revocation.
    pub fn sessions(n: u64) -> Self {
        Self {
            sessions_terminated: Some(n),
            verified: None,
        }
    }

    /// The same report, with the check the target answered proving the account gone.
    pub fn verified_by(self, check: impl Into<String>) -> Self {
        Self {
            verified: Some(check.into()),
            ..self
        }
    }

    /// The target cannot tell (see [`Revoked::sessions_terminated`]).
    pub fn unknown() -> Self {
        Self::default()
    }
}

/// What the core knows about a secret when it calls back into the backend.
#[derive(Clone)]
pub struct SecretContext {
    /// The mount's storage view (connection configs live there).
    pub storage: Arc<dyn MountStorage>,
    /// Secret kind from [`crate::PlannedSecret::kind`].
    pub kind: String,
    /// The backend's internal data from [`crate::PlannedSecret::internal`].
    pub internal: Value,
    /// The lease's expiry: the target's own backstop (VALID UNTIL) should be set from it.
    pub expire_time: DateTime<Utc>,
}

/// A mount: its paths and its life. Implementations must be cheap to share (`Arc<dyn Backend>`).
#[async_trait]
pub trait Backend: Send + Sync {
    /// Vault's mount type (`database`), reported as `mount_type`.
    fn mount_type(&self) -> &'static str;

    /// Whether the item a write targets already exists, for paths with Vault's existence check
    /// (`create` vs `update` capability). `None` means the path has no existence check.
    async fn exists(&self, _req: &Request) -> Result<Option<bool>, BackendError> {
        Ok(None)
    }

    /// The role a login request names (an auth method's `login`), for rate-limit quotas that
    /// apply to one role, as Vault resolves it: `None` when this backend has no roles or the
    /// request names none it knows. Must not change anything (it runs before the login itself).
    async fn login_role(&self, _req: &Request) -> Result<Option<String>, BackendError> {
        Ok(None)
    }

    /// Serve one request. `Ok(None)` is an empty answer (204, or 404 for a read).
    async fn handle(&self, req: Request) -> Result<Option<Response>, BackendError>;

    /// The life of the accounts this mount's leases name; `None` for a mount that issues no
    /// leased secrets (an auth method). A mount whose `handle` plans a secret must offer one.
    fn secrets(&self) -> Option<&dyn SecretEngine> {
        None
    }

    /// Periodic work the backend does on its own, with no request behind it (the database
    /// engine rotates static-role passwords when due and finishes rotations a crash
    /// interrupted). Called periodically by the core with the mount's storage and the current
    /// time: once when the mount is loaded (start-up or enable), then again no later than the
    /// returned delay. `Ok(None)` means "nothing scheduled", and the core still calls again at
    /// its own pace, since requests may have added work meanwhile. An error is logged by the
    /// core and the call repeated later; it must never be answered to a client. Calls for one
    /// mount must not overlap.
    async fn tick(
        &self,
        _storage: Arc<dyn MountStorage>,
        _now: DateTime<Utc>,
    ) -> Result<Option<std::time::Duration>, BackendError> {
        Ok(None)
    }

    /// Close connections and other resources when the mount is disabled or config changes.
    async fn shutdown(&self) {}

    /// Another server sharing the storage wrote or deleted `key` of this mount's storage: drop
    /// whatever was cached from it, so the next request reads it afresh. An empty `key` means
    /// "anything may have changed" (the change feed lost track): drop every cache.
    async fn invalidate(&self, _key: &str) {}
}

/// The life of leased accounts: what the lease engine calls for each secret a mount planned.
#[async_trait]
pub trait SecretEngine: Send + Sync {
    /// Create the account of a planned secret whose lease row is already written. On error the
    /// backend must leave nothing behind it can know of; the core also calls `revoke` afterwards.
    async fn create(&self, ctx: &SecretContext) -> Result<Credentials, BackendError>;

    /// Creation in two steps, for targets whose changes become real only when committed (a
    /// database transaction): do everything [`SecretEngine::create`] does short of making the
    /// account real, and answer what commits it. The core calls this while it writes the lease
    /// row, and commits only once the row is on disk, so the wait for the row's write overlaps
    /// the target's work and the account still never exists without its row.
    ///
    /// Dropping the [`Pending`] without committing must leave nothing on the target (the open
    /// transaction is rolled back). `Ok(None)`: this engine (or this secret's target) creates
    /// in one step only; the core then calls `create` once the row is written.
    async fn prepare(&self, _ctx: &SecretContext) -> Result<Option<Pending>, BackendError> {
        Ok(None)
    }

    /// Destroy the account (ending its open sessions where the target has any), and say what
    /// it found ([`Revoked`]). Idempotent: an account that is already gone is success.
    async fn revoke(&self, ctx: &SecretContext) -> Result<Revoked, BackendError>;

    /// How this engine's accounts are renewed; `None`: its leases are not renewable (whatever
    /// the planned secret says).
    fn renewer(&self) -> Option<&dyn Renew> {
        None
    }

    /// Whether this engine bounds the load its revocations put on a target by itself (a
    /// connection pool or a single connection per target, a batcher), so that the expiry
    /// worker may keep many more of them in flight than `revoke_concurrency` — a burst of
    /// expiries then drains at the target's pace instead of the round trips'. Default: no, each
    /// revocation is a call on the target and `revoke_concurrency` bounds them.
    fn bounds_target_load(&self) -> bool {
        false
    }

    /// Accounts on this mount's targets that look like ours (they carry the mount's generated-
    /// name prefix), for reconciliation against the lease table, each saying whether its name
    /// proves it is ours ([`Account::marked`]). Never lists accounts the mount knows are not
    /// its own (static-role users, the connection's own user). `Ok(None)`: this engine cannot
    /// list its accounts.
    async fn list_accounts(
        &self,
        _storage: Arc<dyn MountStorage>,
    ) -> Result<Option<Vec<Account>>, BackendError> {
        Ok(None)
    }

    /// Destroy an account [`SecretEngine::list_accounts`] found, marked as ours, that no lease
    /// knows (an orphan left by a lost table or a crash). Idempotent, like `revoke`.
    async fn destroy_account(
        &self,
        _storage: Arc<dyn MountStorage>,
        _account: &Account,
    ) -> Result<(), BackendError> {
        Err(BackendError::UnsupportedOperation)
    }
}

/// A creation made ready by [`SecretEngine::prepare`]: the credentials it will have, and what
/// makes it real. Until [`Commit::commit`] answers `Ok`, the account does not exist.
pub struct Pending {
    /// The credentials of the account once committed (the core seals `internal` into the lease
    /// row while the commit runs).
    pub credentials: Credentials,
    /// Makes the account real.
    pub commit: Box<dyn Commit>,
}

/// The last step of a two-phase creation ([`Pending`]).
#[async_trait]
pub trait Commit: Send {
    /// Make the account real. On error nothing of it is left (as for `create`); the core calls
    /// `revoke` afterwards all the same.
    async fn commit(self: Box<Self>) -> Result<(), BackendError>;
}

/// Renewal of a leased account, for engines whose leases can be extended.
#[async_trait]
pub trait Renew: Send + Sync {
    /// Extend the account's own expiry to `ctx.expire_time` (already computed by the core).
    async fn renew(&self, ctx: &SecretContext) -> Result<(), BackendError>;
}
