//! [`Engine`]: the backend on an in-memory mount, driven as the core drives it — `handle` for
//! requests, and for a credential: plan, then `create` with the lease's context, then `revoke`.

use std::sync::Arc;

use anyhow::{bail, Context};
use leasehold_aws::AwsBackend;
use leasehold_backend::clock::{Clock, SystemClock};
use leasehold_backend::{
    Backend, BackendError, Credentials, Fields, Operation, PlannedSecret, Request, Response,
    Revoked, SecretContext, SecretEngine,
};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::moto::{Keys, Moto};
use leasehold_backend::memory::MemoryStorage;

/// A mounted aws engine, optionally configured against its own moto server.
pub struct Engine {
    /// The backend under test.
    pub backend: AwsBackend,
    /// The mount's storage.
    pub storage: Arc<MemoryStorage>,
    /// The moto server `config/root` points at, when there is one.
    pub moto: Option<Moto>,
}

/// An issued credential, as the core would hold it: the plan, the lease context (with the
/// internal data `create` handed back) and the credentials answered to the caller.
pub struct Lease {
    /// What `handle` planned.
    pub planned: PlannedSecret,
    /// The context `revoke` gets.
    pub ctx: SecretContext,
    /// The answer of `create`.
    pub creds: Credentials,
}

impl Lease {
    /// A non-secret field of the answer.
    pub fn data(&self, name: &str) -> Value {
        self.creds.data.get(name).cloned().unwrap_or(Value::Null)
    }

    /// A secret field of the answer, exposed.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.creds
            .secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.expose_secret().to_owned())
    }

    /// The issued key pair (with its session token for STS kinds).
    pub fn keys(&self) -> Keys {
        Keys {
            access_key: self
                .data("access_key")
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            secret_key: self.secret("secret_key").unwrap_or_default(),
            session_token: self.secret("session_token"),
        }
    }
}

impl Engine {
    /// A mount with no moto and no configuration.
    pub fn offline() -> Self {
        Self {
            backend: AwsBackend::new(),
            storage: Arc::new(MemoryStorage::default()),
            moto: None,
        }
    }

    /// A mount whose `config/root` is moto's root user, with authentication enforced.
    pub async fn with_moto() -> anyhow::Result<Self> {
        let moto = Moto::start().await?;
        let root = moto.root.clone();
        let engine = Self {
            moto: Some(moto),
            ..Self::offline()
        };
        engine.configure_root(&root).await?;
        Ok(engine)
    }

    /// The moto server (panics in tests that did not start one).
    pub fn moto(&self) -> &Moto {
        self.moto
            .as_ref()
            .unwrap_or_else(|| unreachable!("this engine has no moto"))
    }

    /// Write `config/root` (as a create) with `keys` and moto's endpoint.
    pub async fn configure_root(&self, keys: &Keys) -> anyhow::Result<()> {
        let endpoint = self.moto().endpoint.clone();
        self.call(
            Operation::Create,
            "config/root",
            json!({
                "access_key": keys.access_key,
                "secret_key": keys.secret_key,
                "region": "us-east-1",
                "iam_endpoint": endpoint,
                "sts_endpoint": endpoint,
                "max_retries": 1,
            }),
        )
        .await
        .context("config/root")?;
        Ok(())
    }

    /// A request as the core would build it (display name `root`).
    pub fn request(&self, operation: Operation, path: &str, fields: Value) -> Request {
        let map = match fields {
            Value::Object(map) => map,
            _ => Default::default(),
        };
        Request {
            operation,
            path: path.to_owned(),
            fields: Fields::new(map),
            storage: self.storage.clone(),
            mount_path: "aws/".to_owned(),
            display_name: "root".to_owned(),
            remote_addr: None,
        }
    }

    /// `handle` one request.
    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        fields: Value,
    ) -> Result<Option<Response>, BackendError> {
        self.backend
            .handle(self.request(operation, path, fields))
            .await
    }

    /// A write (update).
    pub async fn write(&self, path: &str, fields: Value) -> Result<Option<Response>, BackendError> {
        self.call(Operation::Update, path, fields).await
    }

    /// A read; the `data` of the answer, if any.
    pub async fn read(&self, path: &str) -> Result<Option<Value>, BackendError> {
        let answer = self.call(Operation::Read, path, json!({})).await?;
        Ok(answer.and_then(|r| r.data).map(Value::Object))
    }

    /// Plan a credential at `path` (`creds/<role>`), as a read with `fields`.
    pub async fn plan(&self, path: &str, fields: Value) -> Result<PlannedSecret, BackendError> {
        let answer = self.call(Operation::Read, path, fields).await?;
        answer
            .and_then(|r| r.secret)
            .ok_or_else(|| BackendError::Internal(format!("{path} planned no secret")))
    }

    /// The context the core hands `create`/`revoke` for a planned secret: expiry at the TTL
    /// (one hour when the plan leaves it to the mount).
    pub fn context(&self, planned: &PlannedSecret) -> SecretContext {
        let ttl = if planned.ttl.is_zero() {
            3600
        } else {
            planned.ttl.as_secs()
        };
        SecretContext {
            storage: self.storage.clone(),
            kind: planned.kind.clone(),
            internal: planned.internal.clone(),
            expire_time: SystemClock.now()
                + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(3600)),
        }
    }

    /// Plan and create a credential, recording `create`'s internal data as the core does.
    pub async fn issue(&self, path: &str, fields: Value) -> anyhow::Result<Lease> {
        let planned = self.plan(path, fields).await?;
        let mut ctx = self.context(&planned);
        let creds = self.backend.create(&ctx).await?;
        if let Some(internal) = &creds.internal {
            ctx.internal = internal.clone();
        }
        if creds
            .data
            .get("access_key")
            .and_then(Value::as_str)
            .is_none()
        {
            bail!("{path} answered no access_key");
        }
        Ok(Lease {
            planned,
            ctx,
            creds,
        })
    }

    /// `revoke` with a context; its report (the destruction receipt).
    pub async fn revoke(&self, ctx: &SecretContext) -> Result<Revoked, BackendError> {
        self.backend.revoke(ctx).await
    }

    /// Names of all IAM users, listed by moto's root.
    pub async fn user_names(&self) -> anyhow::Result<Vec<String>> {
        let moto = self.moto();
        let out = moto
            .iam(&moto.root)
            .await
            .list_users()
            .send()
            .await
            .context("ListUsers")?;
        Ok(out
            .users()
            .iter()
            .map(|u| u.user_name().to_owned())
            .collect())
    }
}
