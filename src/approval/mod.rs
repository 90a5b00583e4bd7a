//! Approval before privilege: a credential whose role names an approval tier is not issued on
//! request. The request is stored (no account, no lease) and the caller gets a wrapping token
//! whose accessor approvers decide on; once approved, unwrapping the token issues the credential,
//! so the lease — and the privilege — starts at collection. A tier may let some requests through
//! by rule, and may allow a loud, short-lived break-glass bypass.
//!
//! This module holds the parts that do not need the core: tiers ([`tier`]), who approves
//! ([`selector`]), rules ([`rules`]), the request record and its decisions ([`request`]), the
//! audit entries ([`events`]), webhook notifications ([`notify`]) and storage ([`Approvals`]).
//! The request pipeline's side (holding a request, collecting it, the `sys/` endpoints, the
//! expiry sweep) is `core::approvals`.

pub mod events;
pub mod notify;
pub mod request;
pub mod rules;
pub mod selector;
pub mod tier;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::sealed::SealedKv;
use request::PendingRequest;
use tier::Tier;

const TIER_PREFIX: &str = "approval/tier/";
const REQUEST_PREFIX: &str = "approval/request/";
/// Requests not yet decided for good (pending or approved): what the sweep and the pending list
/// read, so neither walks every request ever made.
const OPEN_PREFIX: &str = "approval/open/";
const CONFIG_KEY: &str = "approval/config";

/// `sys/config/control-group`: the longest a request may wait, and where notifications go.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApprovalConfig {
    /// Caps every tier's `approval_ttl` (zero: no cap beyond the system max TTL).
    #[serde(default)]
    pub max_ttl_secs: u64,
    /// Webhook URL for notifications (empty: none).
    #[serde(default)]
    pub notify_url: String,
    /// The webhook's HMAC key. Stored sealed, never read back.
    #[serde(default, with = "secret_string")]
    pub notify_secret: Option<SecretString>,
}

mod secret_string {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_some(&v.as_ref().map(ExposeSecret::expose_secret))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
    }
}

impl ApprovalConfig {
    /// The cap on approval TTLs, if any.
    pub fn max_ttl(&self) -> Option<Duration> {
        (self.max_ttl_secs > 0).then(|| Duration::from_secs(self.max_ttl_secs))
    }

    /// The webhook, when one is configured.
    pub fn webhook(&self) -> Option<notify::WebhookConfig> {
        let secret = self.notify_secret.as_ref()?;
        if self.notify_url.is_empty() {
            return None;
        }
        notify::WebhookConfig::new(
            &self.notify_url,
            SecretString::from(secret.expose_secret().to_owned()),
        )
        .ok()
    }
}

/// Tiers, requests and the configuration, in sealed storage; and the notifier.
pub struct Approvals {
    kv: SealedKv,
    /// Webhook notifications.
    pub notifier: Arc<notify::Notifier>,
}

impl Approvals {
    /// Over `kv`, notifying through `notifier`.
    pub fn new(kv: SealedKv, notifier: Arc<notify::Notifier>) -> Self {
        Self { kv, notifier }
    }

    /// True for storage keys this module owns (for the change feed: nothing is cached, so other
    /// nodes' writes need no invalidation).
    pub fn owns_key(key: &str) -> bool {
        key.starts_with("approval/")
    }

    /// The tier `name`.
    pub async fn tier(&self, name: &str) -> Result<Option<Tier>> {
        Ok(self.kv.get_json(&format!("{TIER_PREFIX}{name}")).await?)
    }

    /// Store the tier `name`.
    pub async fn put_tier(&self, name: &str, tier: &Tier) -> Result<()> {
        Ok(self
            .kv
            .put_json(&format!("{TIER_PREFIX}{name}"), tier)
            .await?)
    }

    /// Delete the tier `name`. Roles naming it then refuse to issue (fail closed).
    pub async fn delete_tier(&self, name: &str) -> Result<()> {
        Ok(self.kv.delete(&format!("{TIER_PREFIX}{name}")).await?)
    }

    /// Tier names.
    pub async fn tier_names(&self) -> Result<Vec<String>> {
        let mut names = self.kv.list(TIER_PREFIX).await?;
        names.sort();
        Ok(names)
    }

    /// The configuration (defaults when never written).
    pub async fn config(&self) -> Result<ApprovalConfig> {
        Ok(self.kv.get_json(CONFIG_KEY).await?.unwrap_or_default())
    }

    /// Store the configuration.
    pub async fn put_config(&self, config: &ApprovalConfig) -> Result<()> {
        Ok(self.kv.put_json(CONFIG_KEY, config).await?)
    }

    /// Reset the configuration.
    pub async fn delete_config(&self) -> Result<()> {
        Ok(self.kv.delete(CONFIG_KEY).await?)
    }

    /// The request behind wrapping token `accessor`.
    pub async fn request(&self, accessor: &str) -> Result<Option<PendingRequest>> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        Ok(self.kv.get_json(&request_key(accessor)).await?)
    }

    /// Store a new request and list it as open.
    pub async fn insert(&self, request: &PendingRequest) -> Result<()> {
        self.kv
            .put_json(&request_key(&request.accessor), request)
            .await?;
        self.kv
            .put(&format!("{OPEN_PREFIX}{}", request.accessor), b"")
            .await?;
        Ok(())
    }

    /// Remove a request that never took effect (its audit entry could not be written).
    pub async fn remove(&self, accessor: &str) -> Result<()> {
        self.kv.delete(&format!("{OPEN_PREFIX}{accessor}")).await?;
        Ok(self.kv.delete(&request_key(accessor)).await?)
    }

    /// Change the request `accessor` with no other writer in between (any node): `change` sees
    /// the current record and says whether to write it (returning an error leaves it as is).
    /// A record that leaves the open states is taken off the open list.
    pub async fn update<F>(&self, accessor: &str, mut change: F) -> Result<PendingRequest>
    where
        F: FnMut(&mut PendingRequest) -> std::result::Result<bool, Error>,
    {
        let mut refused = None;
        let updated = self
            .kv
            .update_json(
                &request_key(accessor),
                |r: &mut PendingRequest| match change(r) {
                    Ok(write) => {
                        refused = None;
                        write
                    }
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                },
            )
            .await?;
        if let Some(e) = refused {
            return Err(e);
        }
        let record = updated.ok_or_else(|| Error::invalid(no_such_request(accessor)))?;
        if !matches!(
            record.state,
            request::RequestState::Pending | request::RequestState::Approved
        ) {
            self.kv.delete(&format!("{OPEN_PREFIX}{accessor}")).await?;
        }
        Ok(record)
    }

    /// End the request `accessor` as expired if it is still open; the record as it now is.
    pub async fn expire(&self, accessor: &str) -> Result<PendingRequest> {
        self.update(accessor, |r| {
            let open = matches!(
                r.state,
                request::RequestState::Pending | request::RequestState::Approved
            );
            if open {
                r.state = request::RequestState::Expired;
            }
            Ok(open)
        })
        .await
    }

    /// How many requests are still open.
    pub async fn open_count(&self) -> Result<u64> {
        Ok(self.kv.list(OPEN_PREFIX).await?.len() as u64)
    }

    /// Requests still open (pending or approved, possibly past their expiry).
    pub async fn open_requests(&self) -> Result<Vec<PendingRequest>> {
        let mut out = Vec::new();
        for accessor in self.kv.list(OPEN_PREFIX).await? {
            if let Some(r) = self.request(&accessor).await? {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.created);
        Ok(out)
    }
}

fn request_key(accessor: &str) -> String {
    format!("{REQUEST_PREFIX}{accessor}")
}

/// The error for an accessor that names no request.
pub fn no_such_request(accessor: &str) -> String {
    format!("no control group request for accessor {accessor:?}")
}
