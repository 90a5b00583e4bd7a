//! The core's side of tokens: it holds the token store ([`crate::auth::token_store`]) and
//! delegates to it, supplying what only the core knows — the system TTLs, the lease engine, and
//! (for renewal) whether the auth method role or token role that made a token still exists.

use std::time::Duration;

use crate::auth::token::{PlainToken, TokenEntry};
use crate::auth::token_store::{RevokeReport, TokenSpec};
use crate::error::{Error, Result};

use super::Core;

impl Core {
    /// Mint a token. The caller has already checked what the requester may ask for.
    pub async fn create_token(&self, spec: TokenSpec) -> Result<(PlainToken, TokenEntry)> {
        self.tokens
            .create(&self.leases, self.mounts.system_ttls(), spec)
            .await
    }

    /// Renew a token (see [`crate::auth::TokenStore::renew`]) while what made it still exists.
    /// Returns the new TTL and Vault's cap warning.
    pub async fn renew_token(
        &self,
        entry: &mut TokenEntry,
        increment: Duration,
    ) -> Result<(u64, Option<String>)> {
        let role_exists = self.check_roles_exist(entry.clone());
        self.tokens
            .renew(&self.leases, entry, increment, role_exists)
            .await
    }

    /// Revoke a token and, unless `orphan_children`, all its descendants, with every lease
    /// obtained with any of them (see [`crate::auth::TokenStore::revoke`]).
    pub async fn revoke_token(
        &self,
        accessor: &str,
        orphan_children: bool,
        sync: bool,
    ) -> Result<RevokeReport> {
        self.tokens
            .revoke(&self.leases, accessor, orphan_children, sync)
            .await
    }

    /// A token renews only while the login role or token role that made it exists (as Vault).
    async fn check_roles_exist(&self, entry: TokenEntry) -> Result<()> {
        self.check_login_role_exists(&entry).await?;
        if let Some(role) = entry.role() {
            if self.token_role(role).await?.is_none() {
                return Err(Error::invalid(format!(
                    "original token role {role:?} could not be found, not renewing"
                )));
            }
        }
        Ok(())
    }

    /// A token from an auth method's login renews only while its role exists (as Vault checks):
    /// deleting an AppRole or JWT role stops its tokens from being extended.
    async fn check_login_role_exists(&self, entry: &TokenEntry) -> Result<()> {
        let Some(rest) = entry.workload.strip_prefix("auth/") else {
            return Ok(());
        };
        let Some((mount, below)) = self.auth_mounts.route(rest) else {
            return Err(Error::invalid(
                "the auth method that issued this token is gone; it cannot be renewed",
            ));
        };
        let Some(role) = below
            .trim_matches('/')
            .strip_prefix("role/")
            .and_then(|r| r.split('/').next())
        else {
            return Ok(());
        };
        let req = leasehold_backend::Request {
            operation: leasehold_backend::Operation::Read,
            path: format!("role/{role}"),
            fields: leasehold_backend::Fields::default(),
            storage: mount.view.clone(),
            mount_path: mount.entry.path.clone(),
            display_name: entry.display_name.clone(),
            remote_addr: None,
        };
        match mount.backend.handle(req).await? {
            Some(_) => Ok(()),
            None => Err(Error::invalid(format!(
                "role {role:?} no longer exists; the token cannot be renewed"
            ))),
        }
    }
}
