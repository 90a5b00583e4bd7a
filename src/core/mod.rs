//! Request routing: authenticate the token, then send the request to the system paths
//! (`sys/`), the token paths (`auth/token/`) or the mount that owns the path. A backend response
//! that plans a secret is turned into a lease here, through the lease engine.

pub mod api;
pub mod mounts;
pub mod system;
pub mod token_paths;

use std::sync::Arc;

use leasehold_backend::{Fields, Operation, Request};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::auth::{TokenEntry, TokenStore};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::lease::engine::IssueTarget;
use crate::lease::LeaseEngine;
use api::{ApiRequest, ApiResponse, Envelope, Method};
use mounts::MountTable;

/// Paths served without a token.
const UNAUTHENTICATED: &[&str] = &["sys/health", "sys/seal-status", "sys/leader", "sys/init"];

/// The server's shared state.
pub struct Core {
    /// Mounted secrets engines.
    pub mounts: Arc<MountTable>,
    /// The lease engine.
    pub leases: Arc<LeaseEngine>,
    /// Tokens.
    pub tokens: TokenStore,
    /// Time source.
    pub clock: SharedClock,
    /// `storage_type` reported by seal-status.
    pub storage_type: &'static str,
    /// Cluster id reported by health.
    pub cluster_id: String,
}

impl Core {
    /// Serve one request.
    pub async fn handle(&self, req: ApiRequest) -> Result<ApiResponse> {
        let path = req.path.trim_start_matches('/').to_owned();
        let bare = path.trim_end_matches('/');
        if UNAUTHENTICATED.contains(&bare) {
            return system::handle_unauthenticated(self, &req, bare).await;
        }
        let token = self.authenticate(&req).await?;
        if path.starts_with("sys/") || bare == "sys" {
            return system::handle(self, &req, &token, &path).await;
        }
        if let Some(rest) = path.strip_prefix("auth/token/") {
            return token_paths::handle(self, &req, &token, rest).await;
        }
        self.handle_mount(req, &token, &path).await
    }

    /// The caller's token entry; 403 for a missing, unknown or expired token.
    async fn authenticate(&self, req: &ApiRequest) -> Result<TokenEntry> {
        let token = req.token.as_ref().ok_or(Error::PermissionDenied)?;
        let entry = self
            .tokens
            .lookup(token.expose_secret(), self.clock.now())
            .await?;
        let entry = entry.ok_or(Error::PermissionDenied)?;
        // Only root tokens exist until ACL policies land (issue 4); anything else is refused.
        if !entry.is_root() {
            return Err(Error::PermissionDenied);
        }
        Ok(entry)
    }

    async fn handle_mount(
        &self,
        req: ApiRequest,
        token: &TokenEntry,
        path: &str,
    ) -> Result<ApiResponse> {
        let (mount, rest) = self
            .mounts
            .route(path)
            .ok_or_else(|| Error::NoRoute(path.trim_end_matches('/').to_owned()))?;
        let mut backend_req = Request {
            operation: match req.method {
                Method::Get if req.is_list() => Operation::List,
                Method::Get => Operation::Read,
                Method::List => Operation::List,
                Method::Write => Operation::Update,
                Method::Delete => Operation::Delete,
                Method::Head => return Err(Error::UnsupportedOperation),
            },
            path: rest.trim_matches('/').to_owned(),
            fields: Fields::new(req.data),
            storage: mount.view.clone(),
            mount_path: mount.entry.path.clone(),
            display_name: token.display_name.clone(),
            remote_addr: None,
        };
        if backend_req.operation == Operation::Update
            && mount.backend.exists(&backend_req).await? == Some(false)
        {
            backend_req.operation = Operation::Create;
        }
        let operation = backend_req.operation;
        let mount_type = mount.backend.mount_type();
        let response = mount.backend.handle(backend_req).await?;
        let Some(response) = response else {
            return match operation {
                Operation::Read | Operation::List => Err(Error::NotFound),
                _ => Ok(ApiResponse::NoContent),
            };
        };
        if let Some(planned) = response.secret {
            let target = IssueTarget {
                mount_uuid: mount.entry.uuid.clone(),
                mount_path: mount.entry.path.clone(),
                request_path: path.trim_end_matches('/').to_owned(),
                token_accessor: token.accessor.clone(),
            };
            let issued = self.leases.issue(target, planned).await?;
            let mut warnings = response.warnings;
            warnings.extend(issued.warning);
            return Ok(ApiResponse::Ok(Envelope {
                lease_id: issued.lease.id,
                renewable: issued.lease.renewable,
                lease_duration: issued.ttl.as_secs(),
                data: Some(issued.credentials.data),
                secret_data: issued.credentials.secrets,
                warnings,
                mount_type: mount_type.into(),
                ..Envelope::default()
            }));
        }
        if operation == Operation::List
            && list_is_empty(response.data.as_ref())
            && response.warnings.is_empty()
        {
            return Err(Error::NotFound);
        }
        Ok(ApiResponse::Ok(Envelope {
            data: response.data,
            warnings: response.warnings,
            mount_type: mount_type.into(),
            ..Envelope::default()
        }))
    }
}

/// Vault answers an empty list with 404.
pub(crate) fn list_is_empty(data: Option<&serde_json::Map<String, Value>>) -> bool {
    match data.and_then(|d| d.get("keys")) {
        Some(Value::Array(keys)) => keys.is_empty(),
        _ => true,
    }
}

/// `{"keys": [...]}`.
pub(crate) fn keys(keys: Vec<String>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("keys".into(), json!(keys));
    m
}
