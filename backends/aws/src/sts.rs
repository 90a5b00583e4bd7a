//! STS credentials: `assumed_role` (`sts:AssumeRole`), `federation_token`
//! (`sts:GetFederationToken`) and `session_token` (`sts:GetSessionToken`).
//!
//! STS credentials cannot be revoked: they stay valid until AWS's own expiry, which is set from the
//! lease's TTL when they are made. Their leases are therefore not renewable and their revoke is a
//! no-op. With `iam_groups`, the groups' inline policies are merged into the session policy and
//! their managed policies added to the policy ARNs, as Vault does.

use std::collections::BTreeMap;

use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use leasehold_backend::Credentials;
use percent_encoding::percent_decode_str;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::client::AwsClients;
use crate::error::AwsError;
use crate::roles::CredentialType;

/// The shortest lifetime STS grants.
pub(crate) const MIN_STS_SECS: u64 = 900;
/// Default lifetime when neither the caller nor the role says.
pub(crate) const DEFAULT_STS_SECS: u64 = 3600;

/// Everything needed to make the STS credential, decided at plan time and stored on the lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StsPlan {
    /// Which STS call.
    pub credential_type: CredentialType,
    /// Requested lifetime in seconds.
    pub duration_secs: u64,
    /// assumed_role: the role to assume.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// assumed_role: the session name; federation_token: the federated user's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Session policy document (compacted JSON).
    #[serde(default)]
    pub policy_document: Option<String>,
    /// Session policy ARNs.
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// Groups whose policies join the session policy.
    #[serde(default)]
    pub groups: Vec<String>,
    /// assumed_role: session tags.
    #[serde(default)]
    pub session_tags: BTreeMap<String, String>,
    /// assumed_role: external id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// session_token: MFA device serial and the one-time code given with the request. The
    /// code is single-use and worthless once the call is made.
    #[serde(default)]
    pub mfa_serial_number: Option<String>,
    /// See `mfa_serial_number`.
    #[serde(default)]
    pub mfa_code: Option<String>,
}

/// The credential STS returned, ready for the response.
struct Issued {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    arn: Option<String>,
}

/// Make the STS credential of `plan`, lasting `duration_secs` (already fitted to the lease).
pub(crate) async fn create(
    clients: &AwsClients,
    plan: &StsPlan,
    duration_secs: u64,
) -> Result<Credentials, AwsError> {
    let duration = i32::try_from(duration_secs.max(MIN_STS_SECS)).unwrap_or(i32::MAX);
    let issued = match plan.credential_type {
        CredentialType::AssumedRole => assume_role(clients, plan, duration).await?,
        CredentialType::FederationToken => federation_token(clients, plan, duration).await?,
        CredentialType::SessionToken => session_token(clients, plan, duration).await?,
        CredentialType::IamUser => {
            return Err(AwsError::Internal("iam_user plan handed to STS".into()))
        }
    };
    tracing::info!(
        aws.credential_type = plan.credential_type.as_str(),
        "issued {} credentials lasting {duration}s",
        plan.credential_type.as_str()
    );
    let mut data = Map::new();
    data.insert("access_key".into(), json!(issued.access_key_id));
    data.insert("arn".into(), issued.arn.map_or(Value::Null, Value::String));
    let token = issued.session_token;
    Ok(Credentials {
        data,
        secrets: vec![
            (
                "secret_key".into(),
                SecretString::from(issued.secret_access_key),
            ),
            ("security_token".into(), SecretString::from(token.clone())),
            ("session_token".into(), SecretString::from(token)),
        ],
        internal: None,
    })
}

async fn assume_role(
    clients: &AwsClients,
    plan: &StsPlan,
    duration: i32,
) -> Result<Issued, AwsError> {
    let (policy, policy_arns) = session_policy(clients, plan).await?;
    let tags = plan
        .session_tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::field("session_tags", e.to_string()))?;
    let out = clients
        .sts
        .assume_role()
        .set_role_arn(plan.role_arn.clone())
        .set_role_session_name(plan.name.clone())
        .duration_seconds(duration)
        .set_policy(policy)
        .set_policy_arns(policy_arns)
        .set_tags((!tags.is_empty()).then_some(tags))
        .set_external_id(plan.external_id.clone())
        .send()
        .await
        .map_err(|e| clients.failure("sts:AssumeRole", &e))?;
    let creds = out
        .credentials()
        .ok_or_else(|| AwsError::Internal("sts:AssumeRole answered without credentials".into()))?;
    Ok(Issued {
        access_key_id: creds.access_key_id().to_owned(),
        secret_access_key: creds.secret_access_key().to_owned(),
        session_token: creds.session_token().to_owned(),
        arn: out.assumed_role_user().map(|u| u.arn().to_owned()),
    })
}

async fn federation_token(
    clients: &AwsClients,
    plan: &StsPlan,
    duration: i32,
) -> Result<Issued, AwsError> {
    let (policy, policy_arns) = session_policy(clients, plan).await?;
    if policy.is_none() && policy_arns.is_none() {
        return Err(AwsError::BadRequest(
            "a federation_token role needs policy_arns, policy_document or iam_groups with policies"
                .into(),
        ));
    }
    let out = clients
        .sts
        .get_federation_token()
        .set_name(plan.name.clone())
        .duration_seconds(duration)
        .set_policy(policy)
        .set_policy_arns(policy_arns)
        .send()
        .await
        .map_err(|e| clients.failure("sts:GetFederationToken", &e))?;
    let creds = out.credentials().ok_or_else(|| {
        AwsError::Internal("sts:GetFederationToken answered without credentials".into())
    })?;
    Ok(Issued {
        access_key_id: creds.access_key_id().to_owned(),
        secret_access_key: creds.secret_access_key().to_owned(),
        session_token: creds.session_token().to_owned(),
        arn: out.federated_user().map(|u| u.arn().to_owned()),
    })
}

async fn session_token(
    clients: &AwsClients,
    plan: &StsPlan,
    duration: i32,
) -> Result<Issued, AwsError> {
    let out = clients
        .sts
        .get_session_token()
        .duration_seconds(duration)
        .set_serial_number(plan.mfa_serial_number.clone())
        .set_token_code(plan.mfa_code.clone())
        .send()
        .await
        .map_err(|e| clients.failure("sts:GetSessionToken", &e))?;
    let creds = out.credentials().ok_or_else(|| {
        AwsError::Internal("sts:GetSessionToken answered without credentials".into())
    })?;
    Ok(Issued {
        access_key_id: creds.access_key_id().to_owned(),
        secret_access_key: creds.secret_access_key().to_owned(),
        session_token: creds.session_token().to_owned(),
        arn: None,
    })
}

/// The session policy document and policy ARNs: the role's own, plus its groups' policies.
async fn session_policy(
    clients: &AwsClients,
    plan: &StsPlan,
) -> Result<(Option<String>, Option<Vec<PolicyDescriptorType>>), AwsError> {
    let mut statements: Vec<Value> = Vec::new();
    if let Some(doc) = &plan.policy_document {
        statements.extend(statements_of(doc)?);
    }
    let mut arns = plan.policy_arns.clone();
    for group in &plan.groups {
        let (docs, attached) = group_policies(clients, group).await?;
        for doc in docs {
            statements.extend(statements_of(&doc)?);
        }
        arns.extend(attached);
    }
    let policy = match (&plan.policy_document, plan.groups.is_empty()) {
        // No groups: pass the role's document through exactly as stored.
        (Some(doc), true) => Some(doc.clone()),
        _ if statements.is_empty() => None,
        _ => Some(json!({"Version": "2012-10-17", "Statement": statements}).to_string()),
    };
    arns.sort();
    arns.dedup();
    let arns = (!arns.is_empty()).then(|| {
        arns.into_iter()
            .map(|arn| PolicyDescriptorType::builder().arn(arn).build())
            .collect()
    });
    Ok((policy, arns))
}

/// A group's inline policy documents and managed policy ARNs.
async fn group_policies(
    clients: &AwsClients,
    group: &str,
) -> Result<(Vec<String>, Vec<String>), AwsError> {
    let iam = &clients.iam;
    let names = iam
        .list_group_policies()
        .group_name(group)
        .max_items(1000)
        .send()
        .await
        .map_err(|e| clients.failure("iam:ListGroupPolicies", &e))?;
    let mut docs = Vec::new();
    for name in names.policy_names() {
        let out = iam
            .get_group_policy()
            .group_name(group)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| clients.failure("iam:GetGroupPolicy", &e))?;
        docs.push(decode_document(out.policy_document()));
    }
    let attached = iam
        .list_attached_group_policies()
        .group_name(group)
        .max_items(1000)
        .send()
        .await
        .map_err(|e| clients.failure("iam:ListAttachedGroupPolicies", &e))?;
    let arns = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    Ok((docs, arns))
}

/// IAM returns policy documents URL-encoded (RFC 3986); some emulators return them plain.
fn decode_document(raw: &str) -> String {
    if serde_json::from_str::<Value>(raw).is_ok() {
        return raw.to_owned();
    }
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// The statements of a policy document (`Statement` may be one object or a list).
fn statements_of(doc: &str) -> Result<Vec<Value>, AwsError> {
    let parsed: Value = serde_json::from_str(doc).map_err(|e| {
        AwsError::field(
            "policy_document",
            format!("cannot parse policy document: {e}"),
        )
    })?;
    Ok(match parsed.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_from_object_or_list() {
        let one = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
        assert_eq!(statements_of(one).unwrap().len(), 1);
        let two = r#"{"Statement":[{"Effect":"Allow"},{"Effect":"Deny"}]}"#;
        assert_eq!(statements_of(two).unwrap().len(), 2);
        assert!(statements_of("{oops").is_err());
    }

    #[test]
    fn documents_are_url_decoded_when_needed() {
        assert_eq!(decode_document("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(decode_document(r#"{"a":"%41"}"#), r#"{"a":"%41"}"#);
    }
}
