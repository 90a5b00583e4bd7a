//! Lease-count quotas: at most `max_leases` live leases in a scope (a mount, a path below one,
//! or a mount's role), counted in the shared lease table so that every node sees the same
//! number. "Live" is every row whose account may exist: `creating`, `active` and `revoking`
//! (a lease whose destruction keeps failing still holds an account on the target, so it still
//! takes a slot); only `revoked` tombstones are free.
//!
//! The count and the write-ahead insert are one step of the storage
//! ([`crate::storage::LeaseStore::lease_insert_within`]: one call on SQLite's writer thread, one
//! transaction under an advisory lock per quota on PostgreSQL), so two nodes (or two requests on
//! one node) cannot both take the last slot, and nobody polls for a lock: the step is held for
//! two statements, not for the account's creation; once the `creating` row is in, it counts.
//! (It was a lock row in storage, taken and given back around every issue, its waiters polling
//! every 50 ms: issues under one quota ran one at a time, at a third of the rate without it.)

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::matching::Scope;
use crate::error::{Error, Result};
use crate::lease::LeaseRecord;
use crate::storage::{Storage, Within};

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
        let prefix = self.scope.lease_prefix();
        let within = Within {
            lock: &self.name,
            prefix: &prefix,
            role: self.role.as_deref(),
            max: self.max_leases,
        };
        if storage.lease_insert_within(lease, &within).await? {
            Ok(())
        } else {
            Err(Error::LeaseCountQuotaExceeded {
                path: request_path.to_owned(),
            })
        }
    }
}
