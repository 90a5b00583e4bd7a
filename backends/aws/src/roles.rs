//! The `roles/` paths: what kind of credential a role issues and with which permissions.
//!
//! A write merges the given fields over the stored role (Vault's behaviour for this engine), then
//! validates the whole role and reports every problem at once, each naming its field (the
//! `validate` submodule holds those rules). A role is stored at `role/<name>` as a typed `Role`.

use std::collections::BTreeMap;

use leasehold_backend::{list, name, Entries, MountStorage, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::AwsError;

use validate::merge;

mod validate;

/// Storage prefix of roles.
const ROLE_PREFIX: &str = "role/";
/// The stored roles.
const ROLES: Entries<Role> = Entries::under(ROLE_PREFIX);

/// Fields `roles/:name` accepts.
pub(crate) const ROLE_FIELDS: &[&str] = &[
    "credential_type",
    "policy_arns",
    "policy_document",
    "iam_groups",
    "iam_tags",
    "user_path",
    "permissions_boundary_arn",
    "role_arns",
    "session_tags",
    "external_id",
    "mfa_serial_number",
    "require_purpose",
    leasehold_backend::approval::FIELD,
    "default_sts_ttl",
    "max_sts_ttl",
    // Vault's legacy fields: accepted only to be refused with a pointer to their replacements.
    "policy",
    "arn",
];

/// What a role issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialType {
    /// A new IAM user with an access key, deleted at revocation.
    IamUser,
    /// `sts:AssumeRole` credentials for one of the role's `role_arns`.
    AssumedRole,
    /// `sts:GetFederationToken` credentials, limited by the role's policies.
    FederationToken,
    /// `sts:GetSessionToken` credentials of the root identity.
    SessionToken,
}

impl CredentialType {
    /// The wire name (`iam_user`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IamUser => "iam_user",
            Self::AssumedRole => "assumed_role",
            Self::FederationToken => "federation_token",
            Self::SessionToken => "session_token",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::IamUser,
            Self::AssumedRole,
            Self::FederationToken,
            Self::SessionToken,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A stored role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Role {
    pub credential_type: CredentialType,
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// Compacted JSON; empty for none.
    #[serde(default)]
    pub policy_document: String,
    #[serde(default)]
    pub iam_groups: Vec<String>,
    #[serde(default)]
    pub iam_tags: BTreeMap<String, String>,
    #[serde(default = "default_user_path")]
    pub user_path: String,
    #[serde(default)]
    pub permissions_boundary_arn: String,
    #[serde(default)]
    pub role_arns: Vec<String>,
    #[serde(default)]
    pub session_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub external_id: String,
    #[serde(default)]
    pub mfa_serial_number: String,
    /// Seconds; zero means 3600 at issue.
    #[serde(default)]
    pub default_sts_ttl: u64,
    /// Seconds; zero means no role cap.
    #[serde(default)]
    pub max_sts_ttl: u64,
    /// Our extension: creds requests must say why (`purpose`).
    #[serde(default)]
    pub require_purpose: bool,
    /// Our extension: creds wait for this approval tier (`approval_tier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_tier: Option<String>,
}

fn default_user_path() -> String {
    "/".to_owned()
}

impl Role {
    fn new(credential_type: CredentialType) -> Self {
        Self {
            credential_type,
            policy_arns: Vec::new(),
            policy_document: String::new(),
            iam_groups: Vec::new(),
            iam_tags: BTreeMap::new(),
            user_path: default_user_path(),
            permissions_boundary_arn: String::new(),
            role_arns: Vec::new(),
            session_tags: BTreeMap::new(),
            external_id: String::new(),
            mfa_serial_number: String::new(),
            default_sts_ttl: 0,
            max_sts_ttl: 0,
            require_purpose: false,
            approval_tier: None,
        }
    }

    /// The `data` of a read, in Vault's shape.
    fn to_data(&self) -> Map<String, Value> {
        let pairs = [
            ("credential_type", json!(self.credential_type.as_str())),
            ("policy_arns", json!(self.policy_arns)),
            ("policy_document", json!(self.policy_document)),
            ("iam_groups", json!(self.iam_groups)),
            ("iam_tags", json!(self.iam_tags)),
            ("user_path", json!(self.user_path)),
            (
                "permissions_boundary_arn",
                json!(self.permissions_boundary_arn),
            ),
            ("role_arns", json!(self.role_arns)),
            ("session_tags", json!(self.session_tags)),
            ("external_id", json!(self.external_id)),
            ("mfa_serial_number", json!(self.mfa_serial_number)),
            ("default_sts_ttl", json!(self.default_sts_ttl)),
            ("max_sts_ttl", json!(self.max_sts_ttl)),
            ("require_purpose", json!(self.require_purpose)),
            (
                leasehold_backend::approval::FIELD,
                json!(self.approval_tier.clone().unwrap_or_default()),
            ),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// Longest role name: it also names the role's IAM inline policy, which IAM caps at 128.
const MAX_ROLE_NAME: usize = 128;

/// A role name: the SDK's name rule, and short enough to name an IAM inline policy.
pub(crate) fn check_role_name(role: &str) -> Result<(), AwsError> {
    name::check(role).map_err(|e| AwsError::field("name", e.to_string()))?;
    if role.len() > MAX_ROLE_NAME {
        return Err(AwsError::field(
            "name",
            format!("a role name is at most {MAX_ROLE_NAME} characters (IAM's policy name limit)"),
        ));
    }
    Ok(())
}

/// The stored role `name`, if any.
pub(crate) async fn load(storage: &dyn MountStorage, name: &str) -> Result<Option<Role>, AwsError> {
    Ok(ROLES.load(storage, name).await?)
}

/// `GET roles/:name`.
pub(crate) async fn read(req: &Request, name: &str) -> Result<Option<Response>, AwsError> {
    Ok(load(req.storage.as_ref(), name)
        .await?
        .map(|r| Response::data(r.to_data())))
}

/// `LIST roles`.
pub(crate) async fn list(req: &Request) -> Result<Option<Response>, AwsError> {
    let keys = req.storage.list(ROLE_PREFIX).await?;
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(Some(list::keys(keys)))
}

/// `DELETE roles/:name`. Leases already issued keep what they need in their own data.
pub(crate) async fn delete(req: &Request, name: &str) -> Result<(), AwsError> {
    ROLES.delete(req.storage.as_ref(), name).await?;
    Ok(())
}

/// `POST roles/:name`.
pub(crate) async fn write(req: &Request, name: &str) -> Result<(), AwsError> {
    check_role_name(name)?;
    let existing = load(req.storage.as_ref(), name).await?;
    let role = merge(existing, &req.fields)?;
    ROLES.store(req.storage.as_ref(), name, &role).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert!(check_role_name("deploy-1.ci_x").is_ok());
        assert!(check_role_name("a/b").is_err());
        assert!(check_role_name("").is_err());
    }
}
