//! The [`Backend`] trait: one per mount type. The core routes requests to [`Backend::handle`] and
//! drives the life of each secret through `create`, `renew` and `revoke`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::BackendError;
use crate::request::Request;
use crate::response::{Credentials, Response};
use crate::storage::MountStorage;

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

/// A secrets engine. Implementations must be cheap to share (`Arc<dyn Backend>`).
#[async_trait]
pub trait Backend: Send + Sync {
    /// Vault's mount type (`database`), reported as `mount_type`.
    fn mount_type(&self) -> &'static str;

    /// Whether the item a write targets already exists, for paths with Vault's existence check
    /// (`create` vs `update` capability). `None` means the path has no existence check.
    async fn exists(&self, _req: &Request) -> Result<Option<bool>, BackendError> {
        Ok(None)
    }

    /// Serve one request. `Ok(None)` is an empty answer (204, or 404 for a read).
    async fn handle(&self, req: Request) -> Result<Option<Response>, BackendError>;

    /// Create the account of a planned secret whose lease row is already written. On error the
    /// backend must leave nothing behind it can know of; the core also calls `revoke` afterwards.
    async fn create(&self, ctx: &SecretContext) -> Result<Credentials, BackendError>;

    /// Extend the account's own expiry to `ctx.expire_time` (already computed by the core).
    async fn renew(&self, ctx: &SecretContext) -> Result<(), BackendError>;

    /// Destroy the account. Idempotent: an account that is already gone is success.
    async fn revoke(&self, ctx: &SecretContext) -> Result<(), BackendError>;

    /// Close connections and other resources when the mount is disabled or config changes.
    async fn shutdown(&self) {}
}
