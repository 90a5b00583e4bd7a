//! A throwaway moto server standing in for IAM and STS, with authentication enforced (moto
//! accepts any key unless its auth is switched on, so a deleted key would still work):
//!
//! 1. start `moto_server -p 0` from the project's virtualenv (`$LEASEHOLD_VENV`, default
//!    `~/.cache/leasehold/venv`, made by `integration/setup-venv.sh`) and read the port it chose;
//! 2. while moto still lets every request through, create the engine's root IAM user with an
//!    `iam:*`/`sts:*` policy and an access key;
//! 3. switch enforcement on (`POST /moto-api/reset-auth` with body `0`): from then on every
//!    request is signature-checked against the keys IAM knows and policy-checked.
//!
//! The server is killed when the [`Moto`] is dropped. One per test keeps tests independent.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::config::{Credentials, SharedHttpClient};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// moto's fixed account id.
pub const ACCOUNT: &str = "123456789012";
/// Name of the bootstrapped root IAM user.
pub const ROOT_USER: &str = "leasehold-root";
/// A policy allowing everything the engine does.
pub const ADMIN_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","sts:*"],"Resource":"*"}]}"#;

/// An AWS key pair (with a session token for STS credentials).
#[derive(Clone)]
pub struct Keys {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token, for STS credentials.
    pub session_token: Option<String>,
}

impl Keys {
    /// A static IAM key pair.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            session_token: None,
        }
    }
}

/// A running moto server with authentication enforced.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`, serving both IAM and STS.
    pub endpoint: String,
    /// The bootstrapped root user's key (full `iam:*` and `sts:*`).
    pub root: Keys,
    http: SharedHttpClient,
}

impl Drop for Moto {
    fn drop(&mut self) {
        // The child is also spawned with kill_on_drop; killing here makes the intent explicit.
        let _ = self.child.start_kill();
    }
}

/// Where `moto_server` should be: `$LEASEHOLD_VENV/bin` or `~/.cache/leasehold/venv/bin`.
fn moto_server_path() -> anyhow::Result<PathBuf> {
    let venv = match std::env::var_os("LEASEHOLD_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let home = std::env::var_os("HOME")
                .context("HOME is not set and LEASEHOLD_VENV is not either")?;
            PathBuf::from(home).join(".cache/leasehold/venv")
        }
    };
    let bin = venv.join("bin/moto_server");
    if !bin.is_file() {
        bail!(
            "moto_server not found at {}: run integration/setup-venv.sh (it installs moto[server] \
             from integration/requirements.txt), or point LEASEHOLD_VENV at a virtualenv that has it",
            bin.display()
        );
    }
    Ok(bin)
}

impl Moto {
    /// Start moto, bootstrap the root user and enforce authentication.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = moto_server_path()?;
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child
            .stderr
            .take()
            .context("moto_server stderr not captured")?;
        let mut lines = BufReader::new(stderr).lines();
        let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some((_, url)) = line.split_once("Running on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!("moto_server exited before it listened")
        })
        .await
        .context("moto_server did not start listening within 60 s")??;
        // moto logs every request to stderr; keep draining it so it never blocks on the pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let mut moto = Self {
            child,
            endpoint,
            root: Keys::new("AKIABOOTSTRAPEXAMPLE", "bootstrap-secret-not-checked-yet"),
            http: aws_smithy_http_client::Builder::new().build_http(),
        };
        moto.root = moto.bootstrap().await?;
        moto.enforce_auth().await?;
        Ok(moto)
    }

    /// Step 2 of the recipe: the root user, its policy and key, made while auth is still off.
    async fn bootstrap(&self) -> anyhow::Result<Keys> {
        let iam = self.iam(&self.root).await;
        iam.create_user()
            .user_name(ROOT_USER)
            .send()
            .await
            .context("bootstrap CreateUser")?;
        iam.put_user_policy()
            .user_name(ROOT_USER)
            .policy_name("leasehold-root")
            .policy_document(ADMIN_POLICY)
            .send()
            .await
            .context("bootstrap PutUserPolicy")?;
        let key = iam
            .create_access_key()
            .user_name(ROOT_USER)
            .send()
            .await
            .context("bootstrap CreateAccessKey")?;
        let key = key
            .access_key()
            .context("no key in CreateAccessKey answer")?;
        Ok(Keys::new(key.access_key_id(), key.secret_access_key()))
    }

    /// Step 3: from now on every request is authenticated and authorised.
    async fn enforce_auth(&self) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .header("content-type", "text/plain")
            .body("0")
            .send()
            .await
            .context("POST /moto-api/reset-auth")?;
        if !response.status().is_success() {
            bail!("moto refused reset-auth: {}", response.status());
        }
        Ok(())
    }

    async fn sdk_config(&self, keys: &Keys) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(self.http.clone())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            // Tests look at first answers; a retried 403 would only slow them down.
            .retry_config(RetryConfig::disabled())
            .credentials_provider(Credentials::new(
                keys.access_key.clone(),
                keys.secret_key.clone(),
                keys.session_token.clone(),
                None,
                "leasehold-aws-tests",
            ))
            .load()
            .await
    }

    /// An IAM client signing with `keys`.
    pub async fn iam(&self, keys: &Keys) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config(keys).await)
    }

    /// An STS client signing with `keys`.
    pub async fn sts(&self, keys: &Keys) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk_config(keys).await)
    }

    /// `sts:GetCallerIdentity` with `keys`: the caller's ARN, or why it was rejected.
    pub async fn caller_arn(&self, keys: &Keys) -> Result<String, String> {
        match self.sts(keys).await.get_caller_identity().send().await {
            Ok(out) => Ok(out.arn().unwrap_or_default().to_owned()),
            Err(e) => Err(rejection(&e)),
        }
    }

    /// A new IAM user with full access and a key, made by root (for rotation tests).
    pub async fn admin_user(&self, name: &str) -> anyhow::Result<Keys> {
        let iam = self.iam(&self.root).await;
        iam.create_user()
            .user_name(name)
            .send()
            .await
            .context("CreateUser")?;
        iam.put_user_policy()
            .user_name(name)
            .policy_name("admin")
            .policy_document(ADMIN_POLICY)
            .send()
            .await
            .context("PutUserPolicy")?;
        let key = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .context("CreateAccessKey")?;
        let key = key.access_key().context("no key")?;
        Ok(Keys::new(key.access_key_id(), key.secret_access_key()))
    }
}

/// A failed call as `"<status> <code> <raw body>"`. moto's auth layer answers with an HTML
/// content type the SDK does not parse, so the raw body is where `InvalidClientTokenId` or
/// `AccessDenied` shows up.
pub fn rejection<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or_default();
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    format!("{status} {} {body}", err.code().unwrap_or("-"))
}

/// Assert that IAM answered `NoSuchEntity`: what was asked about (a user, its keys) is gone.
pub fn assert_no_such_entity<T, E>(asked: &str, result: Result<T, SdkError<E, HttpResponse>>)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, answer) = match &result {
        Ok(_) => (None, "IAM still has it".to_owned()),
        Err(e) => (e.code(), rejection(e)),
    };
    assert_eq!(code, Some("NoSuchEntity"), "{asked}: {answer}");
}
