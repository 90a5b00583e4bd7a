//! [`DatabaseBackend`]: the engine's table of paths ([`Backend`]), and its secret's life cycle
//! ([`SecretEngine`], with [`Renew`]).
//!
//! | path | operations | handler |
//! |---|---|---|
//! | `config` | list | `config.rs` |
//! | `config/:name` | create, update, read, delete (existence check) | `config.rs` |
//! | `reset/:name` | update | `config.rs` |
//! | `roles` | list | `roles.rs` |
//! | `roles/:name` | create, update, read, delete (existence check) | `roles.rs` |
//! | `creds/:name` | read | `creds.rs` |
//! | `rotate-root/:name` | update | `rotate_root.rs` |
//! | `static-roles` | list | `static_roles.rs` |
//! | `static-roles/:name` | create, update, read, delete (existence check) | `static_roles.rs` |
//! | `static-creds/:name` | read | `static_creds.rs` |
//! | `rotate-role/:name` | update | `static_creds.rs` |
//!
//! Secret kind `creds` (renewable): create, renew and revoke in `secret.rs`. Reconciliation
//! lists, per connection, the users carrying the connection's user-name prefix. `tick` rotates
//! static roles when due (`tick.rs`); the first call into the engine after a start finishes any
//! rotation a crash left pending (`rotation.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_backend::clock::SharedClock;
use leasehold_backend::name;
use leasehold_backend::{
    Account, Backend, BackendError, Credentials, MountStorage, Operation, Pending, Renew, Request,
    Response, Revoked, SecretContext, SecretEngine,
};

use crate::connections::Connections;
use crate::driver::DriverFactory;
use crate::rotation::Rotations;
use crate::{config, creds, roles, rotate_root, secret, static_creds, static_roles, tick};

/// The `database` secrets engine. Build one per mount; it caches one driver (pool) per
/// configured connection.
pub struct DatabaseBackend {
    connections: Connections,
    rotations: Rotations,
    /// The core's clock (static-role rotation times, `ttl`s, user names). `tick` is given its
    /// time by the core instead.
    clock: SharedClock,
}

impl DatabaseBackend {
    /// An engine that can use the given drivers, chosen by each connection's `plugin_name`,
    /// on the wall clock.
    pub fn new(factories: Vec<Arc<dyn DriverFactory>>) -> Self {
        Self::with_clock(factories, leasehold_backend::clock::system())
    }

    /// The same on a clock of the caller's (the core's, or a test's).
    pub fn with_clock(factories: Vec<Arc<dyn DriverFactory>>, clock: SharedClock) -> Self {
        Self {
            connections: Connections::new(factories),
            rotations: Rotations::default(),
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Finish, once per start, rotations a crash left pending (see `tick::recover`).
    async fn recover(&self, storage: &dyn MountStorage) {
        tick::recover(&self.rotations, &self.connections, storage, self.now()).await;
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
    RotateRoot(&'a str),
    StaticRoleList,
    StaticRole(&'a str),
    StaticCreds(&'a str),
    RotateRole(&'a str),
}

impl<'a> Route<'a> {
    /// A name that breaks the SDK's name rule ([`name::is_valid`]) matches no path (404).
    fn parse(path: &'a str) -> Option<Self> {
        match path.split_once('/') {
            None => match path {
                "config" => Some(Route::ConfigList),
                "roles" => Some(Route::RoleList),
                "static-roles" => Some(Route::StaticRoleList),
                _ => None,
            },
            Some((family, name)) => {
                if !name::is_valid(name) {
                    return None;
                }
                match family {
                    "config" => Some(Route::Config(name)),
                    "reset" => Some(Route::Reset(name)),
                    "roles" => Some(Route::Role(name)),
                    "creds" => Some(Route::Creds(name)),
                    "rotate-root" => Some(Route::RotateRoot(name)),
                    "static-roles" => Some(Route::StaticRole(name)),
                    "static-creds" => Some(Route::StaticCreds(name)),
                    "rotate-role" => Some(Route::RotateRole(name)),
                    _ => None,
                }
            }
        }
    }
}

#[async_trait]
impl Backend for DatabaseBackend {
    fn mount_type(&self) -> &'static str {
        "database"
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, BackendError> {
        let key = match Route::parse(&req.path) {
            Some(Route::Config(name)) => config::CONNECTIONS.key(name),
            Some(Route::Role(name)) => roles::ROLES.key(name),
            Some(Route::StaticRole(name)) => static_roles::STATIC_ROLES.key(name),
            _ => return Ok(None),
        };
        Ok(Some(req.storage.get(&key).await?.is_some()))
    }

    async fn handle(&self, req: Request) -> Result<Option<Response>, BackendError> {
        let route = Route::parse(&req.path).ok_or(BackendError::UnsupportedPath)?;
        self.recover(req.storage.as_ref()).await;
        let (conns, rots, now) = (&self.connections, &self.rotations, self.now());
        match (route, req.operation) {
            (Route::ConfigList, Operation::List) => config::list(&req).await,
            (Route::Config(name), op) if op.is_write() => {
                // Not while a root rotation of this mount is between its steps: its commit
                // rewrites the connection entry.
                let _guard = rots.lock(req.storage.as_ref()).await?;
                config::write(conns, &req, name).await
            }
            (Route::Config(name), Operation::Read) => config::read(conns, &req, name).await,
            (Route::Config(name), Operation::Delete) => {
                let _guard = rots.lock(req.storage.as_ref()).await?;
                config::delete(conns, &req, name).await
            }
            (Route::Reset(name), op) if op.is_write() => config::reset(conns, &req, name).await,
            (Route::RotateRoot(name), op) if op.is_write() => {
                rotate_root::rotate(rots, conns, &req, name, now).await
            }
            (Route::RoleList, Operation::List) => roles::list(&req).await,
            (Route::Role(name), op) if op.is_write() => roles::write(&req, name).await,
            (Route::Role(name), Operation::Read) => roles::read(&req, name).await,
            (Route::Role(name), Operation::Delete) => roles::delete(&req, name).await,
            (Route::Creds(name), Operation::Read) => creds::read(conns, &req, name, now).await,
            (Route::StaticRoleList, Operation::List) => static_roles::list(&req).await,
            (Route::StaticRole(name), op) if op.is_write() => {
                static_roles::write(rots, conns, &req, name, now).await
            }
            (Route::StaticRole(name), Operation::Read) => static_roles::read(&req, name, now).await,
            (Route::StaticRole(name), Operation::Delete) => {
                static_roles::delete(rots, &req, name).await
            }
            (Route::StaticCreds(name), Operation::Read) => {
                static_creds::read(rots, conns, &req, name, now).await
            }
            (Route::RotateRole(name), op) if op.is_write() => {
                static_creds::rotate(rots, conns, &req, name, now).await
            }
            _ => Err(BackendError::UnsupportedOperation),
        }
    }

    async fn tick(
        &self,
        storage: Arc<dyn MountStorage>,
        now: DateTime<Utc>,
    ) -> Result<Option<std::time::Duration>, BackendError> {
        tick::tick(&self.rotations, &self.connections, storage.as_ref(), now).await
    }

    async fn shutdown(&self) {
        self.connections.close_all().await;
    }

    /// A connection config another node wrote: its cached pool was built from the old one.
    async fn invalidate(&self, key: &str) {
        if key.is_empty() {
            self.connections.close_all().await;
        } else if let Some(name) = key.strip_prefix(crate::config::PREFIX) {
            self.connections.forget(name).await;
        }
    }

    fn secrets(&self) -> Option<&dyn SecretEngine> {
        Some(self)
    }
}

#[async_trait]
impl SecretEngine for DatabaseBackend {
    async fn create(&self, ctx: &SecretContext) -> Result<Credentials, BackendError> {
        self.recover(ctx.storage.as_ref()).await;
        secret::create(&self.connections, ctx).await
    }

    async fn prepare(&self, ctx: &SecretContext) -> Result<Option<Pending>, BackendError> {
        self.recover(ctx.storage.as_ref()).await;
        secret::prepare(&self.connections, ctx).await
    }

    fn renewer(&self) -> Option<&dyn Renew> {
        Some(self)
    }

    /// Every driver reaches its database through a bounded pool (`max_open_connections`;
    /// PostgreSQL's revocations also go through its batcher, four batches at most) or one
    /// multiplexed connection (Redis): more revocations in flight queue here, not there.
    fn bounds_target_load(&self) -> bool {
        true
    }

    async fn revoke(&self, ctx: &SecretContext) -> Result<Revoked, BackendError> {
        self.recover(ctx.storage.as_ref()).await;
        secret::revoke(&self.connections, ctx).await
    }

    async fn list_accounts(
        &self,
        storage: Arc<dyn MountStorage>,
    ) -> Result<Option<Vec<Account>>, BackendError> {
        self.recover(storage.as_ref()).await;
        let marker = crate::marker::mount_marker(storage.as_ref()).await?;
        // Users the mount knows are not its own: static roles' and every connection's login
        // (roles are cluster-wide in PostgreSQL, so one connection lists another's user).
        let mut not_ours = crate::static_roles::usernames(storage.as_ref()).await?;
        let mut entries = Vec::new();
        for name in storage.list(config::PREFIX).await? {
            if let Some(entry) = config::load(storage.as_ref(), &name).await? {
                not_ours.extend(entry.username.clone());
                entries.push((name, entry));
            }
        }
        let mut accounts = Vec::new();
        for (name, entry) in entries {
            let driver = self.connections.driver(storage.as_ref(), &name).await?;
            let template = entry.username_template_for(driver.max_username_len())?;
            // Names carrying the marker are provably this mount's; the template's leading text
            // (`v-`) also finds names from before markers, which are reported, never destroyed.
            let marked = template.marked_prefix(&marker);
            let prefix = template.prefix();
            // A template without a fixed prefix cannot tell our users from anyone else's.
            if prefix.is_empty() {
                tracing::warn!(db.connection = %name, "connection {name} has no fixed user-name prefix; not reconciled");
                continue;
            }
            let users = driver
                .list_users(&prefix)
                .await
                .map_err(crate::error::DatabaseError::from)?;
            accounts.extend(
                users
                    .into_iter()
                    .filter(|u| !not_ours.iter().any(|s| s.eq_ignore_ascii_case(u)))
                    .map(|u| Account::found(&name, u, marked.as_deref())),
            );
        }
        Ok(Some(accounts))
    }

    async fn destroy_account(
        &self,
        storage: Arc<dyn MountStorage>,
        account: &Account,
    ) -> Result<(), BackendError> {
        self.recover(storage.as_ref()).await;
        // Checked again here, not only when listed: a static role may have been made since.
        let mut not_ours = crate::static_roles::usernames(storage.as_ref()).await?;
        for name in storage.list(config::PREFIX).await? {
            if let Some(entry) = config::load(storage.as_ref(), &name).await? {
                not_ours.extend(entry.username);
            }
        }
        let known = not_ours
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&account.name));
        if !account.marked || known {
            return Err(BackendError::invalid(format!(
                "user {} is not provably this mount's (no marker, a static role's user or the \
                 connection's own user): not destroyed",
                account.name
            )));
        }
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
}

/// Credentials move their own expiry with the lease (`VALID UNTIL` and its equivalents).
#[async_trait]
impl Renew for DatabaseBackend {
    async fn renew(&self, ctx: &SecretContext) -> Result<(), BackendError> {
        self.recover(ctx.storage.as_ref()).await;
        secret::renew(&self.connections, ctx).await
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
        assert_eq!(Route::parse("static-roles"), Some(Route::StaticRoleList));
        assert_eq!(
            Route::parse("static-roles/app"),
            Some(Route::StaticRole("app"))
        );
        assert_eq!(
            Route::parse("static-creds/app"),
            Some(Route::StaticCreds("app"))
        );
        assert_eq!(
            Route::parse("rotate-role/app"),
            Some(Route::RotateRole("app"))
        );
        assert_eq!(
            Route::parse("rotate-root/pg"),
            Some(Route::RotateRoot("pg"))
        );
        for bad in [
            "",
            "creds",
            "creds/",
            "creds/a/b",
            "roles/-x",
            "roles/a b",
            "static-roles/",
            "static-creds",
            "rotate-root/a/b",
            "config/x.",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
    }
}
