//! `role/:name` (create, update, read, delete), `LIST role`, and `role/:name/role-id`.
//!
//! A role holds its role id, what a secret id must be like (`bind_secret_id`,
//! `secret_id_bound_cidrs`, `secret_id_num_uses`, `secret_id_ttl`) and the token a login gets
//! (`token_fields.rs`). Fields not given on an update keep their stored values. A role must keep
//! at least one constraint a login is checked against: a secret id or a CIDR binding.
//!
//! The role id index (`role-id/<hmac>`) is written before the role and the old entry removed
//! after it, so a crash leaves at worst a stale index entry, which login ignores because it
//! re-checks the role's own role id.

use leasehold_backend::entry::Entries;
use leasehold_backend::{list, BackendError, MountStorage, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use super::error::AppRoleError;
use super::mac::{MountKey, Purpose};
use super::token_fields::{self, TokenSettings};
use super::{secret_id_entry, unknown_fields_warning, AppRoleBackend};
use leasehold_backend::cidr;

/// The roles, `role/<name>`.
const ROLES: Entries<RoleEntry> = Entries::under("role/");
/// The role id index, `role-id/<hmac(role id)>`.
const ROLE_IDS: Entries<RoleIdIndex> = Entries::under("role-id/");

const ROLE_FIELDS: &[&str] = &[
    "role_name",
    "role_id",
    "bind_secret_id",
    "secret_id_bound_cidrs",
    "secret_id_num_uses",
    "secret_id_ttl",
    "local_secret_ids",
];

/// One stored role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct RoleEntry {
    /// Public half of the login; unique across the mount.
    pub role_id: String,
    /// Whether login needs a secret id.
    pub bind_secret_id: bool,
    /// Kept for Vault's read shape; this server has no replication to keep them local from.
    pub local_secret_ids: bool,
    /// Where logins may come from, whatever the secret id; empty for anywhere.
    pub secret_id_bound_cidrs: Vec<String>,
    /// Default and ceiling of a new secret id's uses; zero for unlimited.
    pub secret_id_num_uses: u64,
    /// Default and ceiling of a new secret id's life in seconds; zero for no expiry.
    pub secret_id_ttl_secs: u64,
    /// The token a login gets.
    pub token: TokenSettings,
}

impl RoleEntry {
    fn new() -> Self {
        Self {
            role_id: String::new(),
            bind_secret_id: true,
            local_secret_ids: false,
            secret_id_bound_cidrs: Vec::new(),
            secret_id_num_uses: 0,
            secret_id_ttl_secs: 0,
            token: TokenSettings::default(),
        }
    }

    fn apply(&mut self, req: &Request, creating: bool) -> Result<(), BackendError> {
        let f = &req.fields;
        if let Some(v) = f.bool("bind_secret_id")? {
            self.bind_secret_id = v;
        }
        if let Some(v) = f.bool("local_secret_ids")? {
            if !creating && v != self.local_secret_ids {
                return Err(AppRoleError::field(
                    "local_secret_ids",
                    "can only be set when the role is created",
                )
                .into());
            }
            self.local_secret_ids = v;
        }
        if let Some(list) = f.comma_list("secret_id_bound_cidrs")? {
            self.secret_id_bound_cidrs = cidr::validate("secret_id_bound_cidrs", list)?;
        }
        if let Some(v) = f.int("secret_id_num_uses")? {
            self.secret_id_num_uses = u64::try_from(v)
                .map_err(|_| AppRoleError::field("secret_id_num_uses", "must not be negative"))?;
        }
        if let Some(v) = f.duration("secret_id_ttl")? {
            self.secret_id_ttl_secs = v.as_secs();
        }
        self.token.apply(f)?;
        if !self.bind_secret_id
            && self.secret_id_bound_cidrs.is_empty()
            && self.token.bound_cidrs.is_empty()
        {
            return Err(AppRoleError::NoConstraint.into());
        }
        Ok(())
    }

    fn to_read_data(&self) -> Map<String, serde_json::Value> {
        let mut data = Map::new();
        data.insert("bind_secret_id".into(), json!(self.bind_secret_id));
        data.insert("local_secret_ids".into(), json!(self.local_secret_ids));
        data.insert(
            "secret_id_bound_cidrs".into(),
            json!(self.secret_id_bound_cidrs),
        );
        data.insert("secret_id_num_uses".into(), json!(self.secret_id_num_uses));
        data.insert("secret_id_ttl".into(), json!(self.secret_id_ttl_secs));
        self.token.write_read_data(&mut data);
        data
    }
}

/// Which role a role id names.
#[derive(Debug, Serialize, Deserialize)]
struct RoleIdIndex {
    role: String,
}

/// The stored role `name`.
pub(super) async fn load(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<Option<RoleEntry>, BackendError> {
    Ok(ROLES.load(storage, name).await?)
}

/// The stored role `name`, or [`AppRoleError::RoleNotFound`].
pub(super) async fn load_existing(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<RoleEntry, BackendError> {
    load(storage, name).await?.ok_or_else(|| {
        AppRoleError::RoleNotFound {
            role: name.to_owned(),
        }
        .into()
    })
}

/// The name of the role `role_id` is indexed to. The caller must still compare the role's own
/// role id: the index may hold a stale entry.
pub(super) async fn name_for_role_id(
    storage: &dyn MountStorage,
    key: &MountKey,
    role_id: &str,
) -> Result<Option<String>, BackendError> {
    let hashed = key.hash(Purpose::RoleId, role_id)?;
    let index = ROLE_IDS.load(storage, &hashed).await?;
    Ok(index.map(|i| i.role))
}

/// `POST role/:name`.
pub(super) async fn write(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = be.locks.lock(name).await;
    let existing = load(storage, name).await?;
    let mut role = existing.clone().unwrap_or_else(RoleEntry::new);
    role.apply(req, existing.is_none())?;
    let requested = match req.fields.str("role_id")? {
        Some(id) if id.trim().is_empty() => {
            return Err(AppRoleError::field("role_id", "must not be empty").into())
        }
        Some(id) => Some(id),
        None => None,
    };
    let old_role_id = std::mem::take(&mut role.role_id);
    role.role_id = match requested {
        Some(id) => id,
        None if old_role_id.is_empty() => uuid::Uuid::new_v4().to_string(),
        None => old_role_id.clone(),
    };
    save_with_role_id(be, storage, name, &role, &old_role_id).await?;
    tracing::info!(role.name = %name, created = existing.is_none(), "wrote AppRole role {name}");
    let known: Vec<&str> = ROLE_FIELDS
        .iter()
        .chain(token_fields::FIELD_NAMES)
        .copied()
        .collect();
    Ok(unknown_fields_warning(req, &known))
}

/// Store `role` under `name`, moving the role id index from `old_role_id` (empty for none) to
/// `role.role_id`. The caller holds the role's lock.
async fn save_with_role_id(
    be: &AppRoleBackend,
    storage: &dyn MountStorage,
    name: &str,
    role: &RoleEntry,
    old_role_id: &str,
) -> Result<(), BackendError> {
    let key = be.key(storage).await?;
    if role.role_id == old_role_id {
        ROLES.store(storage, name, role).await?;
        return Ok(());
    }
    let _assigning = be.role_id_lock.lock().await;
    if let Some(owner) = name_for_role_id(storage, key, &role.role_id).await? {
        // The owner's role is read without its lock: the role-id lock already excludes every
        // writer of role ids, and that is all this check depends on.
        if owner != name
            && load(storage, &owner)
                .await?
                .is_some_and(|r| r.role_id == role.role_id)
        {
            return Err(AppRoleError::RoleIdTaken.into());
        }
    }
    let new_key = key.hash(Purpose::RoleId, &role.role_id)?;
    let index = RoleIdIndex {
        role: name.to_owned(),
    };
    ROLE_IDS.store(storage, &new_key, &index).await?;
    ROLES.store(storage, name, role).await?;
    if !old_role_id.is_empty() {
        let old_key = key.hash(Purpose::RoleId, old_role_id)?;
        ROLE_IDS.delete(storage, &old_key).await?;
    }
    Ok(())
}

/// `GET role/:name`.
pub(super) async fn read(req: &Request, name: &str) -> Result<Option<Response>, BackendError> {
    let role = load(req.storage.as_ref(), name).await?;
    Ok(role.map(|r| Response::data(r.to_read_data())))
}

/// `DELETE role/:name`: the role, its role id and every secret id issued for it. Tokens already
/// issued stay valid until the core's renewal check finds the role gone.
pub(super) async fn delete(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = be.locks.lock(name).await;
    let Some(role) = load(storage, name).await? else {
        return Ok(None);
    };
    let destroyed = secret_id_entry::delete_all(storage, name).await?;
    let key = be.key(storage).await?;
    let index_key = key.hash(Purpose::RoleId, &role.role_id)?;
    ROLE_IDS.delete(storage, &index_key).await?;
    ROLES.delete(storage, name).await?;
    tracing::info!(role.name = %name, secret_ids = destroyed, "deleted AppRole role {name} and its {destroyed} secret IDs");
    Ok(None)
}

/// `LIST role`.
pub(super) async fn list(req: &Request) -> Result<Option<Response>, BackendError> {
    let names = ROLES.names(req.storage.as_ref()).await?;
    Ok(Some(list::keys(names)))
}

/// `GET role/:name/role-id`.
pub(super) async fn read_role_id(
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let role = load(req.storage.as_ref(), name).await?;
    Ok(role.map(|r| {
        let mut data = Map::new();
        data.insert("role_id".into(), json!(r.role_id));
        Response::data(data)
    }))
}

/// `POST role/:name/role-id`: replace the role id; the old one stops working at once.
pub(super) async fn write_role_id(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let role_id = req.fields.required_str("role_id")?;
    let storage = req.storage.as_ref();
    let _guard = be.locks.lock(name).await;
    let mut role = load_existing(storage, name).await?;
    let old = std::mem::replace(&mut role.role_id, role_id);
    save_with_role_id(be, storage, name, &role, &old).await?;
    tracing::info!(role.name = %name, "replaced the role ID of AppRole role {name}");
    Ok(unknown_fields_warning(req, &["role_id", "role_name"]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use leasehold_backend::BackendError;
    use serde_json::{json, Value};

    use crate::testing::Harness;

    #[tokio::test]
    async fn create_read_defaults_and_arrays() {
        let h = Harness::new();
        assert!(h.write("role/ci", json!({})).await.unwrap().is_none());
        let d = h.read("role/ci").await.unwrap();
        assert_eq!(
            Value::Object(d),
            json!({
                "bind_secret_id": true,
                "local_secret_ids": false,
                "secret_id_bound_cidrs": [],
                "secret_id_num_uses": 0,
                "secret_id_ttl": 0,
                "token_policies": [],
                "policies": [],
                "token_bound_cidrs": [],
                "token_ttl": 0,
                "token_max_ttl": 0,
                "token_explicit_max_ttl": 0,
                "token_period": 0,
                "period": 0,
                "token_num_uses": 0,
                "token_no_default_policy": false,
                "token_type": "default",
            })
        );
        let role_id = h.read("role/ci/role-id").await.unwrap()["role_id"].clone();
        assert!(uuid::Uuid::parse_str(role_id.as_str().unwrap()).is_ok());
    }

    #[tokio::test]
    async fn hvac_comma_strings_and_updates_keep_fields() {
        let h = Harness::new();
        // As hvac's create_or_update_approle sends it.
        h.write(
            "role/ci",
            json!({"token_policies": "deploy,read-db", "token_ttl": "1h", "token_max_ttl": "4h",
                   "secret_id_bound_cidrs": "10.0.0.0/8,192.168.0.0/16", "secret_id_num_uses": "5",
                   "secret_id_ttl": "10m", "token_type": "service"}),
        )
        .await
        .unwrap();
        h.write("role/ci", json!({"period": "30m"})).await.unwrap();
        let d = h.read("role/ci").await.unwrap();
        assert_eq!(d["token_policies"], json!(["deploy", "read-db"]));
        assert_eq!(d["policies"], json!(["deploy", "read-db"]));
        assert_eq!(
            d["secret_id_bound_cidrs"],
            json!(["10.0.0.0/8", "192.168.0.0/16"])
        );
        assert_eq!(d["token_ttl"], 3600);
        assert_eq!(d["token_max_ttl"], 14400);
        assert_eq!(d["secret_id_num_uses"], 5);
        assert_eq!(d["secret_id_ttl"], 600);
        assert_eq!(d["token_period"], 1800);
        assert_eq!(d["period"], 1800);
        assert_eq!(d["token_type"], "service");
    }

    #[tokio::test]
    async fn list_and_delete() {
        let h = Harness::new();
        assert_eq!(h.list("role").await.unwrap()["keys"], json!([]));
        h.write("role/a", json!({})).await.unwrap();
        h.write("role/b", json!({})).await.unwrap();
        h.write("role/a/secret-id", json!({})).await.unwrap();
        assert_eq!(h.list("role").await.unwrap()["keys"], json!(["a", "b"]));
        h.delete("role/a").await.unwrap();
        assert_eq!(h.list("role").await.unwrap()["keys"], json!(["b"]));
        assert!(h.call_read("role/a").await.unwrap().is_none());
        assert!(h.call_read("role/a/role-id").await.unwrap().is_none());
        // Nothing of the role is left behind, and deleting again is fine.
        assert!(h.storage.keys_with("/a/").is_empty());
        h.delete("role/a").await.unwrap();
        assert_eq!(h.exists("role/a").await, Some(false));
        assert_eq!(h.exists("role/b").await, Some(true));
        assert_eq!(h.exists("role/b/role-id").await, None);
    }

    #[tokio::test]
    async fn custom_role_ids_are_unique_and_replace_the_old_one() {
        let h = Harness::new();
        h.write("role/a", json!({"role_id": "app-a"}))
            .await
            .unwrap();
        assert_eq!(h.read("role/a/role-id").await.unwrap()["role_id"], "app-a");
        h.write("role/b", json!({})).await.unwrap();
        let err = h
            .write("role/b", json!({"role_id": "app-a"}))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "role_id is already in use by another role");
        let err = h
            .write("role/b/role-id", json!({"role_id": "app-a"}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));

        h.write("role/a/role-id", json!({"role_id": "app-a2"}))
            .await
            .unwrap();
        let sid = h.secret_id("a").await;
        assert_eq!(
            h.login(json!({"role_id": "app-a", "secret_id": sid}), None)
                .await
                .unwrap_err()
                .to_string(),
            "invalid role or secret ID"
        );
        h.login(json!({"role_id": "app-a2", "secret_id": sid}), None)
            .await
            .unwrap();
        // The freed role id can now be claimed by another role.
        h.write("role/b/role-id", json!({"role_id": "app-a"}))
            .await
            .unwrap();
        let err = h
            .write("role/nope/role-id", json!({"role_id": "x"}))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "role \"nope\" not found");
    }

    #[tokio::test]
    async fn validation_names_the_field() {
        let h = Harness::new();
        for (body, needle) in [
            (json!({"bind_secret_id": false}), "at least one constraint"),
            (json!({"secret_id_num_uses": -1}), "secret_id_num_uses"),
            (json!({"secret_id_ttl": "later"}), "secret_id_ttl"),
            (
                json!({"secret_id_bound_cidrs": "10.0.0.0/99"}),
                "secret_id_bound_cidrs",
            ),
            (json!({"bind_secret_id": "maybe"}), "bind_secret_id"),
            (json!({"role_id": ""}), "role_id"),
        ] {
            let err = h.write("role/r", body.clone()).await.unwrap_err();
            assert!(matches!(err, BackendError::InvalidRequest(_)), "{body}");
            assert!(err.to_string().contains(needle), "{body}: {err}");
        }
        assert!(h.call_read("role/r").await.unwrap().is_none());

        h.write("role/r", json!({"local_secret_ids": true}))
            .await
            .unwrap();
        let err = h
            .write("role/r", json!({"local_secret_ids": false}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("local_secret_ids"));
        // Dropping the last constraint on update is refused too.
        let err = h
            .write("role/r", json!({"bind_secret_id": false}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("at least one constraint"));
        h.write(
            "role/r",
            json!({"bind_secret_id": false, "secret_id_bound_cidrs": "10.0.0.0/8"}),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn unknown_fields_warn() {
        let h = Harness::new();
        let resp = h
            .write("role/r", json!({"token_policies": "a", "colour": "blue"}))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            resp.warnings,
            vec!["Endpoint ignored these unrecognized parameters: [colour]"]
        );
    }
}
