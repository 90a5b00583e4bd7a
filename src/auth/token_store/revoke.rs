//! Revoking a token: it and (unless its children are orphaned) its descendants stop working
//! first, then every lease obtained with any of them is destroyed (`sync`) or queued, and their
//! expiry rows are closed. The same walk ends a token whose expiry row came due: the store is the
//! lease engine's [`TokenRevoker`].

use async_trait::async_trait;
use tracing::{info, warn};

use super::report::{RevokeReport, RevokedLease};
use super::TokenStore;
use crate::error::Result;
use crate::lease::{DestroyError, Fault, LeaseEngine, TokenRevoker, TOKEN_LEASE_KIND};

impl TokenStore {
    /// Revoke a token and, unless `orphan_children`, all its descendants; every lease obtained with
    /// any of them is destroyed (`sync`) or queued for destruction. The tokens stop working first.
    pub async fn revoke(
        &self,
        leases: &LeaseEngine,
        accessor: &str,
        orphan_children: bool,
        sync: bool,
    ) -> Result<RevokeReport> {
        let own_rows: Vec<String> = leases
            .list_by_token(accessor)
            .await?
            .into_iter()
            .filter(|l| l.kind == TOKEN_LEASE_KIND)
            .map(|l| l.id)
            .collect();
        let report = self
            .revoke_tree(leases, accessor, orphan_children, sync)
            .await?;
        // The token's own expiry row: ending it finds nothing left to do.
        leases.destroy_many(own_rows).await;
        Ok(report)
    }

    /// The work behind [`TokenStore::revoke`], without touching the token's own expiry row (the
    /// lease engine calls this, through [`TokenRevoker`], while holding that row).
    async fn revoke_tree(
        &self,
        leases: &LeaseEngine,
        accessor: &str,
        orphan_children: bool,
        sync: bool,
    ) -> Result<RevokeReport> {
        let tree = if orphan_children {
            self.orphan_children(accessor).await?;
            vec![accessor.to_owned()]
        } else {
            self.tree(accessor).await?
        };
        // Unusable first, so nothing new can be obtained while the accounts are destroyed.
        for acc in tree.iter().rev() {
            self.delete(acc).await?;
        }
        // A wrapping token's response dies with it (expiry, revocation or unwrap). Wrapping
        // tokens are orphans without children, so only the root of a tree can be one.
        crate::core::wrapping::forget(&self.kv, accessor).await?;
        let mut report = RevokeReport {
            tokens: tree.len(),
            ..RevokeReport::default()
        };
        let mut token_rows = Vec::new();
        for acc in &tree {
            for lease in leases.list_by_token(acc).await? {
                if lease.kind == TOKEN_LEASE_KIND {
                    if acc != accessor {
                        token_rows.push(lease.id);
                    }
                    continue;
                }
                report.leases.push(RevokedLease {
                    lease_id: lease.id,
                    account: lease.account,
                    mount: lease.mount_path,
                });
            }
        }
        let ids: Vec<String> = report.leases.iter().map(|l| l.lease_id.clone()).collect();
        if sync {
            report.failures = leases.destroy_many(ids).await;
        } else {
            for id in &ids {
                leases.revoke(id, false).await?;
            }
        }
        // Descendants' expiry rows: nothing left for them to do but be closed.
        leases.destroy_many(token_rows).await;
        for l in &report.leases {
            info!(token.accessor = %accessor, lease.id = %l.lease_id, account = %l.account, "revoked lease {} with token {accessor}", l.lease_id);
        }
        for (id, e) in &report.failures {
            warn!(lease.id = %id, error = %e, "lease {id} of a revoked token could not be destroyed yet; retrying");
        }
        Ok(report)
    }
}

#[async_trait]
impl TokenRevoker for TokenStore {
    async fn revoke_expired(
        &self,
        accessor: &str,
        leases: &LeaseEngine,
    ) -> std::result::Result<(), DestroyError> {
        let tree = |error: String, fault: Fault| DestroyError::TokenTree { error, fault };
        let mut report = self
            .revoke_tree(leases, accessor, false, true)
            .await
            .map_err(|e| tree(e.to_string(), Fault::Ours))?;
        // Every lease that failed is named, not only the first, and the fault is kept: ours
        // when any failure is (a server error), else the target's.
        let ours = report
            .failures
            .iter()
            .any(|(_, e)| e.fault() == Fault::Ours);
        match report.take_failures() {
            None => Ok(()),
            Some(e) => Err(tree(
                format!("lease(s) of token {accessor} not destroyed yet: {e}"),
                if ours { Fault::Ours } else { Fault::Target },
            )),
        }
    }
}
