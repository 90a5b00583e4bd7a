//! What a token or workload revocation did, as the caller hears it: tokens revoked, and each
//! lease (account) destroyed with them or still being retried.

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::lease::{revoke_failures, DestroyError};

/// What a token revocation did.
#[derive(Debug, Default)]
pub struct RevokeReport {
    /// Tokens revoked (the token and its descendants).
    pub tokens: usize,
    /// Leases whose accounts were destroyed (or queued, when not sync).
    pub leases: Vec<RevokedLease>,
    /// Leases whose destruction failed, with why (and so whose fault); they stay `revoking`
    /// and are retried.
    pub failures: Vec<(String, DestroyError)>,
}

/// One lease revoked with a token or workload.
#[derive(Debug, Clone)]
pub struct RevokedLease {
    /// Lease id.
    pub lease_id: String,
    /// Account on the target.
    pub account: String,
    /// Mount.
    pub mount: String,
}

impl RevokeReport {
    /// The error for a caller who needs every lease gone (disabling a mount, a token's expiry
    /// row): every failure listed, a server error when any is ours, else Vault's revoke failure
    /// (see [`revoke_failures`]). `None` when nothing failed. The failures are taken.
    pub fn take_failures(&mut self) -> Option<Error> {
        revoke_failures(std::mem::take(&mut self.failures))
    }

    /// The 200 answer of a revoke call: the report as data, a warning per lease still live.
    pub fn into_response(self, mount_type: &str) -> crate::core::api::ApiResponse {
        let warnings = self
            .failures
            .iter()
            .map(|(id, e)| {
                format!("lease {id} could not be destroyed yet and will be retried: {e}")
            })
            .collect();
        crate::core::api::ApiResponse::Ok(crate::core::api::Envelope {
            data: Some(self.to_json()),
            warnings,
            mount_type: mount_type.into(),
            ..crate::core::api::Envelope::default()
        })
    }

    /// The report as response data.
    pub fn to_json(&self) -> Map<String, Value> {
        let failed: std::collections::HashMap<&str, String> = self
            .failures
            .iter()
            .map(|(id, e)| (id.as_str(), e.to_string()))
            .collect();
        let mut m = Map::new();
        m.insert("revoked_tokens".into(), json!(self.tokens));
        m.insert(
            "revoked_leases".into(),
            json!(self.leases.len() - self.failures.len().min(self.leases.len())),
        );
        m.insert("failed_leases".into(), json!(self.failures.len()));
        let leases: Vec<Value> = self
            .leases
            .iter()
            .map(|l| {
                json!({
                    "lease_id": l.lease_id, "account": l.account, "mount": l.mount,
                    "destroyed": !failed.contains_key(l.lease_id.as_str()),
                    "error": failed.get(l.lease_id.as_str()),
                })
            })
            .collect();
        m.insert("leases".into(), Value::Array(leases));
        m
    }
}
