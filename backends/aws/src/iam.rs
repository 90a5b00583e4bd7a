//! The life of an `iam_user` credential on AWS: the create sequence with its rollback, and the
//! destroy sequence that revocation, expiry and crash recovery all share.
//!
//! Create: `CreateUser` (path, permissions boundary, tags) → `AttachUserPolicy` per policy ARN →
//! `PutUserPolicy` (inline document, named after the role) → `AddUserToGroup` per group →
//! `CreateAccessKey`. If a step fails, what was made is taken down again, newest first, before the
//! error is returned; the core also calls revoke afterwards, which finds nothing left.
//!
//! Destroy: delete the recorded access key (or, when none was recorded because the process died
//! right after `CreateAccessKey`, every key `ListAccessKeys` shows) → `DetachUserPolicy` per
//! recorded policy → `DeleteUserPolicy` → `RemoveUserFromGroup` per group → `DeleteUser`.
//! `NoSuchEntity` at any step means that part is already gone. Because the plan records what
//! create attached, no discovery calls are needed; only if `DeleteUser` reports a conflict
//! (someone attached more by hand) does destroy list and remove whatever is left, then retry.
//!
//! The file runs past 400 lines because create, its rollback and destroy share the per-step IAM
//! helpers below, and the three must stay mirror images of each other.

use std::collections::BTreeMap;

use leasehold_backend::Credentials;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::client::AwsClients;
use crate::error::{AwsError, CallFailure};

/// Everything create and destroy need, decided when the credential is planned and stored on the
/// lease (sealed) as its internal data. Holds no secret: the secret key is never stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IamUserPlan {
    /// The generated user name.
    pub user_name: String,
    /// The role the user was issued for.
    pub role: String,
    /// IAM path of the user (`/` by default).
    pub path: String,
    /// Permissions boundary set at creation, if any.
    #[serde(default)]
    pub permissions_boundary_arn: Option<String>,
    /// Managed policies attached to the user.
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// The inline policy put on the user, if any.
    #[serde(default)]
    pub inline_policy: Option<InlinePolicy>,
    /// Groups the user is added to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Tags set at creation.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Access key ids made for the user; filled in by create (empty in the planned version).
    #[serde(default)]
    pub access_key_ids: Vec<String>,
    /// The user's ARN, once created.
    #[serde(default)]
    pub arn: Option<String>,
}

/// An inline user policy: its name (the role's) and the compacted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InlinePolicy {
    /// Policy name.
    pub name: String,
    /// Policy document (JSON).
    pub document: String,
}

/// What create has made so far, for rollback.
#[derive(Default)]
struct Made {
    user: bool,
    policies: Vec<String>,
    inline: bool,
    groups: Vec<String>,
}

/// A finished user: its ARN and key.
struct Issued {
    arn: String,
    access_key_id: String,
    secret_access_key: SecretString,
}

/// Create the user of `plan` with its policies, groups and an access key. On failure everything
/// made is removed again (best effort, logged) and the first error is returned.
pub(crate) async fn create(
    clients: &AwsClients,
    mut plan: IamUserPlan,
) -> Result<Credentials, AwsError> {
    let mut made = Made::default();
    let issued = match build(clients, &plan, &mut made).await {
        Ok(issued) => issued,
        Err(mut err) => {
            // Only a `CreateUser` that never left proves nothing exists; once the user was made,
            // a later step's connection failure says nothing about the user.
            err.not_sent &= !made.user;
            rollback(clients, &plan, &made).await;
            return Err(err.into());
        }
    };
    tracing::info!(aws.user = %plan.user_name, role.name = %plan.role,
        "created IAM user {} for role {}", plan.user_name, plan.role);

    let mut data = Map::new();
    data.insert("access_key".into(), json!(issued.access_key_id));
    data.insert("arn".into(), json!(issued.arn));
    data.insert("security_token".into(), Value::Null);
    data.insert("session_token".into(), Value::Null);
    plan.access_key_ids = vec![issued.access_key_id];
    plan.arn = Some(issued.arn);
    let internal = serde_json::to_value(&plan)
        .map_err(|e| AwsError::Internal(format!("cannot encode iam_user lease data: {e}")))?;
    Ok(Credentials {
        data,
        secrets: vec![("secret_key".into(), issued.secret_access_key)],
        internal: Some(internal),
    })
}

/// The create sequence proper; records each step in `made` as it succeeds.
async fn build(
    clients: &AwsClients,
    plan: &IamUserPlan,
    made: &mut Made,
) -> Result<Issued, CallFailure> {
    let iam = &clients.iam;
    let user = &plan.user_name;
    let tags = plan
        .tags
        .iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CallFailure {
            action: "iam:CreateUser",
            code: None,
            detail: format!("cannot build tags: {e}"),
            not_sent: true,
        })?;
    let created = create_user(clients, plan, tags).await?;
    made.user = true;
    let arn = created
        .user()
        .map(|u| u.arn().to_owned())
        .unwrap_or_default();

    grant(clients, plan, made).await?;
    let key = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .map_err(|e| clients.failure("iam:CreateAccessKey", &e))?;
    let key = key.access_key().ok_or_else(|| CallFailure {
        action: "iam:CreateAccessKey",
        code: None,
        detail: "AWS answered without a key".into(),
        not_sent: false,
    })?;
    Ok(Issued {
        arn,
        access_key_id: key.access_key_id().to_owned(),
        secret_access_key: SecretString::from(key.secret_access_key().to_owned()),
    })
}

/// `CreateUser`, retried here rather than by the SDK so that we know what each attempt did: the
/// failure says `not_sent` only when every attempt failed while connecting, which proves no
/// user exists (the core then ends the lease instead of retrying a destruction of nothing).
/// The SDK's retries would hide an earlier attempt that timed out after AWS got it. Connection
/// failures and throttling are retried, as the SDK would, with a doubling pause; anything else
/// is returned at once.
async fn create_user(
    clients: &AwsClients,
    plan: &IamUserPlan,
    tags: Vec<aws_sdk_iam::types::Tag>,
) -> Result<aws_sdk_iam::operation::create_user::CreateUserOutput, CallFailure> {
    let no_retries = aws_sdk_iam::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::disabled());
    let mut pause = std::time::Duration::from_millis(200);
    let mut all_unsent = true;
    let mut attempt = 1;
    loop {
        let result = clients
            .iam
            .create_user()
            .user_name(&plan.user_name)
            .path(&plan.path)
            .set_permissions_boundary(plan.permissions_boundary_arn.clone())
            .set_tags((!tags.is_empty()).then(|| tags.clone()))
            .customize()
            .config_override(no_retries.clone())
            .send()
            .await;
        let mut failure = match result {
            Ok(created) => return Ok(created),
            Err(e) => clients.failure("iam:CreateUser", &e),
        };
        all_unsent &= failure.not_sent;
        let retryable = failure.not_sent || failure.is_throttling();
        if !retryable || attempt >= clients.max_attempts {
            failure.not_sent = all_unsent;
            return Err(failure);
        }
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2);
        attempt += 1;
    }
}

/// Attach the managed policies, put the inline policy and join the groups of `plan`.
async fn grant(
    clients: &AwsClients,
    plan: &IamUserPlan,
    made: &mut Made,
) -> Result<(), CallFailure> {
    let iam = &clients.iam;
    let user = &plan.user_name;
    for policy_arn in &plan.policy_arns {
        iam.attach_user_policy()
            .user_name(user)
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(|e| clients.failure("iam:AttachUserPolicy", &e))?;
        made.policies.push(policy_arn.clone());
    }
    if let Some(policy) = &plan.inline_policy {
        iam.put_user_policy()
            .user_name(user)
            .policy_name(&policy.name)
            .policy_document(&policy.document)
            .send()
            .await
            .map_err(|e| clients.failure("iam:PutUserPolicy", &e))?;
        made.inline = true;
    }
    for group in &plan.groups {
        iam.add_user_to_group()
            .user_name(user)
            .group_name(group)
            .send()
            .await
            .map_err(|e| clients.failure("iam:AddUserToGroup", &e))?;
        made.groups.push(group.clone());
    }
    Ok(())
}

/// Undo a failed create, newest first. Failures are logged, not returned: the caller reports
/// the error that stopped creation, and the core's revoke retries the cleanup.
async fn rollback(clients: &AwsClients, plan: &IamUserPlan, made: &Made) {
    if !made.user {
        return;
    }
    let partial = IamUserPlan {
        policy_arns: made.policies.clone(),
        inline_policy: plan.inline_policy.clone().filter(|_| made.inline),
        groups: made.groups.clone(),
        access_key_ids: Vec::new(),
        ..plan.clone()
    };
    match destroy(clients, &partial).await {
        Ok(()) => tracing::info!(aws.user = %plan.user_name,
            "rolled back partly created IAM user {}", plan.user_name),
        Err(e) => tracing::warn!(aws.user = %plan.user_name, error = %e,
            "rollback of IAM user {} incomplete: {e}", plan.user_name),
    }
}

/// IAM users whose names start with `prefix`, for reconciliation.
pub(crate) async fn list_users(
    clients: &AwsClients,
    prefix: &str,
) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = clients
            .iam
            .list_users()
            .set_marker(marker.clone())
            .max_items(1000)
            .send()
            .await
            .map_err(|e| clients.failure("iam:ListUsers", &e))?;
        names.extend(
            out.users()
                .iter()
                .map(|u| u.user_name().to_owned())
                .filter(|n| n.starts_with(prefix)),
        );
        match out.marker() {
            Some(m) if out.is_truncated() => marker = Some(m.to_owned()),
            _ => return Ok(names),
        }
    }
}

/// Destroy a user no lease describes (an orphan): everything hanging off it is discovered.
pub(crate) async fn destroy_unplanned(clients: &AwsClients, user: &str) -> Result<(), AwsError> {
    let plan = IamUserPlan {
        user_name: user.to_owned(),
        path: "/".into(),
        ..IamUserPlan::default()
    };
    destroy(clients, &plan).await
}

/// Destroy the user of `plan` and everything create hung on it. Idempotent.
pub(crate) async fn destroy(clients: &AwsClients, plan: &IamUserPlan) -> Result<(), AwsError> {
    let user = &plan.user_name;
    let keys = if plan.access_key_ids.is_empty() {
        // No key recorded: create may have died between CreateAccessKey and recording it.
        match list_access_keys(clients, user).await {
            Ok(keys) => keys,
            Err(f) if f.is_no_such_entity() => return gone(user),
            Err(f) => return Err(f.into()),
        }
    } else {
        plan.access_key_ids.clone()
    };
    for key in &keys {
        delete_access_key(clients, user, key).await?;
    }
    for policy_arn in &plan.policy_arns {
        detach_policy(clients, user, policy_arn).await?;
    }
    if let Some(policy) = &plan.inline_policy {
        delete_inline_policy(clients, user, &policy.name).await?;
    }
    for group in &plan.groups {
        leave_group(clients, user, group).await?;
    }
    match delete_user(clients, user).await {
        Ok(()) => {}
        Err(f) if f.is_no_such_entity() => return gone(user),
        Err(f) if f.is_delete_conflict() => {
            // Something we did not record still hangs off the user; find it and take it off.
            remove_everything(clients, user).await?;
            delete_user(clients, user).await.or_else(|f| {
                if f.is_no_such_entity() {
                    Ok(())
                } else {
                    Err(AwsError::from(f))
                }
            })?;
        }
        Err(f) => return Err(f.into()),
    }
    tracing::info!(aws.user = %user, "deleted IAM user {user}");
    Ok(())
}

fn gone(user: &str) -> Result<(), AwsError> {
    tracing::info!(aws.user = %user, "IAM user {user} already gone");
    Ok(())
}

/// Treat `NoSuchEntity` (the user or the item is already gone) as done.
fn absent_ok(result: Result<(), CallFailure>) -> Result<(), AwsError> {
    match result {
        Err(f) if !f.is_no_such_entity() => Err(f.into()),
        _ => Ok(()),
    }
}

/// The ids of `user`'s access keys (`NoSuchEntity` when the user does not exist).
pub(crate) async fn list_access_keys(
    clients: &AwsClients,
    user: &str,
) -> Result<Vec<String>, CallFailure> {
    let out = clients
        .iam
        .list_access_keys()
        .user_name(user)
        .max_items(1000)
        .send()
        .await
        .map_err(|e| clients.failure("iam:ListAccessKeys", &e))?;
    Ok(out
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id().map(str::to_owned))
        .collect())
}

async fn delete_access_key(clients: &AwsClients, user: &str, key: &str) -> Result<(), AwsError> {
    let result = clients
        .iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(key)
        .send()
        .await
        .map(drop)
        .map_err(|e| clients.failure("iam:DeleteAccessKey", &e));
    absent_ok(result)
}

async fn detach_policy(clients: &AwsClients, user: &str, policy_arn: &str) -> Result<(), AwsError> {
    let result = clients
        .iam
        .detach_user_policy()
        .user_name(user)
        .policy_arn(policy_arn)
        .send()
        .await
        .map(drop)
        .map_err(|e| clients.failure("iam:DetachUserPolicy", &e));
    absent_ok(result)
}

async fn delete_inline_policy(
    clients: &AwsClients,
    user: &str,
    name: &str,
) -> Result<(), AwsError> {
    let result = clients
        .iam
        .delete_user_policy()
        .user_name(user)
        .policy_name(name)
        .send()
        .await
        .map(drop)
        .map_err(|e| clients.failure("iam:DeleteUserPolicy", &e));
    absent_ok(result)
}

async fn leave_group(clients: &AwsClients, user: &str, group: &str) -> Result<(), AwsError> {
    let result = clients
        .iam
        .remove_user_from_group()
        .user_name(user)
        .group_name(group)
        .send()
        .await
        .map(drop)
        .map_err(|e| clients.failure("iam:RemoveUserFromGroup", &e));
    absent_ok(result)
}

async fn delete_user(clients: &AwsClients, user: &str) -> Result<(), CallFailure> {
    clients
        .iam
        .delete_user()
        .user_name(user)
        .send()
        .await
        .map(drop)
        .map_err(|e| clients.failure("iam:DeleteUser", &e))
}

/// The discovery path: list and remove every key, managed and inline policy and group.
async fn remove_everything(clients: &AwsClients, user: &str) -> Result<(), AwsError> {
    let iam = &clients.iam;
    for key in absent_empty(list_access_keys(clients, user).await)? {
        delete_access_key(clients, user, &key).await?;
    }
    let attached = iam
        .list_attached_user_policies()
        .user_name(user)
        .max_items(1000)
        .send()
        .await
        .map(|o| {
            o.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect()
        })
        .map_err(|e| clients.failure("iam:ListAttachedUserPolicies", &e));
    for policy_arn in absent_empty(attached)? {
        detach_policy(clients, user, &policy_arn).await?;
    }
    let inline = iam
        .list_user_policies()
        .user_name(user)
        .max_items(1000)
        .send()
        .await
        .map(|o| o.policy_names().to_vec())
        .map_err(|e| clients.failure("iam:ListUserPolicies", &e));
    for name in absent_empty(inline)? {
        delete_inline_policy(clients, user, &name).await?;
    }
    let groups = iam
        .list_groups_for_user()
        .user_name(user)
        .max_items(1000)
        .send()
        .await
        .map(|o| {
            o.groups()
                .iter()
                .map(|g| g.group_name().to_owned())
                .collect()
        })
        .map_err(|e| clients.failure("iam:ListGroupsForUser", &e));
    for group in absent_empty(groups)? {
        leave_group(clients, user, &group).await?;
    }
    Ok(())
}

/// A listing of a user that no longer exists is an empty listing.
fn absent_empty(result: Result<Vec<String>, CallFailure>) -> Result<Vec<String>, AwsError> {
    match result {
        Ok(items) => Ok(items),
        Err(f) if f.is_no_such_entity() => Ok(Vec::new()),
        Err(f) => Err(f.into()),
    }
}
