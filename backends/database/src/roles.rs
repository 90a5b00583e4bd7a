//! `database/roles/:name`: dynamic roles (write, read, delete, list).
//!
//! A role says which connection to use, the SQL that makes and unmakes a user, and the lease's
//! TTLs. Statement lists are stored whole; splitting them is the driver's job because it depends
//! on the SQL dialect. Fields not given on an update keep their stored values.

use std::time::Duration;

use leasehold_backend::{list, BackendError, Entries, Fields, MountStorage, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use crate::error::DatabaseError;

/// Storage folder of roles (Vault's own key prefix).
pub(crate) const PREFIX: &str = "role/";
/// The stored roles.
pub(crate) const ROLES: Entries<RoleEntry> = Entries::under(PREFIX);

const KNOWN_FIELDS: &[&str] = &[
    "name",
    "db_name",
    "default_ttl",
    "max_ttl",
    "creation_statements",
    "revocation_statements",
    "rollback_statements",
    "renew_statements",
    "reassign_owned_to",
    "credential_type",
    "require_purpose",
    leasehold_backend::approval::FIELD,
];

/// One stored role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RoleEntry {
    pub db_name: String,
    /// Zero: the mount's default.
    pub default_ttl_secs: u64,
    /// Zero: the mount's max.
    pub max_ttl_secs: u64,
    pub creation_statements: Vec<String>,
    pub revocation_statements: Vec<String>,
    pub rollback_statements: Vec<String>,
    pub renew_statements: Vec<String>,
    /// Our extension: who inherits what a revoked user owns (default: the connection's user).
    pub reassign_owned_to: Option<String>,
    /// Our extension: creds requests must say why (`purpose`).
    #[serde(default)]
    pub require_purpose: bool,
    /// Our extension: creds wait for this approval tier (`approval_tier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_tier: Option<String>,
}

impl RoleEntry {
    pub(crate) fn default_ttl(&self) -> Duration {
        Duration::from_secs(self.default_ttl_secs)
    }

    pub(crate) fn max_ttl(&self) -> Duration {
        Duration::from_secs(self.max_ttl_secs)
    }

    fn apply(&mut self, fields: &Fields) -> Result<(), BackendError> {
        if let Some(v) = fields.str("db_name")? {
            self.db_name = v;
        }
        if self.db_name.is_empty() {
            return Err(DatabaseError::DatabaseNameRequired.into());
        }
        if let Some(v) = fields.duration("default_ttl")? {
            self.default_ttl_secs = v.as_secs();
        }
        if let Some(v) = fields.duration("max_ttl")? {
            self.max_ttl_secs = v.as_secs();
        }
        if self.max_ttl_secs != 0 && self.default_ttl_secs > self.max_ttl_secs {
            return Err(invalid("ttl cannot be greater than max_ttl"));
        }
        for (name, list) in [
            ("creation_statements", &mut self.creation_statements),
            ("revocation_statements", &mut self.revocation_statements),
            ("rollback_statements", &mut self.rollback_statements),
            ("renew_statements", &mut self.renew_statements),
        ] {
            if let Some(v) = fields.string_list(name)? {
                *list = v;
            }
        }
        if let Some(v) = fields.str("reassign_owned_to")? {
            self.reassign_owned_to = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        }
        if let Some(v) = fields.bool("require_purpose")? {
            self.require_purpose = v;
        }
        leasehold_backend::approval::apply(fields, &mut self.approval_tier)?;
        if let Some(v) = fields.str("credential_type")? {
            if !v.is_empty() && v != "password" {
                return Err(invalid(format!(
                    "credential_type {v:?} is not supported: only \"password\""
                )));
            }
        }
        Ok(())
    }

    fn to_read_data(&self) -> Map<String, serde_json::Value> {
        let mut data = Map::new();
        data.insert("db_name".into(), json!(self.db_name));
        data.insert(
            "creation_statements".into(),
            json!(self.creation_statements),
        );
        data.insert(
            "revocation_statements".into(),
            json!(self.revocation_statements),
        );
        data.insert(
            "rollback_statements".into(),
            json!(self.rollback_statements),
        );
        data.insert("renew_statements".into(), json!(self.renew_statements));
        data.insert("default_ttl".into(), json!(self.default_ttl_secs));
        data.insert("max_ttl".into(), json!(self.max_ttl_secs));
        data.insert("credential_type".into(), json!("password"));
        data.insert(
            "reassign_owned_to".into(),
            json!(self.reassign_owned_to.clone().unwrap_or_default()),
        );
        data.insert("require_purpose".into(), json!(self.require_purpose));
        data.insert(
            leasehold_backend::approval::FIELD.into(),
            json!(self.approval_tier.clone().unwrap_or_default()),
        );
        data
    }
}

/// The stored role `name`.
pub(crate) async fn load(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<Option<RoleEntry>, DatabaseError> {
    Ok(ROLES.load(storage, name).await?)
}

/// `POST database/roles/:name`.
pub(crate) async fn write(req: &Request, name: &str) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    if crate::static_roles::load(storage, name).await?.is_some() {
        return Err(DatabaseError::RoleNamesNotUnique.into());
    }
    let mut role = load(storage, name).await?.unwrap_or_default();
    role.apply(&req.fields)?;
    ROLES.store(storage, name, &role).await?;
    tracing::info!(role.name = %name, db.connection = %role.db_name, "wrote database role {name}");
    let unknown = req.fields.unknown(KNOWN_FIELDS);
    Ok((!unknown.is_empty()).then(|| {
        Response::default().with_warning(format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        ))
    }))
}

/// `GET database/roles/:name`.
pub(crate) async fn read(req: &Request, name: &str) -> Result<Option<Response>, BackendError> {
    let role = load(req.storage.as_ref(), name).await?;
    Ok(role.map(|r| Response::data(r.to_read_data())))
}

/// `DELETE database/roles/:name`. Leases already issued keep what they need to be revoked.
pub(crate) async fn delete(req: &Request, name: &str) -> Result<Option<Response>, BackendError> {
    ROLES.delete(req.storage.as_ref(), name).await?;
    tracing::info!(role.name = %name, "deleted database role {name}");
    Ok(None)
}

/// `LIST database/roles`.
pub(crate) async fn list(req: &Request) -> Result<Option<Response>, BackendError> {
    let keys = req.storage.list(PREFIX).await?;
    Ok(Some(list::keys(keys)))
}

fn invalid(msg: impl Into<String>) -> BackendError {
    DatabaseError::InvalidField(msg.into()).into()
}

#[cfg(test)]
mod tests {
    use crate::testing::{data, Harness};
    use leasehold_backend::{BackendError, Operation};
    use serde_json::json;

    #[tokio::test]
    async fn db_name_is_required() {
        let h = Harness::new();
        let err = h
            .write("roles/ro", json!({"creation_statements": "x"}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(err.to_string(), "database name is required");
    }

    #[tokio::test]
    async fn read_gives_arrays_and_integer_ttls() {
        let h = Harness::new();
        h.write(
            "roles/ro",
            json!({"db_name": "pg", "default_ttl": "1h", "max_ttl": 7200}),
        )
        .await
        .unwrap();
        let d = data(h.read("roles/ro").await.unwrap());
        assert_eq!(
            serde_json::Value::Object(d),
            json!({
                "db_name": "pg",
                "creation_statements": [],
                "revocation_statements": [],
                "rollback_statements": [],
                "renew_statements": [],
                "default_ttl": 3600,
                "max_ttl": 7200,
                "credential_type": "password",
                "reassign_owned_to": "",
                "require_purpose": false,
                "approval_tier": "",
            })
        );
    }

    #[tokio::test]
    async fn statements_are_kept_whole_and_updates_keep_other_fields() {
        let h = Harness::new();
        let create =
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'; GRANT x TO \"{{name}}\";";
        h.write(
            "roles/ro",
            json!({"db_name": "pg", "creation_statements": create, "default_ttl": 60}),
        )
        .await
        .unwrap();
        h.write("roles/ro", json!({"revocation_statements": ["DROP ROLE \"{{name}}\";"], "reassign_owned_to": "app_owner"}))
            .await
            .unwrap();
        let d = data(h.read("roles/ro").await.unwrap());
        assert_eq!(d["creation_statements"], json!([create]));
        assert_eq!(
            d["revocation_statements"],
            json!(["DROP ROLE \"{{name}}\";"])
        );
        assert_eq!(d["default_ttl"], 60);
        assert_eq!(d["db_name"], "pg");
        assert_eq!(d["reassign_owned_to"], "app_owner");
    }

    #[tokio::test]
    async fn bad_values_are_400s() {
        let h = Harness::new();
        for body in [
            json!({"db_name": "pg", "default_ttl": "2h", "max_ttl": "1h"}),
            json!({"db_name": "pg", "default_ttl": "soon"}),
            json!({"db_name": "pg", "credential_type": "rsa_private_key"}),
            json!({"db_name": "pg", "creation_statements": 5}),
        ] {
            let err = h.write("roles/ro", body.clone()).await.unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidRequest(_)),
                "{body}: {err:?}"
            );
        }
        let err = h
            .write(
                "roles/ro",
                json!({"db_name": "pg", "default_ttl": "2h", "max_ttl": "1h"}),
            )
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "ttl cannot be greater than max_ttl");
    }

    #[tokio::test]
    async fn list_and_delete() {
        let h = Harness::new();
        h.write("roles/a", json!({"db_name": "pg"})).await.unwrap();
        h.write("roles/b", json!({"db_name": "pg"})).await.unwrap();
        let d = data(h.call(Operation::List, "roles", json!({})).await.unwrap());
        assert_eq!(d["keys"], json!(["a", "b"]));
        h.call(Operation::Delete, "roles/a", json!({}))
            .await
            .unwrap();
        assert!(h.read("roles/a").await.unwrap().is_none());
    }
}
