//! The `roles/` paths: which management tags a credential's user gets and what it may do in
//! which vhosts.
//!
//! As in Vault, a write replaces the role's `tags`, `vhosts` and `vhost_topics` (an absent one
//! becomes empty) and at least one must be given. `vhosts` is a JSON object, sent as a string by
//! Vault's clients (`{"/": {"configure": ".*", "write": ".*", "read": ".*"}}`); an object is
//! taken too. Unlike Vault, a key inside it that is not a permission (`"wrte"`) is refused
//! with a 400 naming it rather than silently dropped: a typo must not quietly grant less, or
//! more, than the operator believes. Our own fields (`require_purpose`, `approval_tier`) keep
//! their stored value when a write leaves them out, so a client that knows only Vault's fields
//! cannot drop an approval requirement by rewriting a role.

use std::collections::BTreeMap;

use leasehold_backend::{approval, list, name, Entries, Fields, MountStorage, Request, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{from_field, RabbitMqError};

/// The stored roles.
const ROLES: Entries<Role> = Entries::under("role/");

/// Fields `roles/:name` accepts.
pub(crate) const ROLE_FIELDS: &[&str] = &[
    "tags",
    "vhosts",
    "vhost_topics",
    "require_purpose",
    approval::FIELD,
];

/// Permissions in one vhost: regular expressions over resource names, as the broker takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VhostPermission {
    /// Declare and delete queues and exchanges.
    #[serde(default)]
    pub configure: String,
    /// Publish.
    #[serde(default)]
    pub write: String,
    /// Consume.
    #[serde(default)]
    pub read: String,
}

/// Topic permissions on one exchange: regular expressions over routing keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicPermission {
    /// Publish with a matching routing key.
    #[serde(default)]
    pub write: String,
    /// Bind with a matching routing key.
    #[serde(default)]
    pub read: String,
}

/// Topic permissions of a role: vhost → exchange → permission.
pub type VhostTopics = BTreeMap<String, BTreeMap<String, TopicPermission>>;

/// A stored role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Role {
    /// Management tags (`management`, `monitoring`, `administrator`...).
    #[serde(default)]
    pub tags: Vec<String>,
    /// vhost → permissions.
    #[serde(default)]
    pub vhosts: BTreeMap<String, VhostPermission>,
    /// vhost → exchange → topic permissions.
    #[serde(default)]
    pub vhost_topics: VhostTopics,
    /// Our extension: creds requests must say why (`purpose`).
    #[serde(default)]
    pub require_purpose: bool,
    /// Our extension: creds wait for this approval tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_tier: Option<String>,
}

impl Role {
    /// The `data` of a read, in Vault's shape (`tags` a comma string).
    fn to_data(&self) -> Map<String, Value> {
        let pairs = [
            ("tags", json!(self.tags.join(","))),
            ("vhosts", json!(self.vhosts)),
            ("vhost_topics", json!(self.vhost_topics)),
            ("require_purpose", json!(self.require_purpose)),
            (
                approval::FIELD,
                json!(self.approval_tier.clone().unwrap_or_default()),
            ),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// The stored role `name`, if any.
pub(crate) async fn load(
    storage: &dyn MountStorage,
    name: &str,
) -> Result<Option<Role>, RabbitMqError> {
    Ok(ROLES.load(storage, name).await?)
}

/// `GET roles/:name`.
pub(crate) async fn read(req: &Request, name: &str) -> Result<Option<Response>, RabbitMqError> {
    Ok(load(req.storage.as_ref(), name)
        .await?
        .map(|r| Response::data(r.to_data())))
}

/// `LIST roles`.
pub(crate) async fn list(req: &Request) -> Result<Option<Response>, RabbitMqError> {
    let keys = ROLES.names(req.storage.as_ref()).await?;
    Ok((!keys.is_empty()).then(|| list::keys(keys)))
}

/// `DELETE roles/:name`. Issued credentials keep what revoking them needs in their own lease.
pub(crate) async fn delete(req: &Request, name: &str) -> Result<(), RabbitMqError> {
    ROLES.delete(req.storage.as_ref(), name).await?;
    Ok(())
}

/// `POST roles/:name`.
pub(crate) async fn write(req: &Request, role_name: &str) -> Result<(), RabbitMqError> {
    name::check(role_name).map_err(|e| RabbitMqError::field("name", e.to_string()))?;
    let storage = req.storage.as_ref();
    let stored = load(storage, role_name).await?.unwrap_or_default();
    let role = parse(&req.fields, stored)?;
    ROLES.store(storage, role_name, &role).await?;
    Ok(())
}

/// The role `fields` describe, keeping `stored`'s extension fields they leave out.
fn parse(fields: &Fields, stored: Role) -> Result<Role, RabbitMqError> {
    let mut role = Role {
        tags: fields
            .comma_list("tags")
            .map_err(from_field)?
            .unwrap_or_default(),
        vhosts: json_field(fields, "vhosts")?,
        vhost_topics: json_field(fields, "vhost_topics")?,
        require_purpose: stored.require_purpose,
        approval_tier: stored.approval_tier,
    };
    if role.tags.is_empty() && role.vhosts.is_empty() && role.vhost_topics.is_empty() {
        return Err(RabbitMqError::field(
            "vhosts",
            "a role needs tags, vhosts or vhost_topics",
        ));
    }
    for (field, empty) in [
        ("vhosts", role.vhosts.keys().any(String::is_empty)),
        (
            "vhost_topics",
            role.vhost_topics
                .iter()
                .any(|(v, exchanges)| v.is_empty() || exchanges.keys().any(String::is_empty)),
        ),
    ] {
        if empty {
            return Err(RabbitMqError::field(
                field,
                "vhost and exchange names must not be empty",
            ));
        }
    }
    if let Some(v) = fields.bool("require_purpose").map_err(from_field)? {
        role.require_purpose = v;
    }
    approval::apply(fields, &mut role.approval_tier).map_err(from_field)?;
    Ok(role)
}

/// A JSON-object field given as a string holding JSON (Vault's clients) or as an object; absent
/// or `""` is empty. Unknown keys inside are refused (`deny_unknown_fields`), naming the field.
fn json_field<T: DeserializeOwned + Default>(
    fields: &Fields,
    field: &'static str,
) -> Result<T, RabbitMqError> {
    let value = match fields.raw(field) {
        None => return Ok(T::default()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(T::default()),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .map_err(|e| RabbitMqError::field(field, format!("not valid JSON: {e}")))?,
        Some(v) => v.clone(),
    };
    serde_json::from_value(value).map_err(|e| RabbitMqError::field(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Fields {
        Fields::new(v.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn vault_shaped_role() {
        let role = parse(
            &fields(json!({
                "tags": "management,monitoring",
                "vhosts": "{\"/\": {\"configure\": \"^q\\\\.\", \"write\": \".*\", \"read\": \".*\"}}",
                "vhost_topics": "{\"/\": {\"amq.topic\": {\"write\": \"^a\\\\.\", \"read\": \".*\"}}}",
            })),
            Role::default(),
        )
        .unwrap();
        assert_eq!(role.tags, vec!["management", "monitoring"]);
        assert_eq!(role.vhosts["/"].configure, "^q\\.");
        assert_eq!(role.vhost_topics["/"]["amq.topic"].write, "^a\\.");
        let data = role.to_data();
        assert_eq!(data["tags"], "management,monitoring");
        assert_eq!(data["vhosts"]["/"]["read"], ".*");
    }

    #[test]
    fn a_misspelt_permission_is_refused_naming_it() {
        for (field, value) in [
            ("vhosts", json!("{\"/\": {\"wrte\": \".*\"}}")),
            ("vhosts", json!({"/": {"configure": ".*", "admin": true}})),
            (
                "vhost_topics",
                json!("{\"/\": {\"amq.topic\": {\"configure\": \".*\"}}}"),
            ),
        ] {
            let err = parse(&fields(json!({ field: value })), Role::default())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("{field}: ")), "{err}");
            assert!(err.contains("unknown field"), "{err}");
        }
    }

    #[test]
    fn empty_and_malformed_roles_are_refused() {
        let empty = parse(
            &fields(json!({"tags": "", "vhosts": "", "vhost_topics": ""})),
            Role::default(),
        );
        assert!(empty.is_err());
        let bad = parse(&fields(json!({"vhosts": "{not json"})), Role::default())
            .unwrap_err()
            .to_string();
        assert!(bad.starts_with("vhosts: not valid JSON"), "{bad}");
        assert!(parse(&fields(json!({"vhosts": {"": {}}})), Role::default()).is_err());
    }

    #[test]
    fn our_fields_survive_a_vault_shaped_rewrite() {
        let first = parse(
            &fields(
                json!({"tags": "management", "approval_tier": "human", "require_purpose": true}),
            ),
            Role::default(),
        )
        .unwrap();
        let rewritten = parse(&fields(json!({"tags": "monitoring"})), first).unwrap();
        assert_eq!(rewritten.approval_tier.as_deref(), Some("human"));
        assert!(rewritten.require_purpose);
        assert_eq!(rewritten.tags, vec!["monitoring"]);
    }
}
