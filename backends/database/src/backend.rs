//! [`DatabaseBackend`]: the engine's table of paths, and its secret's life cycle.
//!
//! | path | operations | handler |
//! |---|---|---|
//! | `config` | list | `config.rs` |
//! | `config/:name` | create, update, read, delete (existence check) | `config.rs` |
//! | `reset/:name` | update | `config.rs` |
//! | `roles` | list | `roles.rs` |
//! | `roles/:name` | create, update, read, delete (existence check) | `roles.rs` |
//! | `creds/:name` | read | `creds.rs` |
//!
//! Secret kind `creds` (renewable): create, renew and revoke in `secret.rs`. Reconciliation
//! lists, per connection, the users carrying the connection's user-name prefix.

use std::sync::Arc;

use async_trait::async_trait;
use leasehold_backend::{
    Account, Backend, BackendError, Credentials, MountStorage, Operation, Request, Response,
    SecretContext,
};

use crate::connections::Connections;
use crate::driver::DriverFactory;
use crate::{config, creds, roles, secret};

/// The `database` secrets engine. Build one per mount; it caches one driver (pool) per
/// configured connection.
pub struct DatabaseBackend {
    connections: Connections,
}

impl DatabaseBackend {
    /// An engine that can use the given drivers, chosen by each connection's `plugin_name`.
    pub fn new(factories: Vec<Arc<dyn DriverFactory>>) -> Self {
        Self {
            connections: Connections::new(factories),
        }
    }
}

/// Where a request goes: one variant per row of the module's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    ConfigList,
    Config(&'a str),
    Reset(&'a str),
    RoleList,
    Role(&'a str),
    Creds(&'a str),
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        match path.split_once('/') {
            None => match path {
                "config" => Some(Route::ConfigList),
                "roles" => Some(Route::RoleList),
                _ => None,
            },
            Some((family, name)) => {
                if !is_valid_name(name) {
                    return None;
                }
                match family {
                    "config" => Some(Route::Config(name)),
                    "reset" => Some(Route::Reset(name)),
                    "roles" => Some(Route::Role(name)),
                    "creds" => Some(Route::Creds(name)),
                    _ => None,
                }
            }
        }
    }
}

/// Vault's name rule for connections and roles: word characters, `-` and `.`, starting and
/// ending with a word character. Other names do not match a path (404).
fn is_valid_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    name.chars().next().is_some_and(word)
        && name.chars().next_back().is_some_and(word)
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
}

#[async_trait]
impl Backend for DatabaseBackend {
    fn mount_type(&self) -> &'static str {
        "database"
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, BackendError> {
        let key = match Route::parse(&req.path) {
            Some(Route::Config(name)) => format!("{}{name}", config::PREFIX),
            Some(Route::Role(name)) => format!("{}{name}", roles::PREFIX),
            _ => return Ok(None),
        };
        Ok(Some(req.storage.get(&key).await?.is_some()))
    }

    async fn handle(&self, req: Request) -> Result<Option<Response>, BackendError> {
        let route = Route::parse(&req.path).ok_or(BackendError::UnsupportedPath)?;
        let conns = &self.connections;
        match (route, req.operation) {
            (Route::ConfigList, Operation::List) => config::list(&req).await,
            (Route::Config(name), op) if op.is_write() => config::write(conns, &req, name).await,
            (Route::Config(name), Operation::Read) => config::read(&req, name).await,
            (Route::Config(name), Operation::Delete) => config::delete(conns, &req, name).await,
            (Route::Reset(name), op) if op.is_write() => config::reset(conns, &req, name).await,
            (Route::RoleList, Operation::List) => roles::list(&req).await,
            (Route::Role(name), op) if op.is_write() => roles::write(&req, name).await,
            (Route::Role(name), Operation::Read) => roles::read(&req, name).await,
            (Route::Role(name), Operation::Delete) => roles::delete(&req, name).await,
            (Route::Creds(name), Operation::Read) => creds::read(conns, &req, name).await,
            _ => Err(BackendError::UnsupportedOperation),
        }
    }

    async fn create(&self, ctx: &SecretContext) -> Result<Credentials, BackendError> {
        secret::create(&self.connections, ctx).await
    }

    async fn renew(&self, ctx: &SecretContext) -> Result<(), BackendError> {
        secret::renew(&self.connections, ctx).await
    }

    async fn revoke(&self, ctx: &SecretContext) -> Result<(), BackendError> {
        secret::revoke(&self.connections, ctx).await
    }

    async fn list_accounts(
        &self,
        storage: Arc<dyn MountStorage>,
    ) -> Result<Option<Vec<Account>>, BackendError> {
        let mut accounts = Vec::new();
        for name in storage.list(config::PREFIX).await? {
            let Some(entry) = config::load(storage.as_ref(), &name).await? else {
                continue;
            };
            let prefix = entry.username_template()?.prefix();
            // A template without a fixed prefix cannot tell our users from anyone else's.
            if prefix.is_empty() {
                tracing::warn!(db.connection = %name, "connection {name} has no fixed user-name prefix; not reconciled");
                continue;
            }
            let driver = self.connections.driver(storage.as_ref(), &name).await?;
            let users = driver
                .list_users(&prefix)
                .await
                .map_err(crate::error::DatabaseError::from)?;
            accounts.extend(users.into_iter().map(|u| Account {
                target: name.clone(),
                name: u,
            }));
        }
        Ok(Some(accounts))
    }

    async fn destroy_account(
        &self,
        storage: Arc<dyn MountStorage>,
        account: &Account,
    ) -> Result<(), BackendError> {
        let driver = self
            .connections
            .driver(storage.as_ref(), &account.target)
            .await?;
        driver
            .delete_user(crate::driver::DeleteUser {
                username: &account.name,
                revocation_statements: &[],
                reassign_owned_to: None,
            })
            .await
            .map_err(crate::error::DatabaseError::from)?;
        Ok(())
    }

    async fn shutdown(&self) {
        self.connections.close_all().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("config"), Some(Route::ConfigList));
        assert_eq!(Route::parse("config/pg"), Some(Route::Config("pg")));
        assert_eq!(
            Route::parse("roles/read.only-1"),
            Some(Route::Role("read.only-1"))
        );
        assert_eq!(Route::parse("creds/ro"), Some(Route::Creds("ro")));
        assert_eq!(Route::parse("reset/pg"), Some(Route::Reset("pg")));
        for bad in [
            "",
            "creds",
            "creds/",
            "creds/a/b",
            "roles/-x",
            "roles/a b",
            "static-roles/x",
            "config/x.",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
    }
}
