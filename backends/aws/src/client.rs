//! SDK clients for IAM and STS, built from the mount's `config/root`.
//!
//! Clients are built per operation from the stored configuration rather than cached: a
//! `config/root` write or a root rotation then takes effect on the very next call, and no stale
//! key can linger in memory. What is expensive to make, the HTTPS connection pool, is shared by
//! all clients through the one [`SharedHttpClient`] the backend owns.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::config::{Credentials, SharedHttpClient};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use secrecy::{ExposeSecret, SecretString};

use crate::config::RootConfig;
use crate::error::CallFailure;

/// The region used when neither the config nor the environment names one, as Vault.
const FALLBACK_REGION: &str = "us-east-1";
/// How long to wait for a TCP/TLS connection to an AWS endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt of one call may take before the SDK retries it.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTPS client every SDK client of this backend shares: rustls with ring, which also
/// speaks plain HTTP for `http://` endpoints (moto, LocalStack).
pub(crate) fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// IAM and STS clients signed with the mount's root credentials.
pub(crate) struct AwsClients {
    /// IAM, at `iam_endpoint` when configured.
    pub iam: aws_sdk_iam::Client,
    /// STS, at `sts_endpoint` when configured.
    pub sts: aws_sdk_sts::Client,
    /// The root secret key, scrubbed from every error text.
    secrets: Vec<SecretString>,
    /// Attempts per call allowed by `max_retries`, for the calls we retry ourselves.
    pub max_attempts: u32,
}

impl AwsClients {
    /// Build clients from `config` (absent: the SDK's default credential chain and region).
    pub(crate) async fn connect(http: &SharedHttpClient, config: Option<&RootConfig>) -> Self {
        let default = RootConfig::default();
        let config = config.unwrap_or(&default);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http.clone())
            .region(Region::new(resolve_region(&config.region)))
            .retry_config(retry_config(config.max_retries))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            );
        let mut secrets = Vec::new();
        if let Some(secret_key) = config.static_secret() {
            loader = loader.credentials_provider(Credentials::new(
                config.access_key.clone(),
                secret_key.expose_secret().to_owned(),
                None,
                None,
                "leasehold-aws-config-root",
            ));
            secrets.push(secret_key.clone());
        }
        let shared = loader.load().await;

        let mut iam = aws_sdk_iam::config::Builder::from(&shared);
        if !config.iam_endpoint.is_empty() {
            iam = iam.endpoint_url(config.iam_endpoint.clone());
        }
        let mut sts = aws_sdk_sts::config::Builder::from(&shared);
        if !config.sts_endpoint.is_empty() {
            sts = sts.endpoint_url(config.sts_endpoint.clone());
        }
        Self {
            iam: aws_sdk_iam::Client::from_conf(iam.build()),
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            secrets,
            max_attempts: retry_config(config.max_retries).max_attempts(),
        }
    }

    /// Describe a failed call, scrubbed of the root secret.
    pub(crate) fn failure<E>(
        &self,
        action: &'static str,
        err: &SdkError<E, HttpResponse>,
    ) -> CallFailure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        CallFailure::from_sdk(action, err, &self.secrets)
    }
}

/// The configured region, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.
fn resolve_region(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_owned();
    }
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| FALLBACK_REGION.to_owned())
}

/// `max_retries` as Vault reads it: -1 is the SDK's default (standard mode, 3 attempts), any
/// other value is the number of retries after the first attempt. Throttling and transient
/// errors (5xx, timeouts, connection resets) are retried with exponential backoff and jitter.
pub(crate) fn retry_config(max_retries: i64) -> RetryConfig {
    match u32::try_from(max_retries) {
        Ok(retries) => RetryConfig::standard().with_max_attempts(retries.saturating_add(1)),
        Err(_) => RetryConfig::standard(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_retries_counts_retries_not_attempts() {
        assert_eq!(retry_config(0).max_attempts(), 1);
        assert_eq!(retry_config(4).max_attempts(), 5);
        assert_eq!(
            retry_config(-1).max_attempts(),
            RetryConfig::standard().max_attempts()
        );
    }

    #[test]
    fn configured_region_wins() {
        assert_eq!(resolve_region("eu-west-1"), "eu-west-1");
    }
}
