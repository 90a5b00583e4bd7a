//! Lease-count quotas: at most `max_leases` live leases in a scope (a mount, a path below one,
//! or a mount's role), counted in the shared lease table so that every node sees the same
//! number. "Live" is every row whose account may exist: `creating`, `active` and `revoking`
//! (a lease whose destruction keeps failing still holds an account on the target, so it still
//! takes a slot); only `revoked` tombstones are free.
//!
//! The count and the write-ahead insert happen under one storage lock per quota, so two nodes
//! (or two requests on one node) cannot both take the last slot. The lock is held for two
//! statements, not for the account's creation: once the `creating` row is in, it counts.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::matching::Scope;
use crate::error::{Error, Result};
use crate::lease::LeaseRecord;
use crate::storage::lock::HeldLock;
use crate::storage::Storage;

/// One lease-count quota as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseCountQuota {
    /// Its name.
    pub name: String,
    /// Where it applies.
    pub scope: Scope,
    /// With a mount scope: only leases of this role (`database/creds/<role>`).
    pub role: Option<String>,
    /// Live leases allowed (> 0).
    pub max_leases: u64,
    /// Shown back as written; without namespaces it changes nothing.
    pub inheritable: bool,
}

impl LeaseCountQuota {
    /// Live leases in this quota's scope now.
    pub async fn count(&self, storage: &Arc<dyn Storage>) -> Result<u64> {
        Ok(storage
            .lease_count_live(&self.scope.lease_prefix(), self.role.as_deref())
            .await?)
    }

    /// Insert `lease` if the quota has room, as one step across nodes; refuse otherwise.
    pub async fn admit(
        &self,
        storage: &Arc<dyn Storage>,
        request_path: &str,
        lease: &LeaseRecord,
    ) -> Result<()> {
        let lock = HeldLock::acquire(storage, &format!("quota/lease-count/{}", self.name)).await?;
        let result = async {
            if self.count(storage).await? >= self.max_leases {
                return Err(Error::LeaseCountQuotaExceeded {
                    path: request_path.to_owned(),
                });
            }
            Ok(storage.lease_insert(lease).await?)
        }
        .await;
        lock.release().await;
        result
    }
}
