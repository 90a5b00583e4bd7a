//! `creds/:name`: planning a credential, and the life of the user it names — create, renew,
//! revoke.
//!
//! Planning never calls the broker. It reads the role, picks the user name and copies what the
//! user will be granted into a typed [`UserPlan`]; the core writes the lease row with it and
//! only then calls [`create`], so no user can exist without a lease that names it.
//!
//! Revocation ([`destroy`]) counts the user's open connections, deletes the user, closes every
//! connection still open under its name, and succeeds only once the broker says the user is
//! gone and no connection of it is left. A user already gone is success (a retry, or a create
//! that never got there). Renewal moves the lease only: a RabbitMQ user has no expiry of its
//! own, so nothing on the broker ends it if leasehold does not.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_backend::username::Inputs;
use leasehold_backend::{Credentials, PlannedSecret, Request, Response, Revoked, SecretContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use crate::config::{self, ConnectionConfig};
use crate::error::RabbitMqError;
use crate::management::Management;
use crate::names;
use crate::password::{self, PasswordHash};
use crate::roles::{self, VhostPermission, VhostTopics};

/// The one secret kind.
pub(crate) const KIND: &str = "creds";

/// Fields a creds request may not carry: Vault's engine has no per-request TTL, and a caller who
/// asks for a shorter credential must not silently get the role's.
const REFUSED_CREDS_FIELDS: &[&str] = &["ttl", "max_ttl"];

/// How long a revocation waits for the broker to show the user and its connections gone.
const GONE_WITHIN: Duration = Duration::from_secs(5);
const GONE_POLL: Duration = Duration::from_millis(100);

/// Everything creating and destroying one user takes, fixed at issue: a later change to the
/// role (or its deletion) does not change what an issued credential is, or how it is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserPlan {
    /// The user's name on the broker.
    pub username: String,
    pub tags: Vec<String>,
    pub vhosts: BTreeMap<String, VhostPermission>,
    #[serde(default)]
    pub vhost_topics: VhostTopics,
}

/// `GET creds/:name`: a plan, nothing on the broker yet.
pub(crate) async fn plan(
    req: &Request,
    role_name: &str,
    now: DateTime<Utc>,
) -> Result<Response, RabbitMqError> {
    if let Some(field) = REFUSED_CREDS_FIELDS.iter().find(|f| req.fields.has(f)) {
        return Err(RabbitMqError::field(
            *field,
            "not supported on creds: the lease lasts what config/lease says",
        ));
    }
    let storage = req.storage.as_ref();
    let role =
        roles::load(storage, role_name)
            .await?
            .ok_or_else(|| RabbitMqError::RoleNotFound {
                role: role_name.to_owned(),
            })?;
    let connection = config::load_connection(storage)
        .await?
        .ok_or(RabbitMqError::NotConfigured)?;
    let lease = config::load_lease(storage).await?;
    let marker = names::mount_marker(storage).await?;
    let username = connection.template()?.render(&Inputs {
        marker: &marker,
        display_name: &req.display_name,
        role_name,
        now,
    })?;
    let plan = UserPlan {
        username: username.clone(),
        tags: role.tags,
        vhosts: role.vhosts,
        vhost_topics: role.vhost_topics,
    };
    Ok(Response::issue(PlannedSecret {
        kind: KIND.to_owned(),
        role: role_name.to_owned(),
        account: username,
        internal: serde_json::to_value(&plan)
            .map_err(|e| RabbitMqError::Internal(format!("cannot encode lease data: {e}")))?,
        ttl: Duration::from_secs(lease.ttl),
        max_ttl: Duration::from_secs(lease.max_ttl),
        renewable: true,
        require_purpose: role.require_purpose,
        approval_tier: role.approval_tier,
    }))
}

/// Create the planned user, whose lease row exists: the user with its password hash and tags,
/// then its permissions. If a grant fails the user is deleted again before the error is
/// returned (and the core revokes the lease as well).
pub(crate) async fn create(
    ctx: &SecretContext,
    http: &reqwest::Client,
) -> Result<Credentials, RabbitMqError> {
    let plan = decode(ctx)?;
    let connection = connection(ctx).await?;
    let m = Management::new(http, &connection);
    let password = password::generate(&mut rand::thread_rng());
    let hash = PasswordHash::of(&password, &mut rand::thread_rng());
    m.create_user(&plan.username, &hash, &plan.tags).await?;
    if let Err(err) = grant(&m, &plan).await {
        if let Err(cleanup) = m.delete_user(&plan.username).await {
            tracing::warn!(account = %plan.username, error = %cleanup,
                "could not delete half-made RabbitMQ user {}: {cleanup}", plan.username);
        }
        // The user was made: whatever failed after it, the broker was reached.
        return Err(match err {
            RabbitMqError::NotReached { action, detail } => {
                RabbitMqError::Unavailable { action, detail }
            }
            other => other,
        });
    }
    let mut data = Map::new();
    data.insert("username".into(), json!(plan.username));
    Ok(Credentials {
        data,
        secrets: vec![("password".to_owned(), password)],
        internal: None,
    })
}

async fn grant(m: &Management<'_>, plan: &UserPlan) -> Result<(), RabbitMqError> {
    for (vhost, perm) in &plan.vhosts {
        m.set_permissions(vhost, &plan.username, perm).await?;
    }
    for (vhost, exchanges) in &plan.vhost_topics {
        for (exchange, perm) in exchanges {
            m.set_topic_permissions(vhost, &plan.username, exchange, perm)
                .await?;
        }
    }
    Ok(())
}

/// Destroy the lease's user (see the module comment).
pub(crate) async fn revoke(
    ctx: &SecretContext,
    http: &reqwest::Client,
) -> Result<Revoked, RabbitMqError> {
    let plan = decode(ctx)?;
    let connection = connection(ctx).await?;
    destroy(&Management::new(http, &connection), &plan.username).await
}

/// Renewal: the lease engine moves the expiry; the broker has none to move.
pub(crate) fn renew(ctx: &SecretContext) -> Result<(), RabbitMqError> {
    decode(ctx).map(drop)
}

/// Delete `user` and end its connections; done only when the broker shows neither.
pub(crate) async fn destroy(m: &Management<'_>, user: &str) -> Result<Revoked, RabbitMqError> {
    let open = m.connection_count(user).await?;
    let existed = m.delete_user(user).await?;
    // Deleting a user makes the broker close its connections (3.x does, with CONNECTION_FORCED);
    // closing them by name as well covers a broker that does not, and a connection that
    // authenticated just before the delete. A close can fail while the broker is already
    // ending the same connection (it answers 500): the check below, not the close, decides.
    let mut close_failed = m.close_connections(user).await.err();
    let deadline = tokio::time::Instant::now() + GONE_WITHIN;
    loop {
        let exists = m.user_exists(user).await?;
        let left = m.connection_count(user).await?;
        if !exists && left == 0 {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match close_failed {
                Some(err) if !exists => err,
                _ => RabbitMqError::Unavailable {
                    action: "verify revocation",
                    detail: if exists {
                        format!("user {user} still exists after DELETE")
                    } else {
                        format!("{left} connection(s) of user {user} still open after closing them")
                    },
                },
            });
        }
        if exists {
            m.delete_user(user).await?;
        }
        if left > 0 {
            close_failed = m.close_connections(user).await.err();
        }
        tokio::time::sleep(GONE_POLL).await;
    }
    tracing::info!(account = %user, sessions = open, existed,
        "RabbitMQ user {user} deleted, {open} connection(s) closed");
    // A user already gone was deleted by an earlier attempt: its connections are not ours to count.
    // Either way the loop above just saw the broker answer 404 for the user and list none of its
    // connections: that is the receipt.
    let report = if existed {
        Revoked::sessions(open)
    } else {
        Revoked::unknown()
    };
    Ok(report.verified_by(format!(
        "GET /api/users/{user} 404 and no connection of {user} in GET /api/connections"
    )))
}

async fn connection(ctx: &SecretContext) -> Result<ConnectionConfig, RabbitMqError> {
    config::load_connection(ctx.storage.as_ref())
        .await?
        .ok_or(RabbitMqError::NotConfigured)
}

fn decode(ctx: &SecretContext) -> Result<UserPlan, RabbitMqError> {
    if ctx.kind != KIND {
        return Err(RabbitMqError::Internal(format!(
            "unknown rabbitmq secret kind {:?}",
            ctx.kind
        )));
    }
    UserPlan::deserialize(&ctx.internal)
        .map_err(|e| RabbitMqError::Internal(format!("lease data is not readable: {e}")))
}
