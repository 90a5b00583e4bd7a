//! Revoking a compromised workload in one call: every token an auth method issued to it (an
//! AppRole role, a JWT role or subject), their descendants, and every lease obtained with them.
//! Vault has no such call; leasehold records the workload on each token and lease to make it one.

use super::Core;
use crate::auth::token::TokenEntry;
use crate::auth::token_store::{RevokeReport, RevokedLease};
use crate::error::{Error, Result};

/// True if `workload` is `target` or lies below it at a `/` boundary.
pub fn workload_matches(workload: &str, target: &str) -> bool {
    let target = target.trim_end_matches('/');
    !workload.is_empty()
        && (workload == target
            || workload
                .strip_prefix(target)
                .is_some_and(|rest| rest.starts_with('/')))
}

impl Core {
    /// Every stored token (live or not yet tidied) issued to `workload` or below it. One scan of
    /// the accessor index: there is no index by workload, and revocation is rare enough, and the
    /// console's listing is sudo-only, so a full scan is the honest cost.
    pub async fn workload_tokens(&self, workload: &str) -> Result<Vec<TokenEntry>> {
        let mut out = Vec::new();
        for accessor in self.tokens.accessors().await? {
            let Some(entry) = self.tokens.by_accessor(&accessor).await? else {
                continue;
            };
            if workload_matches(&entry.workload, workload) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Revoke everything `workload` (e.g. `auth/approle/role/ci`, `auth/jwt/role/deploy`) holds.
    pub async fn revoke_workload(&self, workload: &str, sync: bool) -> Result<RevokeReport> {
        let workload = workload.trim_matches('/');
        if workload.is_empty() {
            return Err(Error::invalid(
                "workload is required, e.g. \"auth/approle/role/ci\"",
            ));
        }
        let mut total = RevokeReport::default();
        // Tokens first, so the workload cannot obtain anything new while its accounts go.
        for entry in self.workload_tokens(workload).await? {
            // Revoking a parent took its descendants with it; they are not revoked twice.
            if self.tokens.by_accessor(&entry.accessor).await?.is_none() {
                continue;
            }
            let report = self.revoke_token(&entry.accessor, false, sync).await?;
            total.tokens += report.tokens;
            total.leases.extend(report.leases);
            total.failures.extend(report.failures);
        }
        // Leases whose tokens are already gone (expired, revoked) but are still live. A lease
        // the token pass already tried, and failed to destroy, is live too: it is reported
        // (and retried by the worker) once, not tried again here.
        let tried: std::collections::HashSet<String> =
            total.leases.iter().map(|l| l.lease_id.clone()).collect();
        let rest: Vec<_> = self
            .leases
            .list_by_workload(workload)
            .await?
            .into_iter()
            .filter(|l| l.kind != crate::lease::TOKEN_LEASE_KIND && !tried.contains(&l.id))
            .collect();
        let ids: Vec<String> = rest.iter().map(|l| l.id.clone()).collect();
        total.leases.extend(rest.into_iter().map(|l| RevokedLease {
            lease_id: l.id,
            account: l.account,
            mount: l.mount_path,
        }));
        if sync {
            total.failures.extend(self.leases.destroy_many(ids).await);
        } else {
            for id in &ids {
                self.leases.revoke(id, false).await?;
            }
        }
        tracing::info!(workload = %workload, tokens = total.tokens, leases = total.leases.len(), failures = total.failures.len(),
            "revoked workload {workload}");
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::workload_matches;

    #[test]
    fn matches_at_segment_boundaries() {
        assert!(workload_matches(
            "auth/approle/role/ci",
            "auth/approle/role/ci"
        ));
        assert!(workload_matches(
            "auth/jwt/role/deploy/sub/repo:x",
            "auth/jwt/role/deploy"
        ));
        assert!(!workload_matches(
            "auth/approle/role/ci-2",
            "auth/approle/role/ci"
        ));
        assert!(!workload_matches("", "auth"));
    }
}
