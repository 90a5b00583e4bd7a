//! `database/static-roles/:name`: static roles (write, read, delete, list).
//!
//! A static role hands one existing database user to leasehold, which owns its password from
//! then on: it sets a new one when the role is created (unless `skip_import_rotation`), every
//! `rotation_period` or at the times of a `rotation_schedule` (see `schedule.rs`), and on
//! `rotate-role`. The current password is kept in the role's entry, sealed by the core like all
//! mount storage, and read through `static-creds` (see `static_creds.rs`). How a rotation
//! survives crashes is in `rotation.rs`.
//!
//! `username` and `db_name` cannot change after creation: the stored password belongs to that
//! user on that database. Fields not given on an update keep their stored values.
//!
//! Past 400 lines: the field rules (each with Vault's text) and the write's three cases
//! (update, import, create with its first rotation) read best side by side; half of the rest
//! is their tests.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use leasehold_backend::{list, BackendError, Entries, Fields, MountStorage, Request, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config;
use crate::connections::Connections;
use crate::error::DatabaseError;
use crate::roles;
use crate::rotation::{self, Failure, Rotations};
use crate::schedule::{CronSchedule, RotationPolicy};
use crate::username::is_safe_username;

/// Storage folder of static roles (Vault's own key prefix).
pub(crate) const PREFIX: &str = "static-role/";
/// The stored static roles.
pub(crate) const STATIC_ROLES: Entries<StaticRoleEntry> = Entries::under(PREFIX);

/// The shortest `rotation_period` (Vault's queue tick).
pub(crate) const MIN_ROTATION_PERIOD: Duration = Duration::from_secs(5);

const KNOWN_FIELDS: &[&str] = &[
    "name",
    "db_name",
    "username",
    "rotation_period",
    "rotation_schedule",
    "rotation_window",
    "rotation_statements",
    "credential_type",
    "skip_import_rotation",
    "self_managed_password",
];

/// One stored static role. Holds the user's current password: storage is sealed by the core.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StaticRoleEntry {
    pub db_name: String,
    pub username: String,
    /// Zero when a schedule is used.
    pub rotation_period_secs: u64,
    pub rotation_schedule: Option<String>,
    /// Empty: the driver's default (`ALTER ROLE ... WITH PASSWORD ...` on PostgreSQL).
    pub rotation_statements: Vec<String>,
    pub skip_import_rotation: bool,
    /// `None` until the first rotation of a role imported with `skip_import_rotation`.
    #[serde(with = "leasehold_backend::stored_secret::option")]
    pub password: Option<SecretString>,
    pub last_vault_rotation: Option<DateTime<Utc>>,
    pub next_vault_rotation: DateTime<Utc>,
    /// Failed rotation attempts since the last success.
    pub failed_attempts: u32,
    /// After a failure: no automatic attempt before this.
    pub retry_at: Option<DateTime<Utc>>,
}

impl Default for StaticRoleEntry {
    fn default() -> Self {
        Self {
            db_name: String::new(),
            username: String::new(),
            rotation_period_secs: 0,
            rotation_schedule: None,
            rotation_statements: Vec::new(),
            skip_import_rotation: false,
            password: None,
            last_vault_rotation: None,
            next_vault_rotation: DateTime::UNIX_EPOCH,
            failed_attempts: 0,
            retry_at: None,
        }
    }
}

impl StaticRoleEntry {
    /// When this role rotates (the stored schedule was checked when written).
    pub(crate) fn policy(&self) -> Result<RotationPolicy, DatabaseError> {
        match &self.rotation_schedule {
            Some(text) => CronSchedule::parse(text)
                .map(RotationPolicy::Schedule)
                .map_err(DatabaseError::InvalidField),
            None => Ok(RotationPolicy::Period(Duration::from_secs(
                self.rotation_period_secs,
            ))),
        }
    }

    /// Set the next rotation from a rotation (or an import) at `from`.
    pub(crate) fn reschedule(&mut self, from: DateTime<Utc>) -> Result<(), DatabaseError> {
        self.next_vault_rotation = self
            .policy()?
            .next_after(from)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok(())
    }

    /// Time for an automatic rotation: the next rotation has come and no failure backs it off.
    pub(crate) fn is_due(&self, now: DateTime<Utc>) -> bool {
        now >= self.next_vault_rotation && self.retry_at.is_none_or(|r| now >= r)
    }

    /// When automatic work on this role is next wanted.
    pub(crate) fn wake_at(&self) -> DateTime<Utc> {
        match self.retry_at {
            Some(r) if r > self.next_vault_rotation => r,
            _ => self.next_vault_rotation,
        }
    }

    /// Whole seconds until the next rotation, never negative (Vault's `ttl`).
    pub(crate) fn ttl(&self, now: DateTime<Utc>) -> i64 {
        (self.next_vault_rotation - now).num_seconds().max(0)
    }

    /// Vault's `rotation_period` / `rotation_schedule` keys of both read responses.
    pub(crate) fn insert_rotation_fields(&self, data: &mut Map<String, Value>) {
        match &self.rotation_schedule {
            Some(schedule) => {
                data.insert("rotation_schedule".into(), json!(schedule));
            }
            None => {
                data.insert("rotation_period".into(), json!(self.rotation_period_secs));
            }
        }
    }

    /// Apply the caller's fields. `creating`: the role does not exist yet.
    fn apply(
        &mut self,
        fields: &Fields,
        creating: bool,
        now: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        if let Some(v) = fields.str("db_name")? {
            if !creating && v != self.db_name {
                return Err(invalid("cannot update static account db_name"));
            }
            self.db_name = v;
        }
        if self.db_name.is_empty() {
            return Err(DatabaseError::DatabaseNameRequired.into());
        }
        if let Some(v) = fields.str("username")? {
            if !creating && v != self.username {
                return Err(invalid("cannot update static account username"));
            }
            self.username = v;
        }
        if self.username.is_empty() {
            return Err(invalid(
                "username is a required field to create a static account",
            ));
        }
        if creating && !is_safe_username(&self.username) {
            return Err(invalid(format!(
                "username {:?} cannot be managed: user names may hold only a-z, 0-9, _ and -",
                self.username
            )));
        }
        self.apply_rotation(fields, creating, now)?;
        if let Some(v) = fields.string_list("rotation_statements")? {
            self.rotation_statements = v;
        }
        if let Some(v) = fields.str("credential_type")? {
            if !v.is_empty() && v != "password" {
                return Err(invalid(format!(
                    "credential_type {v:?} is not supported: only \"password\""
                )));
            }
        }
        if fields
            .str("self_managed_password")?
            .is_some_and(|v| !v.is_empty())
        {
            return Err(invalid("self_managed_password is not supported"));
        }
        if creating {
            self.skip_import_rotation = fields.bool("skip_import_rotation")?.unwrap_or(false);
        }
        Ok(())
    }

    fn apply_rotation(
        &mut self,
        fields: &Fields,
        creating: bool,
        now: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        let period = fields.duration("rotation_period")?;
        let schedule = fields.str("rotation_schedule")?.filter(|s| !s.is_empty());
        if fields
            .duration("rotation_window")?
            .is_some_and(|w| !w.is_zero())
        {
            return Err(invalid(
                "rotation_window is not supported: a scheduled rotation happens at its time, or as soon as possible after it",
            ));
        }
        match (period, schedule) {
            (Some(_), Some(_)) => Err(invalid(
                "mutually exclusive fields rotation_period and rotation_schedule were both specified; only one of them can be provided",
            )),
            (Some(p), None) => {
                if p < MIN_ROTATION_PERIOD {
                    return Err(invalid("rotation_period must be 5 seconds or more"));
                }
                self.rotation_period_secs = p.as_secs();
                self.rotation_schedule = None;
                Ok(())
            }
            (None, Some(s)) => {
                let cron = CronSchedule::parse(&s).map_err(invalid)?;
                if cron.next_after(now).is_none() {
                    return Err(invalid(format!(
                        "rotation_schedule {s:?} never matches a date in the next five years"
                    )));
                }
                self.rotation_schedule = Some(s);
                self.rotation_period_secs = 0;
                Ok(())
            }
            (None, None) if creating => Err(invalid(
                "one of rotation_schedule or rotation_period must be provided to create a static account",
            )),
            (None, None) => Ok(()),
        }
    }

    /// Vault's read shape; never the password.
    fn to_read_data(&self, now: DateTime<Utc>) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert("db_name".into(), json!(self.db_name));
        data.insert("username".into(), json!(self.username));
        data.insert(
            "rotation_statements".into(),
            json!(self.rotation_statements),
        );
        data.insert("credential_type".into(), json!("password"));
        self.insert_rotation_fields(&mut data);
        if self.rotation_schedule.is_some() {
            data.insert("rotation_period".into(), json!(0));
        }
        if let Some(last) = self.last_vault_rotation {
            data.insert("last_vault_rotation".into(), json!(rfc3339(last)));
        }
        data.insert(
            "next_vault_rotation".into(),
            json!(rfc3339(self.next_vault_rotation)),
        );
        data.insert("ttl".into(), json!(self.ttl(now)));
        data.insert(
            "skip_import_rotation".into(),
            json!(self.skip_import_rotation),
        );
        data
    }
}

/// A time as Vault writes it (RFC 3339, `Z`, fraction only when there is one).
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The stored static role `name`.
pub(crate) async fn load(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<Option<StaticRoleEntry>, DatabaseError> {
    Ok(STATIC_ROLES.load(storage, name).await?)
}

/// The user names of every static role of the mount: users the mount manages but never
/// created, which reconciliation must never take for orphans.
pub(crate) async fn usernames(storage: &dyn MountStorage) -> Result<Vec<String>, DatabaseError> {
    let mut names = Vec::new();
    for role in storage.list(PREFIX).await? {
        if let Some(entry) = load(storage, &role).await? {
            names.push(entry.username);
        }
    }
    Ok(names)
}

/// Store static role `name`.
pub(crate) async fn store(
    storage: &dyn MountStorage,
    name: &str,
    role: &StaticRoleEntry,
) -> Result<(), DatabaseError> {
    Ok(STATIC_ROLES.store(storage, name, role).await?)
}

/// The stored static role `name`, or the 400 static-role paths answer for a missing one.
pub(crate) async fn load_existing(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<StaticRoleEntry, DatabaseError> {
    load(storage, name)
        .await?
        .ok_or_else(|| DatabaseError::UnknownStaticRole {
            role: name.to_owned(),
        })
}

/// The connection must exist, admit the role, and not be the role's own user.
async fn check_connection(
    storage: &dyn MountStorage,
    name: &str,
    role: &StaticRoleEntry,
) -> Result<(), DatabaseError> {
    let conn = config::load(storage, &role.db_name).await?.ok_or_else(|| {
        DatabaseError::ConnectionNotFound {
            name: role.db_name.clone(),
        }
    })?;
    if !conn.allows_role(name) {
        return Err(DatabaseError::RoleNotAllowed {
            role: name.to_owned(),
        });
    }
    if conn.username.as_deref() == Some(role.username.as_str()) {
        return Err(DatabaseError::InvalidField(format!(
            "username {:?} is connection {:?}'s own user: rotate it with database/rotate-root/{}",
            role.username, role.db_name, role.db_name
        )));
    }
    Ok(())
}

/// `POST database/static-roles/:name`. Creating rotates the password at once (write-ahead,
/// `rotation.rs`) unless `skip_import_rotation`; if that rotation fails with the old password
/// still in place, the role is not created.
#[tracing::instrument(skip_all, fields(role.name = %name))]
pub(crate) async fn write(
    rotations: &Rotations,
    connections: &Connections,
    req: &Request,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = rotations.lock(storage).await?;
    if roles::load(storage, name).await?.is_some() {
        return Err(DatabaseError::RoleNamesNotUnique.into());
    }
    let existing = load(storage, name).await?;
    let creating = existing.is_none();
    let mut role = existing.unwrap_or_default();
    let before = role.policy().ok();
    role.apply(&req.fields, creating, now)?;
    check_connection(storage, name, &role).await?;

    if !creating {
        if role.policy().ok() != before {
            role.reschedule(role.last_vault_rotation.unwrap_or(now))?;
        }
        store(storage, name, &role).await?;
        tracing::info!(db.connection = %role.db_name, "updated static role {name}");
    } else if role.skip_import_rotation {
        role.reschedule(now)?;
        store(storage, name, &role).await?;
        tracing::info!(db.connection = %role.db_name, db.user = %role.username,
            "imported static role {name} without rotating {}", role.username);
    } else {
        // Stored first so that a crash during the first rotation leaves a role whose pending
        // password the next start applies, like any other rotation.
        role.next_vault_rotation = now;
        store(storage, name, &role).await?;
        match rotation::rotate(connections, storage, name, role.clone(), now).await {
            Ok(_) => {}
            Err(Failure::NotApplied(e)) => {
                STATIC_ROLES.delete(storage, name).await?;
                return Err(e.into());
            }
            Err(Failure::Pending(e)) => {
                rotation::record_failure(storage, name, role, now, &e).await;
                return Err(e.into());
            }
        }
    }
    let unknown = req.fields.unknown(KNOWN_FIELDS);
    Ok((!unknown.is_empty()).then(|| {
        Response::default().with_warning(format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        ))
    }))
}

/// `GET database/static-roles/:name`.
pub(crate) async fn read(
    req: &Request,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Response>, BackendError> {
    let role = load(req.storage.as_ref(), name).await?;
    Ok(role.map(|r| Response::data(r.to_read_data(now))))
}

/// `DELETE database/static-roles/:name`. The user keeps its current password; leasehold just
/// stops managing it (as Vault).
pub(crate) async fn delete(
    rotations: &Rotations,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = rotations.lock(storage).await?;
    STATIC_ROLES.delete(storage, name).await?;
    rotation::drop_pending(storage, name).await?;
    tracing::info!(role.name = %name, "deleted static role {name}");
    Ok(None)
}

/// `LIST database/static-roles`.
pub(crate) async fn list(req: &Request) -> Result<Option<Response>, BackendError> {
    let keys = STATIC_ROLES.names(req.storage.as_ref()).await?;
    Ok(Some(list::keys(keys)))
}

fn invalid(msg: impl Into<String>) -> BackendError {
    DatabaseError::InvalidField(msg.into()).into()
}

#[cfg(test)]
mod tests {
    use crate::testing::{data, Harness, APP_PASSWORD};
    use leasehold_backend::{Backend, BackendError, Operation};
    use serde_json::{json, Value};

    fn app(extra: Value) -> Value {
        let mut body = json!({
            "db_name": "pg",
            "username": "app",
            "rotation_period": 3600,
            "rotation_statements": ["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"],
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }

    #[tokio::test]
    async fn create_rotates_at_once_and_reads_back_in_vaults_shape() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        assert!(h
            .write("static-roles/app", app(json!({})))
            .await
            .unwrap()
            .is_none());

        let new_password = h.db_password("app");
        assert_ne!(new_password, APP_PASSWORD, "create did not rotate");
        assert_eq!(
            h.state.lock().unwrap().calls.last().unwrap(),
            "update_password app [\"ALTER ROLE \\\"{{name}}\\\" WITH PASSWORD '{{password}}';\"]"
        );
        let d = data(h.read("static-roles/app").await.unwrap());
        assert_eq!(
            Value::Object(d),
            json!({
                "db_name": "pg",
                "username": "app",
                "rotation_statements": ["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"],
                "credential_type": "password",
                "rotation_period": 3600,
                "last_vault_rotation": "2024-05-01T10:00:00Z",
                "next_vault_rotation": "2024-05-01T11:00:00Z",
                "ttl": 3600,
                "skip_import_rotation": false,
            })
        );
        let dump = h.storage.dump();
        assert!(!dump.contains("pending-rotation/"), "{dump}");
        let list = data(
            h.call(Operation::List, "static-roles", json!({}))
                .await
                .unwrap(),
        );
        assert_eq!(list["keys"], json!(["app"]));
    }

    #[tokio::test]
    async fn bad_writes_are_400s_that_store_and_change_nothing() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write(
            "config/narrow",
            json!({"plugin_name": crate::testing::PLUGIN, "connection_url": "fake://{{username}}:{{password}}@db",
                   "username": "admin", "password": crate::testing::ROOT_PASSWORD, "allowed_roles": "other"}),
        )
        .await
        .unwrap();
        for (body, text) in [
            (json!({"username": "app", "rotation_period": 60}), "database name is required"),
            (json!({"db_name": "pg", "rotation_period": 60}), "username is a required field to create a static account"),
            (json!({"db_name": "pg", "username": "app"}), "one of rotation_schedule or rotation_period must be provided to create a static account"),
            (app(json!({"rotation_schedule": "@daily"})), "mutually exclusive fields rotation_period and rotation_schedule were both specified; only one of them can be provided"),
            (app(json!({"rotation_period": 4})), "rotation_period must be 5 seconds or more"),
            (app(json!({"rotation_period": "4s"})), "rotation_period must be 5 seconds or more"),
            (app(json!({"credential_type": "rsa_private_key"})), "credential_type \"rsa_private_key\" is not supported: only \"password\""),
            (app(json!({"rotation_window": "1h"})), "rotation_window is not supported"),
            (app(json!({"self_managed_password": "x"})), "self_managed_password is not supported"),
            (app(json!({"username": "App"})), "username \"App\" cannot be managed"),
            (app(json!({"username": "admin"})), "connection \"pg\"'s own user: rotate it with database/rotate-root/pg"),
            (app(json!({"db_name": "nope"})), "failed to find entry for connection with name: \"nope\""),
            (app(json!({"db_name": "narrow"})), "\"app\" is not an allowed role"),
        ] {
            let err = h.write("static-roles/app", body.clone()).await.unwrap_err();
            assert!(matches!(err, BackendError::InvalidRequest(_)), "{body}: {err:?}");
            assert!(err.to_string().contains(text), "{body}: {err}");
        }
        for (schedule, text) in [
            ("* * * *", "five fields"),
            ("61 * * * *", "minute"),
            ("0 0 31 2 *", "never matches"),
        ] {
            let mut body = app(json!({"rotation_schedule": schedule}));
            body.as_object_mut().unwrap().remove("rotation_period");
            let err = h.write("static-roles/app", body).await.unwrap_err();
            assert!(err.to_string().contains(text), "{schedule}: {err}");
        }
        assert!(h.read("static-roles/app").await.unwrap().is_none());
        assert_eq!(h.password_changes(), 0);
        assert_eq!(h.db_password("app"), APP_PASSWORD);
    }

    #[tokio::test]
    async fn username_and_db_name_are_immutable_and_updates_do_not_rotate() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write("static-roles/app", app(json!({}))).await.unwrap();
        let password = h.db_password("app");

        let err = h
            .write("static-roles/app", json!({"username": "other"}))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(err.to_string(), "cannot update static account username");
        let err = h
            .write("static-roles/app", json!({"db_name": "elsewhere"}))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "cannot update static account db_name");

        // The same username is fine; a new period counts from the last rotation.
        h.advance(600);
        h.write(
            "static-roles/app",
            json!({"username": "app", "rotation_period": "2h", "rotation_statements": []}),
        )
        .await
        .unwrap();
        let d = data(h.read("static-roles/app").await.unwrap());
        assert_eq!(d["rotation_period"], 7200);
        assert_eq!(d["ttl"], 7200 - 600);
        assert_eq!(d["rotation_statements"], json!([]));
        assert_eq!(d["last_vault_rotation"], "2024-05-01T10:00:00Z");
        // Switching to a schedule: next rotation at the top of the hour (10:10 now).
        h.write(
            "static-roles/app",
            json!({"rotation_schedule": "0 * * * *"}),
        )
        .await
        .unwrap();
        let d = data(h.read("static-roles/app").await.unwrap());
        assert_eq!(d["rotation_schedule"], "0 * * * *");
        assert_eq!(d["rotation_period"], 0);
        assert_eq!(d["next_vault_rotation"], "2024-05-01T11:00:00Z");
        assert_eq!(d["ttl"], 3000);
        assert_eq!(h.db_password("app"), password, "updates must not rotate");
        assert_eq!(h.password_changes(), 1);
    }

    #[tokio::test]
    async fn dynamic_and_static_roles_cannot_share_a_name() {
        let h = Harness::new();
        h.with_connection_and_role().await; // dynamic role "ro"
        h.state
            .lock()
            .unwrap()
            .users
            .insert("ro".into(), "x-Password-1".into());
        let err = h
            .write(
                "static-roles/ro",
                json!({"db_name": "pg", "username": "ro", "rotation_period": 60}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(err.to_string(), "Role and Static Role names must be unique");

        h.state
            .lock()
            .unwrap()
            .users
            .insert("app".into(), APP_PASSWORD.into());
        h.write("static-roles/app", app(json!({}))).await.unwrap();
        let err = h
            .write(
                "roles/app",
                json!({"db_name": "pg", "creation_statements": "x"}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert_eq!(err.to_string(), "Role and Static Role names must be unique");
        assert!(h.read("roles/app").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn skip_import_rotation_leaves_the_password_until_the_first_rotation() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write(
            "static-roles/app",
            app(json!({"skip_import_rotation": true, "rotation_period": 60})),
        )
        .await
        .unwrap();
        assert_eq!(h.db_password("app"), APP_PASSWORD);
        assert_eq!(h.password_changes(), 0);
        let err = h.read("static-creds/app").await.unwrap_err();
        assert!(matches!(err, BackendError::InvalidRequest(_)));
        assert!(err.to_string().contains("has no password yet"), "{err}");
        assert!(err.to_string().contains("2024-05-01T10:01:00Z"), "{err}");
        // Once it is due, a read rotates first.
        h.advance(60);
        let d = data(h.read("static-creds/app").await.unwrap());
        assert_eq!(d["password"], json!(h.db_password("app")));
        assert_ne!(h.db_password("app"), APP_PASSWORD);
    }

    #[tokio::test]
    async fn a_refused_first_rotation_creates_nothing() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.state.lock().unwrap().fail_update_password =
            Some(crate::testing::PasswordFailure::Rejected);
        let err = h
            .write("static-roles/app", app(json!({})))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Target(_)), "{err:?}");
        assert_eq!(err.to_string(), "syntax error at or near \"[REDACTED]\"");
        assert!(h.read("static-roles/app").await.unwrap().is_none());
        assert!(!h.storage.dump().contains("pending-rotation/"));
        assert_eq!(h.db_password("app"), APP_PASSWORD);
    }

    #[tokio::test]
    async fn delete_forgets_the_role_and_leaves_the_user_alone() {
        let h = Harness::new();
        h.with_connection_and_app_user().await;
        h.write("static-roles/app", app(json!({}))).await.unwrap();
        let password = h.db_password("app");
        let req = h.request(Operation::Update, "static-roles/app", json!({}));
        assert_eq!(h.backend.exists(&req).await.unwrap(), Some(true));
        h.call(Operation::Delete, "static-roles/app", json!({}))
            .await
            .unwrap();
        assert_eq!(h.backend.exists(&req).await.unwrap(), Some(false));
        assert!(h.read("static-roles/app").await.unwrap().is_none());
        assert_eq!(h.db_password("app"), password);
        let err = h.read("static-creds/app").await.unwrap_err();
        assert_eq!(err.to_string(), "unknown role: app");
        assert!(!h.storage.dump().contains("static-role/app"));
    }
}
