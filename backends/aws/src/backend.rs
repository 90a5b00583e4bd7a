//! [`AwsBackend`]: the engine's table of paths, the [`Backend`] implementation that routes
//! each request to the module serving its path family, and the [`SecretEngine`] (with
//! [`Renew`]) that the lease engine drives for each credential.

use async_trait::async_trait;
use aws_sdk_iam::config::SharedHttpClient;
use std::sync::Arc;

use leasehold_backend::clock::SharedClock;
use leasehold_backend::{
    Account, Backend, BackendError, Credentials, MountStorage, Operation, Renew, Request, Response,
    Revoked, SecretContext, SecretEngine,
};

use crate::client::AwsClients;
use crate::error::AwsError;
use crate::{client, config, creds, iam, roles};

pub use leasehold_backend::path::PathSpec;

use Operation::{Create, Delete, List, Read, Update};

/// The engine's API, as a table.
pub const PATHS: &[PathSpec] = &[
    PathSpec {
        pattern: "config/root",
        fields: config::ROOT_FIELDS,
        operations: &[Read, Create, Update],
    },
    PathSpec {
        pattern: "config/lease",
        fields: config::LEASE_FIELDS,
        operations: &[Read, Create, Update],
    },
    PathSpec {
        pattern: "config/rotate-root",
        fields: &[],
        operations: &[Create, Update],
    },
    PathSpec {
        pattern: "roles",
        fields: &[],
        operations: &[List],
    },
    PathSpec {
        pattern: "roles/:name",
        fields: roles::ROLE_FIELDS,
        operations: &[Read, Create, Update, Delete],
    },
    PathSpec {
        pattern: "creds/:name",
        fields: creds::CREDS_FIELDS,
        operations: &[Read, Create, Update],
    },
    PathSpec {
        pattern: "sts/:name",
        fields: creds::CREDS_FIELDS,
        operations: &[Read, Create, Update],
    },
];

/// A request path matched against [`PATHS`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route<'a> {
    ConfigRoot,
    ConfigLease,
    RotateRoot,
    RoleList,
    Role(&'a str),
    Creds(&'a str),
}

impl<'a> Route<'a> {
    /// Anchored, as Vault's patterns: `creds/x/` is not `creds/x` (the core strips only the one
    /// trailing `/` a list request carries).
    fn parse(path: &'a str) -> Option<(Self, &'static PathSpec)> {
        let route = match path.split_once('/') {
            None if path == "roles" => Route::RoleList,
            None => return None,
            Some(("config", "root")) => Route::ConfigRoot,
            Some(("config", "lease")) => Route::ConfigLease,
            Some(("config", "rotate-root")) => Route::RotateRoot,
            Some(("roles", name)) if !name.is_empty() && !name.contains('/') => Route::Role(name),
            Some(("creds" | "sts", name)) if !name.is_empty() && !name.contains('/') => {
                Route::Creds(name)
            }
            Some(_) => return None,
        };
        let index = match (&route, path.starts_with("sts/")) {
            (Route::ConfigRoot, _) => 0,
            (Route::ConfigLease, _) => 1,
            (Route::RotateRoot, _) => 2,
            (Route::RoleList, _) => 3,
            (Route::Role(_), _) => 4,
            (Route::Creds(_), false) => 5,
            (Route::Creds(_), true) => 6,
        };
        PATHS.get(index).map(|spec| (route, spec))
    }
}

/// The `aws` secrets engine. Cheap to share; holds only the HTTPS connection pool its SDK clients
/// use and the core's clock. Everything else (root credentials, roles, lease settings) is read
/// from the mount's storage on each request.
pub struct AwsBackend {
    http: SharedHttpClient,
    clock: SharedClock,
}

impl Default for AwsBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl AwsBackend {
    /// A backend for one or more `aws` mounts, on the wall clock. Makes no network calls.
    pub fn new() -> Self {
        Self::with_clock(leasehold_backend::clock::system())
    }

    /// The same on a clock of the caller's (the core's, or a test's).
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            http: client::https_client(),
            clock,
        }
    }

    async fn route(&self, req: &Request, route: Route<'_>) -> Result<Option<Response>, AwsError> {
        let op = req.operation;
        match route {
            Route::ConfigRoot if op == Read => config::read_root(req).await,
            Route::ConfigRoot => config::write_root(req).await.map(|()| None),
            Route::ConfigLease if op == Read => config::read_lease(req).await,
            Route::ConfigLease => config::write_lease(req).await.map(|()| None),
            Route::RotateRoot => config::rotate_root(req, &self.http).await.map(Some),
            Route::RoleList => roles::list(req).await,
            Route::Role(name) if op == Read => roles::read(req, name).await,
            Route::Role(name) if op == Delete => roles::delete(req, name).await.map(|()| None),
            Route::Role(name) => roles::write(req, name).await.map(|()| None),
            Route::Creds(name) => creds::plan(req, name, self.clock.now()).await.map(Some),
        }
    }
}

#[async_trait]
impl Backend for AwsBackend {
    fn mount_type(&self) -> &'static str {
        "aws"
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, BackendError> {
        match Route::parse(&req.path) {
            Some((Route::ConfigRoot, _)) => {
                Ok(Some(config::root_exists(req.storage.as_ref()).await?))
            }
            _ => Ok(None),
        }
    }

    async fn handle(&self, req: Request) -> Result<Option<Response>, BackendError> {
        let (route, spec) = Route::parse(&req.path).ok_or(BackendError::UnsupportedPath)?;
        let unknown = spec.admit(
            &req,
            req.operation.is_write() || matches!(route, Route::Creds(_)),
        )?;
        let response = self.route(&req, route).await?;
        Ok(PathSpec::warn_unknown(&unknown, response))
    }

    fn secrets(&self) -> Option<&dyn SecretEngine> {
        Some(self)
    }
}

#[async_trait]
impl SecretEngine for AwsBackend {
    async fn create(&self, ctx: &SecretContext) -> Result<Credentials, BackendError> {
        Ok(creds::create(ctx, &self.http, self.clock.now()).await?)
    }

    /// IAM users renew (the engine moves the expiry); STS credentials are planned not
    /// renewable, so their leases never get here.
    fn renewer(&self) -> Option<&dyn Renew> {
        Some(self)
    }

    /// Sessions are always unknown (a key pair is not a connection); an `iam_user` revocation
    /// carries IAM's answer that the user is gone, STS ones carry nothing (see [`crate::receipt`]).
    async fn revoke(&self, ctx: &SecretContext) -> Result<Revoked, BackendError> {
        Ok(creds::revoke(ctx, &self.http).await?)
    }

    async fn list_accounts(
        &self,
        storage: Arc<dyn MountStorage>,
    ) -> Result<Option<Vec<Account>>, BackendError> {
        let Some(root) = config::load_root(storage.as_ref()).await? else {
            return Ok(Some(Vec::new()));
        };
        let template = root.template()?;
        let prefix = template.prefix();
        // `lh-` alone is shared by every aws mount of every leasehold on the account; only the
        // marker proves a user is this mount's.
        let marked = template.marked_prefix(&crate::names::mount_marker(storage.as_ref()).await?);
        if prefix.is_empty() {
            tracing::warn!("aws username_template has no fixed prefix; IAM users not reconciled");
            return Ok(Some(Vec::new()));
        }
        let clients = AwsClients::connect(&self.http, Some(&root)).await;
        let users = iam::list_users(&clients, &prefix).await?;
        Ok(Some(
            users
                .into_iter()
                .map(|name| Account::found("", name, marked.as_deref()))
                .collect(),
        ))
    }

    async fn destroy_account(
        &self,
        storage: Arc<dyn MountStorage>,
        account: &Account,
    ) -> Result<(), BackendError> {
        account.require_marked("IAM user")?;
        let root = config::load_root(storage.as_ref()).await?;
        let clients = AwsClients::connect(&self.http, root.as_ref()).await;
        Ok(iam::destroy_unplanned(&clients, &account.name).await?)
    }
}

#[async_trait]
impl Renew for AwsBackend {
    async fn renew(&self, ctx: &SecretContext) -> Result<(), BackendError> {
        Ok(creds::renew(ctx)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("config/root").map(|r| r.0),
            Some(Route::ConfigRoot)
        );
        assert_eq!(Route::parse("roles").map(|r| r.0), Some(Route::RoleList));
        assert_eq!(Route::parse("roles/x").map(|r| r.0), Some(Route::Role("x")));
        assert_eq!(
            Route::parse("sts/x").map(|r| r.1.pattern),
            Some("sts/:name")
        );
        assert_eq!(
            Route::parse("creds/x").map(|r| r.1.pattern),
            Some("creds/:name")
        );
        for bad in [
            "",
            "config",
            "config/nope",
            "roles/a/b",
            "creds/",
            "other/x",
        ] {
            assert!(Route::parse(bad).is_none(), "{bad}");
        }
    }
}
