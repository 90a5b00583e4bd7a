//! [`RabbitMqBackend`]: the engine's table of paths, the [`Backend`] implementation that routes
//! each request to the module serving its path family, and the [`SecretEngine`] (with
//! [`Renew`]) the lease engine drives for each credential.

use std::sync::Arc;

use async_trait::async_trait;
use leasehold_backend::clock::SharedClock;
use leasehold_backend::{
    Account, Backend, BackendError, Credentials, MountStorage, Operation, Renew, Request, Response,
    Revoked, SecretContext, SecretEngine,
};

use crate::error::RabbitMqError;
use crate::management::{self, Management};
use crate::{config, creds, names, roles};

pub use leasehold_backend::path::PathSpec;

use Operation::{Create, Delete, List, Read, Update};

/// The engine's API, as a table.
pub const PATHS: &[PathSpec] = &[
    PathSpec {
        pattern: "config/connection",
        fields: config::CONNECTION_FIELDS,
        operations: &[Read, Create, Update],
    },
    PathSpec {
        pattern: "config/lease",
        fields: config::LEASE_FIELDS,
        operations: &[Read, Create, Update],
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
    // Read only, as in Vault: a credential is issued by GET.
    PathSpec {
        pattern: "creds/:name",
        fields: &[],
        operations: &[Read],
    },
];

/// A request path matched against [`PATHS`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route<'a> {
    Connection,
    Lease,
    RoleList,
    Role(&'a str),
    Creds(&'a str),
}

impl<'a> Route<'a> {
    /// Anchored, as Vault's patterns: `creds/x/` is not `creds/x` (the core strips only the one
    /// trailing `/` a list request carries).
    fn parse(path: &'a str) -> Option<(Self, &'static PathSpec)> {
        let one = |name: &str| !name.is_empty() && !name.contains('/');
        let (route, index) = match path.split_once('/') {
            None if path == "roles" => (Route::RoleList, 2),
            None => return None,
            Some(("config", "connection")) => (Route::Connection, 0),
            Some(("config", "lease")) => (Route::Lease, 1),
            Some(("roles", name)) if one(name) => (Route::Role(name), 3),
            Some(("creds", name)) if one(name) => (Route::Creds(name), 4),
            Some(_) => return None,
        };
        PATHS.get(index).map(|spec| (route, spec))
    }
}

/// The `rabbitmq` secrets engine. Cheap to share; holds the HTTP connection pool and the core's
/// clock. Everything else (connection, roles, lease settings) is read from the mount's storage
/// on each request.
pub struct RabbitMqBackend {
    http: reqwest::Client,
    clock: SharedClock,
}

impl RabbitMqBackend {
    /// A backend for one or more `rabbitmq` mounts on `clock`. Makes no network calls.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            http: management::http_client(),
            clock,
        }
    }

    async fn route(
        &self,
        req: &Request,
        route: Route<'_>,
    ) -> Result<Option<Response>, RabbitMqError> {
        let op = req.operation;
        match route {
            Route::Connection if op == Read => config::read_connection(req).await,
            Route::Connection => config::write_connection(req, &self.http)
                .await
                .map(|()| None),
            Route::Lease if op == Read => config::read_lease(req).await,
            Route::Lease => config::write_lease(req).await.map(|()| None),
            Route::RoleList => roles::list(req).await,
            Route::Role(name) if op == Read => roles::read(req, name).await,
            Route::Role(name) if op == Delete => roles::delete(req, name).await.map(|()| None),
            Route::Role(name) => roles::write(req, name).await.map(|()| None),
            Route::Creds(name) => creds::plan(req, name, self.clock.now()).await.map(Some),
        }
    }
}

#[async_trait]
impl Backend for RabbitMqBackend {
    fn mount_type(&self) -> &'static str {
        "rabbitmq"
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
impl SecretEngine for RabbitMqBackend {
    async fn create(&self, ctx: &SecretContext) -> Result<Credentials, BackendError> {
        Ok(creds::create(ctx, &self.http).await?)
    }

    async fn revoke(&self, ctx: &SecretContext) -> Result<Revoked, BackendError> {
        Ok(creds::revoke(ctx, &self.http).await?)
    }

    fn renewer(&self) -> Option<&dyn Renew> {
        Some(self)
    }

    async fn list_accounts(
        &self,
        storage: Arc<dyn MountStorage>,
    ) -> Result<Option<Vec<Account>>, BackendError> {
        let Some(connection) = config::load_connection(storage.as_ref()).await? else {
            return Ok(Some(Vec::new()));
        };
        let template = connection.template()?;
        let prefix = template.prefix();
        if prefix.is_empty() {
            tracing::warn!("rabbitmq username_template has no fixed prefix; users not reconciled");
            return Ok(Some(Vec::new()));
        }
        let marked = template.marked_prefix(&names::mount_marker(storage.as_ref()).await?);
        let users = Management::new(&self.http, &connection).users().await?;
        Ok(Some(
            users
                .into_iter()
                .filter(|name| name.starts_with(&prefix))
                .map(|name| Account::found("", name, marked.as_deref()))
                .collect(),
        ))
    }

    async fn destroy_account(
        &self,
        storage: Arc<dyn MountStorage>,
        account: &Account,
    ) -> Result<(), BackendError> {
        account.require_marked("RabbitMQ user")?;
        let connection = config::load_connection(storage.as_ref())
            .await?
            .ok_or(RabbitMqError::NotConfigured)?;
        creds::destroy(&Management::new(&self.http, &connection), &account.name).await?;
        Ok(())
    }
}

#[async_trait]
impl Renew for RabbitMqBackend {
    async fn renew(&self, ctx: &SecretContext) -> Result<(), BackendError> {
        Ok(creds::renew(ctx)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_anchored() {
        assert_eq!(
            Route::parse("config/connection").map(|r| r.0),
            Some(Route::Connection)
        );
        assert_eq!(Route::parse("roles").map(|r| r.0), Some(Route::RoleList));
        assert_eq!(
            Route::parse("roles/x").map(|r| r.1.pattern),
            Some("roles/:name")
        );
        assert_eq!(
            Route::parse("creds/x").map(|r| r.0),
            Some(Route::Creds("x"))
        );
        for bad in [
            "",
            "config",
            "config/nope",
            "roles/a/b",
            "creds/",
            "creds/x/",
            "CREDS/x",
        ] {
            assert!(Route::parse(bad).is_none(), "{bad}");
        }
    }
}
