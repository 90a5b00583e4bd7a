//! The `creds/:name` and `sts/:name` paths: planning a credential, and the secret kinds' create,
//! renew and revoke.
//!
//! Planning never calls AWS. It reads the role, chooses every name and number, and answers a
//! [`PlannedSecret`] whose internal data is a typed plan (`IamUserPlan` or `StsPlan`). The
//! core writes the lease row with it and only then calls `create`, so an account can never exist
//! without a lease that knows its name.
//!
//! Secret kinds are the credential types' wire names: `iam_user` (renewable; revoke deletes the
//! user, then asks IAM for the destruction receipt) and `assumed_role`, `federation_token`,
//! `session_token` (not renewable; revoke is a no-op with no receipt because STS cannot take
//! credentials back — they expire on AWS's clock).

use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_backend::{Credentials, PlannedSecret, Request, Response, Revoked, SecretContext};
use serde::de::DeserializeOwned;

use crate::client::AwsClients;
use crate::config;
use crate::error::AwsError;
use crate::iam::{self, IamUserPlan, InlinePolicy};
use crate::names::{self, NameInputs};
use crate::receipt;
use crate::roles::{self, CredentialType, Role};
use crate::sts::{self, StsPlan, DEFAULT_STS_SECS, MIN_STS_SECS};

/// Fields `creds/:name` and `sts/:name` accept.
pub(crate) const CREDS_FIELDS: &[&str] = &["ttl", "role_arn", "role_session_name", "mfa_code"];

/// Plan a credential for role `role_name` (`GET`/`POST creds/:name`).
pub(crate) async fn plan(
    req: &Request,
    role_name: &str,
    now: DateTime<Utc>,
) -> Result<Response, AwsError> {
    let storage = req.storage.as_ref();
    let role = roles::load(storage, role_name)
        .await?
        .ok_or_else(|| AwsError::RoleNotFound {
            role: role_name.to_owned(),
        })?;
    let root = config::load_root(storage).await?.unwrap_or_default();
    let marker = names::mount_marker(storage)
        .await
        .map_err(|e| AwsError::Internal(e.to_string()))?;
    let inputs = NameInputs {
        marker: &marker,
        display_name: &req.display_name,
        role_name,
        now,
    };
    let secret = match role.credential_type {
        CredentialType::IamUser => {
            let lease = config::load_lease(storage).await?;
            let plan = plan_iam_user(&role, role_name, root.template()?.render(&inputs)?);
            PlannedSecret {
                kind: CredentialType::IamUser.as_str().to_owned(),
                role: role_name.to_owned(),
                account: plan.user_name.clone(),
                internal: encode(&plan)?,
                ttl: Duration::from_secs(lease.lease),
                max_ttl: Duration::from_secs(lease.lease_max),
                renewable: true,
                require_purpose: role.require_purpose,
                approval_tier: role.approval_tier.clone(),
            }
        }
        sts_type => {
            let template = root.template()?;
            let plan = plan_sts(req, &role, || template.render(&inputs), now.timestamp())?;
            let ttl = Duration::from_secs(plan.duration_secs);
            PlannedSecret {
                kind: sts_type.as_str().to_owned(),
                role: role_name.to_owned(),
                account: plan.name.clone().unwrap_or_default(),
                internal: encode(&plan)?,
                ttl,
                max_ttl: ttl,
                renewable: false,
                require_purpose: role.require_purpose,
                approval_tier: role.approval_tier.clone(),
            }
        }
    };
    Ok(Response::issue(secret))
}

/// An IAM user named `user_name` with the role's policies, groups and tags.
fn plan_iam_user(role: &Role, role_name: &str, user_name: String) -> IamUserPlan {
    IamUserPlan {
        user_name,
        role: role_name.to_owned(),
        path: role.user_path.clone(),
        permissions_boundary_arn: Some(role.permissions_boundary_arn.clone())
            .filter(|s| !s.is_empty()),
        policy_arns: role.policy_arns.clone(),
        // Vault names the inline policy after the role; so do we.
        inline_policy: (!role.policy_document.is_empty()).then(|| InlinePolicy {
            name: role_name.to_owned(),
            document: role.policy_document.clone(),
        }),
        groups: role.iam_groups.clone(),
        tags: role.iam_tags.clone(),
        access_key_ids: Vec::new(),
        arn: None,
    }
}

/// An STS call for `role` with the caller's `ttl`, `role_arn`, `role_session_name`, `mfa_code`.
fn plan_sts(
    req: &Request,
    role: &Role,
    generated_name: impl FnOnce() -> Result<String, AwsError>,
    unix_time: i64,
) -> Result<StsPlan, AwsError> {
    let f = &req.fields;
    let invalid = |e: leasehold_backend::BackendError| AwsError::BadRequest(e.to_string());
    let secs = sts_lifetime(role, f.duration("ttl").map_err(invalid)?)?;
    let mut plan = StsPlan {
        credential_type: role.credential_type,
        duration_secs: secs,
        role_arn: None,
        name: None,
        policy_document: Some(role.policy_document.clone()).filter(|s| !s.is_empty()),
        policy_arns: role.policy_arns.clone(),
        groups: role.iam_groups.clone(),
        session_tags: Default::default(),
        external_id: None,
        mfa_serial_number: None,
        mfa_code: None,
    };
    match role.credential_type {
        CredentialType::AssumedRole => {
            plan.role_arn = Some(choose_role_arn(role, f.str("role_arn").map_err(invalid)?)?);
            plan.name = Some(match f.str("role_session_name").map_err(invalid)? {
                Some(given) if !given.trim().is_empty() => names::session_name(&given)?,
                _ => generated_name()?,
            });
            plan.session_tags = role.session_tags.clone();
            plan.external_id = Some(role.external_id.clone()).filter(|s| !s.is_empty());
        }
        CredentialType::FederationToken => {
            if plan.policy_document.is_none()
                && plan.policy_arns.is_empty()
                && plan.groups.is_empty()
            {
                return Err(AwsError::BadRequest(
                    "a federation_token role needs policy_arns, policy_document or iam_groups"
                        .into(),
                ));
            }
            plan.name = Some(names::federation_name(unix_time));
        }
        CredentialType::SessionToken => {
            if !role.mfa_serial_number.is_empty() {
                let code = f
                    .str("mfa_code")
                    .map_err(invalid)?
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| {
                        AwsError::field("mfa_code", "required: the role's mfa_serial_number is set")
                    })?;
                plan.mfa_serial_number = Some(role.mfa_serial_number.clone());
                plan.mfa_code = Some(code);
            }
        }
        CredentialType::IamUser => {}
    }
    Ok(plan)
}

/// The caller's `ttl`, else the role's default, else an hour; capped at the role's max; at least
/// STS's minimum.
fn sts_lifetime(role: &Role, asked: Option<Duration>) -> Result<u64, AwsError> {
    let mut secs = match asked {
        Some(d) if d > Duration::ZERO => d.as_secs(),
        _ if role.default_sts_ttl > 0 => role.default_sts_ttl,
        _ => DEFAULT_STS_SECS,
    };
    if role.max_sts_ttl > 0 {
        secs = secs.min(role.max_sts_ttl);
    }
    if secs < MIN_STS_SECS {
        return Err(AwsError::field(
            "ttl",
            format!("STS credentials last at least {MIN_STS_SECS}s (15m); {secs}s asked"),
        ));
    }
    Ok(secs)
}

/// The caller's `role_arn` if the role allows it, or the role's only one.
fn choose_role_arn(role: &Role, given: Option<String>) -> Result<String, AwsError> {
    match given.filter(|s| !s.is_empty()) {
        Some(arn) if role.role_arns.contains(&arn) => Ok(arn),
        Some(arn) => Err(AwsError::field(
            "role_arn",
            format!("{arn:?} is not one of the role's role_arns"),
        )),
        None => match role.role_arns.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(AwsError::field(
                "role_arn",
                "did not supply a role_arn parameter and unable to determine one",
            )),
        },
    }
}

/// `create` for a planned secret whose lease row exists.
pub(crate) async fn create(
    ctx: &SecretContext,
    http: &aws_sdk_iam::config::SharedHttpClient,
    now: DateTime<Utc>,
) -> Result<Credentials, AwsError> {
    let kind = parse_kind(&ctx.kind)?;
    let root = config::load_root(ctx.storage.as_ref()).await?;
    let clients = AwsClients::connect(http, root.as_ref()).await;
    match kind {
        CredentialType::IamUser => iam::create(&clients, decode::<IamUserPlan>(ctx)?).await,
        _ => {
            let plan = decode::<StsPlan>(ctx)?;
            // The core may have shortened the lease (mount max); STS should not outlive it.
            let left = u64::try_from((ctx.expire_time - now).num_seconds()).unwrap_or(0);
            sts::create(&clients, &plan, plan.duration_secs.min(left)).await
        }
    }
}

/// `revoke`: destroy an IAM user and ask IAM to prove it gone; nothing to do for STS
/// credentials. AWS credentials have no sessions a revocation could end or count (a key pair is
/// not a connection), so `sessions_terminated` is always unknown.
pub(crate) async fn revoke(
    ctx: &SecretContext,
    http: &aws_sdk_iam::config::SharedHttpClient,
) -> Result<Revoked, AwsError> {
    match parse_kind(&ctx.kind)? {
        CredentialType::IamUser => {
            let plan = decode::<IamUserPlan>(ctx)?;
            let root = config::load_root(ctx.storage.as_ref()).await?;
            let clients = AwsClients::connect(http, root.as_ref()).await;
            iam::destroy(&clients, &plan).await?;
            Ok(
                match receipt::prove_gone(&clients, &plan.user_name).await? {
                    Some(check) => Revoked::unknown().verified_by(check),
                    None => Revoked::unknown(),
                },
            )
        }
        // STS offers no way to revoke a credential, nor to look one up: it expires at the time
        // set when it was made, and no receipt can be had.
        _ => Ok(Revoked::unknown()),
    }
}

/// `renew`: the lease engine moves the expiry; IAM users have no expiry of their own.
pub(crate) fn renew(ctx: &SecretContext) -> Result<(), AwsError> {
    parse_kind(&ctx.kind).map(drop)
}

fn parse_kind(kind: &str) -> Result<CredentialType, AwsError> {
    CredentialType::parse(kind)
        .ok_or_else(|| AwsError::Internal(format!("unknown aws secret kind {kind:?}")))
}

fn encode<T: serde::Serialize>(plan: &T) -> Result<serde_json::Value, AwsError> {
    serde_json::to_value(plan)
        .map_err(|e| AwsError::Internal(format!("cannot encode lease data: {e}")))
}

fn decode<T: DeserializeOwned>(ctx: &SecretContext) -> Result<T, AwsError> {
    T::deserialize(&ctx.internal).map_err(|e| {
        AwsError::Internal(format!(
            "lease data of kind {} is not readable: {e}",
            ctx.kind
        ))
    })
}
