#![doc = include_str!("../README.md")]
//!
//! The AppRole auth method (mount type `approle`): how a machine workload proves who it is with a
//! role id (which names a role) and a secret id (a password for it, possibly use-limited,
//! expiring and CIDR-bound), and gets a token whose policies the role decides.
//!
//! The backend answers login with an [`leasehold_backend::AuthGrant`]; the core, which mounts it
//! under `auth/<path>/`, turns the grant into a token, enforces ACLs on the admin paths and
//! records `workload = auth/<mount>role/<role>` on everything the token obtains.
//!
//! | path | operations | handler |
//! |---|---|---|
//! | `role` | list | `role.rs` |
//! | `role/:name` | create, update, read, delete (existence check) | `role.rs` |
//! | `role/:name/role-id` | read, update | `role.rs` |
//! | `role/:name/secret-id` | update (generate), list (accessors) | `secret_id.rs` |
//! | `role/:name/custom-secret-id` | update | `secret_id.rs` |
//! | `role/:name/secret-id/lookup` | update | `secret_id.rs` |
//! | `role/:name/secret-id/destroy` | update, delete | `secret_id.rs` |
//! | `role/:name/secret-id-accessor/lookup` | update | `secret_id.rs` |
//! | `role/:name/secret-id-accessor/destroy` | update, delete | `secret_id.rs` |
//! | `login` | update (unauthenticated) | `login.rs` |
//!
//! Storage below the mount: `hmac-key` (`mac.rs`); `role/<name>` (the role, with its role id)
//! and `role-id/<hmac(role id)>` (which role a role id names) in `role.rs`;
//! `secret-id/<role>/<hmac(secret id)>` (one secret id's limits and metadata) and
//! `accessor/<role>/<accessor>` (which hash an accessor names) in `secret_id_entry.rs`. Secret
//! ids themselves are never stored.
//!
//! Concurrency: a login takes a secret id's use with the storage's compare-and-put, so a secret
//! id limited to N uses admits at most N logins however many arrive at once, on however many
//! servers share the storage (`login.rs`, `secret_id_entry.rs`). The administrative paths that
//! read and then write a role or its secret ids hold that role's async mutex; those mutexes live
//! in the backend instance, which is why there must be exactly one instance per mount, and they
//! order writers within one server only.

pub(crate) mod error;
mod login;
mod mac;
mod role;
mod secret_id;
mod secret_id_entry;
mod token_fields;

#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use leasehold_backend::clock::SharedClock;
use leasehold_backend::{name, Backend, BackendError, MountStorage, Operation, Request, Response};
use tokio::sync::{OnceCell, OwnedMutexGuard};

use mac::MountKey;

/// The `approle` auth method. Build one per mount (see the module docs for why); it issues no
/// secrets, so `create`, `renew` and `revoke` answer [`BackendError::UnsupportedOperation`].
pub struct AppRoleBackend {
    clock: SharedClock,
    key: OnceCell<MountKey>,
    locks: RoleLocks,
    /// Held while a role id is assigned, so two roles cannot claim the same custom role id at
    /// once (the per-role mutexes do not exclude each other).
    role_id_lock: tokio::sync::Mutex<()>,
}

impl AppRoleBackend {
    /// A backend reading time from `clock` (secret id expiry, lookup timestamps): the server
    /// passes the core's clock, tests a hand-moved one.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            key: OnceCell::new(),
            locks: RoleLocks::default(),
            role_id_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Now, from the backend's clock.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The mount's HMAC key, loaded or created once.
    async fn key(&self, storage: &dyn MountStorage) -> Result<&MountKey, BackendError> {
        self.key
            .get_or_try_init(|| MountKey::load_or_create(storage))
            .await
    }
}

/// One async mutex per role name.
///
/// The map itself is behind a std mutex because it is only touched for a lookup and never held
/// across an `.await`; the per-role mutex is Tokio's because it is held across storage calls.
/// Entries are never removed: a waiter may still hold a clone of a deleted role's mutex, and
/// dropping the entry would let a new request on a re-created role run beside it. The map grows
/// only with role names sent to the ACL-protected admin paths; login locks only names it found
/// in the role id index.
#[derive(Default)]
struct RoleLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RoleLocks {
    async fn lock(&self, role: &str) -> OwnedMutexGuard<()> {
        let mutex = {
            // A panic elsewhere while holding the map cannot leave it inconsistent (it only
            // inserts), so a poisoned lock is still usable.
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(role.to_owned()).or_default())
        };
        mutex.lock_owned().await
    }
}

/// Where a request goes: one variant per row of the module's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    RoleList,
    Role(&'a str),
    RoleId(&'a str),
    SecretId(&'a str),
    CustomSecretId(&'a str),
    SecretIdLookup(&'a str),
    SecretIdDestroy(&'a str),
    AccessorLookup(&'a str),
    AccessorDestroy(&'a str),
    Login,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        let parts: Vec<&'a str> = path.split('/').collect();
        let route = match parts.as_slice() {
            ["login"] => Route::Login,
            ["role"] => Route::RoleList,
            ["role", name] => Route::Role(name),
            ["role", name, "role-id"] => Route::RoleId(name),
            ["role", name, "secret-id"] => Route::SecretId(name),
            ["role", name, "custom-secret-id"] => Route::CustomSecretId(name),
            ["role", name, "secret-id", "lookup"] => Route::SecretIdLookup(name),
            ["role", name, "secret-id", "destroy"] => Route::SecretIdDestroy(name),
            ["role", name, "secret-id-accessor", "lookup"] => Route::AccessorLookup(name),
            ["role", name, "secret-id-accessor", "destroy"] => Route::AccessorDestroy(name),
            _ => return None,
        };
        match route {
            Route::Login | Route::RoleList => Some(route),
            _ => parts.get(1).filter(|n| name::is_valid(n)).map(|_| route),
        }
    }
}

#[async_trait]
impl Backend for AppRoleBackend {
    fn mount_type(&self) -> &'static str {
        "approle"
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, BackendError> {
        match Route::parse(&req.path) {
            Some(Route::Role(name)) => Ok(Some(
                role::load(req.storage.as_ref(), name).await?.is_some(),
            )),
            _ => Ok(None),
        }
    }

    async fn login_role(&self, req: &Request) -> Result<Option<String>, BackendError> {
        match Route::parse(&req.path) {
            Some(Route::Login) => login::role_of(self, req).await,
            _ => Ok(None),
        }
    }

    async fn handle(&self, req: Request) -> Result<Option<Response>, BackendError> {
        use Operation::{Delete, List, Read};
        let route = Route::parse(&req.path).ok_or(BackendError::UnsupportedPath)?;
        match (route, req.operation) {
            (Route::Login, op) if op.is_write() => login::login(self, &req).await,
            (Route::RoleList, List) => role::list(&req).await,
            (Route::Role(name), op) if op.is_write() => role::write(self, &req, name).await,
            (Route::Role(name), Read) => role::read(&req, name).await,
            (Route::Role(name), Delete) => role::delete(self, &req, name).await,
            (Route::RoleId(name), Read) => role::read_role_id(&req, name).await,
            (Route::RoleId(name), op) if op.is_write() => {
                role::write_role_id(self, &req, name).await
            }
            (Route::SecretId(name), op) if op.is_write() => {
                secret_id::generate(self, &req, name).await
            }
            (Route::SecretId(name), List) => secret_id::list(self, &req, name).await,
            (Route::CustomSecretId(name), op) if op.is_write() => {
                secret_id::custom(self, &req, name).await
            }
            (Route::SecretIdLookup(name), op) if op.is_write() => {
                secret_id::lookup(self, &req, name).await
            }
            (Route::SecretIdDestroy(name), op) if op.is_write() || op == Delete => {
                secret_id::destroy(self, &req, name).await
            }
            (Route::AccessorLookup(name), op) if op.is_write() => {
                secret_id::lookup_by_accessor(self, &req, name).await
            }
            (Route::AccessorDestroy(name), op) if op.is_write() || op == Delete => {
                secret_id::destroy_by_accessor(self, &req, name).await
            }
            _ => Err(BackendError::UnsupportedOperation),
        }
    }
}

/// Unknown fields of a write, as Vault's warning; `None` when there are none.
fn unknown_fields_warning(req: &Request, known: &[&str]) -> Option<Response> {
    let unknown = req.fields.unknown(known);
    (!unknown.is_empty()).then(|| {
        Response::default().with_warning(format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("login"), Some(Route::Login));
        assert_eq!(Route::parse("role"), Some(Route::RoleList));
        assert_eq!(Route::parse("role/ci.app-1"), Some(Route::Role("ci.app-1")));
        assert_eq!(Route::parse("role/ci/role-id"), Some(Route::RoleId("ci")));
        assert_eq!(
            Route::parse("role/ci/secret-id/lookup"),
            Some(Route::SecretIdLookup("ci"))
        );
        assert_eq!(
            Route::parse("role/ci/secret-id-accessor/destroy"),
            Some(Route::AccessorDestroy("ci"))
        );
        for bad in [
            "",
            "role/",
            "role/-x",
            "role/a b",
            "role/ci/secret-id/other",
            "role/ci/policies",
            "login/x",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
    }
}
