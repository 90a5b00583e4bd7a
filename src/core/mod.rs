//! Request routing: authenticate the token, then send the request to the system paths
//! (`sys/`), the token paths (`auth/token/`) or the mount that owns the path. A backend response
//! that plans a secret is turned into a lease here, through the lease engine.

pub mod acl;
pub mod api;
pub mod approvals;
pub mod cluster;
pub mod follow;
pub mod leading;
pub mod mounts;
pub mod quotas;
pub mod reconcile;
pub mod system;
pub mod ticker;
pub mod tidy_sweep;
pub mod token_paths;
pub mod token_roles;
pub mod tokens;
pub mod workloads;
pub mod wrapping;

use std::sync::Arc;

use leasehold_backend::{Fields, Operation, Request};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::auth::policy;
use crate::auth::token_store::auth_block;
use crate::auth::{TokenEntry, TokenStore};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::http::path as http_path;
use crate::lease::engine::IssueTarget;
use crate::lease::LeaseEngine;
use api::{ApiRequest, ApiResponse, Envelope, Method};
use mounts::MountTable;

/// Paths served without a token and without an audit entry: status probes that say nothing
/// about anyone's secrets.
const UNAUTHENTICATED: &[&str] = &["sys/health", "sys/seal-status", "sys/leader", "sys/init"];

/// Paths served without a token but audited like a login: `sys/wrapping/lookup` names a
/// wrapping token, and who asked about which one belongs on the record (Vault audits it too).
const UNAUTHENTICATED_AUDITED: &[&str] = &["sys/wrapping/lookup"];

/// The server's shared state.
pub struct Core {
    /// Audit devices.
    pub audit: Arc<crate::audit::AuditBroker>,
    /// Mounted secrets engines.
    pub mounts: Arc<MountTable>,
    /// Enabled auth methods (paths below `auth/`).
    pub auth_mounts: Arc<MountTable>,
    /// The lease engine.
    pub leases: Arc<LeaseEngine>,
    /// The token store: tokens and their life (create, renew, revoke with their leases).
    pub tokens: Arc<TokenStore>,
    /// ACL policies.
    pub policies: acl::PolicyStore,
    /// Time source.
    pub clock: SharedClock,
    /// `storage_type` reported by seal-status.
    pub storage_type: &'static str,
    /// Cluster id reported by health.
    pub cluster_id: String,
    /// Prometheus metrics (also a lease observer).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This node among those sharing the storage.
    pub cluster: Arc<cluster::Cluster>,
    /// Rate-limit and lease-count quotas.
    pub quotas: Arc<quotas::Quotas>,
    /// Approval tiers and requests (see [`approvals`]).
    pub approvals: Arc<crate::approval::Approvals>,
}

impl Core {
    /// Serve one request. `req.path` is canonical: it is what is authorized, routed, audited
    /// and written into lease ids, and nothing below re-derives it.
    pub async fn handle(&self, req: ApiRequest) -> Result<ApiResponse> {
        let route = req.route_path();
        let open_metrics = route == "sys/metrics" && self.metrics.unauthenticated_access();
        if UNAUTHENTICATED.contains(&route) || open_metrics {
            if req.wrap_ttl.is_some() {
                return Err(Error::invalid(format!(
                    "response wrapping is not supported on {route:?}"
                )));
            }
            let route = route.to_owned();
            return system::handle_unauthenticated(self, &req, &route).await;
        }
        self.check_wrap_request(&req)?;
        if UNAUTHENTICATED_AUDITED.contains(&route) {
            if req.wrap_ttl.is_some() {
                return Err(Error::invalid(format!(
                    "response wrapping is not supported on {route:?}"
                )));
            }
            let route = route.to_owned();
            let audited = req.clone();
            self.audit_request(&audited, None).await?;
            let result = system::handle_unauthenticated(self, &req, &route).await;
            return self.audit_response(&audited, None, result).await;
        }
        if let Some(login) = self.login_route(route) {
            let audited = req.clone();
            self.audit_request(&audited, None).await?;
            let result = self.login(req, login).await;
            let result = self.wrap_response(&audited, None, result).await;
            return self.audit_response(&audited, None, result).await;
        }
        if let Err(e) = self.check_named_wrapping_token(&req, route).await {
            let audited = req.clone();
            self.audit_request(&audited, None).await?;
            return self.audit_response(&audited, None, Err(e)).await;
        }
        let (token, last_use) = match self.authenticate(&req).await {
            // The caller is the wrapping token, and another request took its one use first.
            Err(Error::PermissionDenied) if wrapping::is_first_party_unwrap(&req, route) => {
                return Err(Error::invalid(wrapping::INVALID_TOKEN))
            }
            other => other?,
        };
        let audited = req.clone();
        self.audit_request(&audited, Some(&token)).await?;
        let result = self.serve(req, &token, last_use).await;
        let result = self.wrap_response(&audited, Some(&token), result).await;
        self.audit_response(&audited, Some(&token), result).await
    }

    /// Write the request entry; with audit devices enabled and none writing, refuse (fail closed).
    async fn audit_request(&self, req: &ApiRequest, token: Option<&TokenEntry>) -> Result<()> {
        if !self.audit.enabled() {
            return Ok(());
        }
        let now = self.clock.now();
        self.audit
            .log(|key| crate::audit::entry::request(key, now, req, &req.request_id, token))
            .await
    }

    /// Write the response entry. If no device records it, the answer is withheld, and a lease it
    /// carried is revoked: a credential nobody can account for must not be handed out.
    async fn audit_response(
        &self,
        req: &ApiRequest,
        token: Option<&TokenEntry>,
        result: Result<ApiResponse>,
    ) -> Result<ApiResponse> {
        if !self.audit.enabled() {
            return result;
        }
        let now = self.clock.now();
        let view = result.as_ref().map_err(|e| e.to_string());
        let logged = self
            .audit
            .log(|key| {
                crate::audit::entry::response(key, now, req, &req.request_id, token, view.clone())
            })
            .await;
        if let Err(e) = logged {
            if let Ok(ApiResponse::Ok(env)) = &result {
                if !env.lease_id.is_empty() {
                    let _ = self.leases.revoke(&env.lease_id, true).await;
                }
                // A wrapped credential goes too, and the wrapping token with what it holds.
                if let Some(wrap) = &env.wrap_info {
                    if !wrap.wrapped_lease_id.is_empty() {
                        let _ = self.leases.revoke(&wrap.wrapped_lease_id, true).await;
                    }
                    let _ = self.revoke_token(&wrap.accessor, false, true).await;
                }
            }
            return Err(e);
        }
        result
    }

    async fn serve(
        &self,
        req: ApiRequest,
        token: &TokenEntry,
        last_use: bool,
    ) -> Result<ApiResponse> {
        let result = self.dispatch(req, token).await;
        if last_use {
            // The token's last use: it ends now, and with it anything it just obtained.
            // (An unwrap hands over a lease obtained by another token: not this one's to end.)
            let issued_lease = !wrapping::is_wrapping_token(token)
                && matches!(&result, Ok(ApiResponse::Ok(env)) if !env.lease_id.is_empty());
            self.revoke_token(&token.accessor, false, true).await?;
            if issued_lease {
                return Err(Error::invalid(
                    "Secret cannot be returned; token had one use left, so leased credentials were immediately revoked.",
                ));
            }
        }
        result
    }

    async fn dispatch(&self, req: ApiRequest, token: &TokenEntry) -> Result<ApiResponse> {
        let route = req.route_path().to_owned();
        if http_path::below(&route, "sys").is_some() {
            self.authorize_request(token, &req, Self::method_capability(&req)?)
                .await?;
            return system::handle(self, &req, token, &route).await;
        }
        if let Some(rest) = http_path::below(&route, "auth/token") {
            self.authorize_request(token, &req, Self::method_capability(&req)?)
                .await?;
            return token_paths::handle(self, &req, token, rest).await;
        }
        if let Some(rest) = route.strip_prefix("auth/") {
            let (mount, below) = self
                .auth_mounts
                .route(rest)
                .ok_or_else(|| Error::NoRoute(route.clone()))?;
            return self.handle_backend(req, token, mount, below, None).await;
        }
        let (mount, below) = self
            .mounts
            .route(&route)
            .ok_or_else(|| Error::NoRoute(route.clone()))?;
        self.handle_backend(req, token, mount, below, None).await
    }

    /// The capability a system or token path needs, by verb (these paths have no existence
    /// check, so every write is an update, as in Vault).
    fn method_capability(req: &ApiRequest) -> Result<policy::Capability> {
        Ok(policy::Capability::for_operation(match req.method {
            Method::Get | Method::Head => Operation::Read,
            Method::List => Operation::List,
            Method::Write => Operation::Update,
            Method::Delete => Operation::Delete,
        }))
    }

    /// The caller's token entry; 403 for a missing, unknown or expired token, or one used from
    /// outside its bound CIDRs. Counts a use of a use-limited token; `true` when it was the last.
    async fn authenticate(&self, req: &ApiRequest) -> Result<(TokenEntry, bool)> {
        let token = req.token.as_ref().ok_or(Error::PermissionDenied)?;
        let entry = self
            .tokens
            .lookup(token.expose_secret(), self.clock.now())
            .await?;
        let mut entry = entry.ok_or(Error::PermissionDenied)?;
        // A wrapping token is good for unwrapping and nothing else: refused anywhere else
        // before its one use is taken, so a stray request cannot destroy what it guards.
        if wrapping::is_wrapping_token(&entry)
            && req.path.trim_matches('/') != "sys/wrapping/unwrap"
        {
            return Err(Error::PermissionDenied);
        }
        // An empty list binds nothing.
        if !crate::auth::cidr::allows(&entry.bound_cidrs, req.remote_addr) {
            return Err(Error::PermissionDenied);
        }
        let mut last_use = false;
        if entry.num_uses > 0 {
            // Counted in storage, not on the copy read above: concurrent requests (on any
            // node) must not share a use.
            entry = self
                .tokens
                .take_use(token.expose_secret())
                .await?
                .ok_or(Error::PermissionDenied)?;
            last_use = entry.uses_exhausted;
        }
        Ok((entry, last_use))
    }

    /// `Some((auth mount, path below it))` when `route` is an auth method's login path.
    fn login_route(&self, route: &str) -> Option<(mounts::Mount, String)> {
        let rest = route.strip_prefix("auth/")?;
        if http_path::below(rest, "token").is_some() {
            return None;
        }
        let (mount, below) = self.auth_mounts.route(rest)?;
        http_path::below(&below, "login")
            .is_some()
            .then_some((mount, below))
    }

    /// The role an auth-method login names (AppRole: through its `role_id`; JWT: `role` or the
    /// default role), for rate-limit quotas; `None` for any other request. A role that cannot
    /// be resolved is no role: the login itself then answers for its input.
    pub(crate) async fn login_role(&self, req: &ApiRequest) -> Option<String> {
        let (mount, below) = self.login_route(req.route_path())?;
        let backend_req = Request {
            operation: Operation::Update,
            path: below,
            fields: Fields::new(req.data.clone()),
            storage: mount.view.clone(),
            mount_path: mount.entry.path.clone(),
            display_name: String::new(),
            remote_addr: req.remote_addr,
        };
        mount.backend.login_role(&backend_req).await.ok().flatten()
    }

    /// An auth method's login: the backend checks the credentials and answers a grant; the core
    /// mints an orphan token for it.
    async fn login(
        &self,
        req: ApiRequest,
        (mount, below): (mounts::Mount, String),
    ) -> Result<ApiResponse> {
        let backend_req = Request {
            operation: match req.method {
                Method::Write => Operation::Update,
                Method::Get => Operation::Read,
                _ => return Err(Error::UnsupportedOperation),
            },
            path: below,
            fields: Fields::new(req.data),
            storage: mount.view.clone(),
            mount_path: mount.entry.path.clone(),
            display_name: String::new(),
            remote_addr: req.remote_addr,
        };
        let response = mount.backend.handle(backend_req).await?;
        let grant = response
            .and_then(|r| r.auth)
            .ok_or_else(|| Error::Internal("login answered without a grant".into()))?;
        let ttls = self.auth_mounts.ttls(&mount.entry);
        let prefix = mount.entry.path.trim_end_matches('/').replace('/', "-");
        let display_name = format!("{prefix}-{}", grant.display_name)
            .trim_end_matches('-')
            .to_owned();
        let display_name =
            if grant.display_name.is_empty() || grant.display_name == mount.entry.kind {
                prefix
            } else {
                display_name
            };
        let spec = crate::auth::token_store::TokenSpec {
            policies: grant.policies,
            no_default_policy: grant.no_default_policy,
            meta: grant.metadata,
            ttl: if grant.ttl.is_zero() {
                ttls.default_ttl
            } else {
                grant.ttl
            },
            max_ttl: if grant.max_ttl.is_zero() {
                ttls.max_ttl
            } else {
                grant.max_ttl.min(ttls.max_ttl)
            },
            explicit_max_ttl: std::time::Duration::ZERO,
            period: grant.period,
            num_uses: grant.num_uses,
            renewable: true,
            display_name,
            path: format!("auth/{}login", mount.entry.path),
            parent: None,
            workload: format!(
                "auth/{}{}",
                mount.entry.path,
                grant.workload.trim_start_matches('/')
            ),
            bound_cidrs: grant.bound_cidrs,
            id: None,
        };
        let (token, entry) = self.create_token(spec).await?;
        Ok(ApiResponse::Ok(Envelope {
            auth: Some(auth_block(&entry, entry.creation_ttl)),
            client_token: Some(token.0),
            mount_type: mount.entry.kind.clone(),
            ..Envelope::default()
        }))
    }

    /// Serve a request below a mount as `token`. `approved` is the approved request being
    /// collected (`approvals::collect`), which stands in for the approval the role's tier asks.
    async fn handle_backend(
        &self,
        req: ApiRequest,
        token: &TokenEntry,
        mount: mounts::Mount,
        rest: String,
        approved: Option<&crate::approval::request::PendingRequest>,
    ) -> Result<ApiResponse> {
        let mut req = req;
        let path = req.path.clone();
        let wrap_ttl = req.wrap_ttl;
        // Parameter constraints see every field the caller sent, ours included.
        let sent = req.data.clone();
        // Why the caller needs a credential: ours, not the engine's, so taken out of its fields.
        let text = |v: Option<Value>| {
            v.and_then(|v| v.as_str().map(|s| s.trim().to_owned()))
                .filter(|s| !s.is_empty())
        };
        let purpose = text(req.data.remove("purpose")).or_else(|| req.purpose_header.clone());
        let ticket = text(req.data.remove("ticket"));
        let break_glass = approvals::take_break_glass(&mut req.data)?;
        // What the engine is asked, kept to be replayed if the request waits for approval.
        let asked_data = req.data.clone();
        let request_id = req.request_id.clone();
        let mut backend_req = Request {
            operation: match req.method {
                Method::Get if req.is_list() => Operation::List,
                Method::Get => Operation::Read,
                Method::List => Operation::List,
                Method::Write => Operation::Update,
                Method::Delete => Operation::Delete,
                Method::Head => return Err(Error::UnsupportedOperation),
            },
            // Below the mount, as routed: anchored, so a trailing `/` is the backend's to refuse.
            path: rest,
            fields: Fields::new(req.data),
            storage: mount.view.clone(),
            mount_path: mount.entry.path.clone(),
            display_name: token.display_name.clone(),
            remote_addr: req.remote_addr,
        };
        if backend_req.operation == Operation::Update
            && mount.backend.exists(&backend_req).await? == Some(false)
        {
            backend_req.operation = Operation::Create;
        }
        let operation = backend_req.operation;
        let held_by = self
            .authorize_held(
                token,
                &path,
                policy::Capability::for_operation(operation),
                &sent,
                wrap_ttl,
            )
            .await?;
        let policy_cleared = approved.is_some_and(|r| r.policy_cleared);
        if let Some(held_by) = held_by.filter(|_| !policy_cleared) {
            if break_glass {
                return Err(Error::invalid(
                    "break_glass bypasses a role's approval tier, not a policy's control_group",
                ));
            }
            let asked = approvals::Asked {
                token,
                path: &path,
                operation,
                data: &asked_data,
                mount_path: &mount.entry.path,
                role: "",
                purpose: purpose.as_deref(),
                ticket: ticket.as_deref(),
                request_id: &request_id,
                break_glass,
                policy_cleared: false,
            };
            return self.hold_for_policy(asked, held_by).await;
        }
        let mount_type = mount.backend.mount_type();
        let response = mount.backend.handle(backend_req).await?;
        let Some(response) = response else {
            return match operation {
                Operation::Read | Operation::List => Err(Error::NotFound),
                _ => Ok(ApiResponse::NoContent),
            };
        };
        if let Some(mut planned) = response.secret {
            // A lease is renewable only when its engine can renew what it made.
            let secrets = mount.backend.secrets().ok_or_else(|| {
                Error::Internal(format!(
                    "mount {} planned a secret but has no secret lifecycle",
                    mount.entry.path
                ))
            })?;
            planned.renewable &= secrets.renewer().is_some();
            if planned.require_purpose && purpose.is_none() {
                return Err(Error::invalid(format!(
                    "role {:?} requires a purpose: say why you need this credential with the \"purpose\" field (and \"ticket\" if you have one) or the X-Leasehold-Purpose header",
                    planned.role
                )));
            }
            let role = planned.role.clone();
            let cleared = self
                .approval_check(
                    &mut planned,
                    approved,
                    approvals::Asked {
                        token,
                        path: &path,
                        operation,
                        data: &asked_data,
                        mount_path: &mount.entry.path,
                        role: &role,
                        purpose: purpose.as_deref(),
                        ticket: ticket.as_deref(),
                        request_id: &request_id,
                        break_glass,
                        policy_cleared,
                    },
                )
                .await?;
            let cleared = match cleared {
                Ok(cleared) => cleared,
                Err(held) => return Ok(held),
            };
            let target = IssueTarget {
                purpose,
                ticket,
                // The approval a collected request came through, for the access history.
                trail: crate::storage::LeaseTrail {
                    approval_id: approved.map(|r| r.accessor.clone()),
                    requested_at: approved.map(|r| r.created),
                    approved_at: approved.and_then(|r| r.approved_at),
                    ..Default::default()
                },
                mount_uuid: mount.entry.uuid.clone(),
                mount_path: mount.entry.path.clone(),
                request_path: path.to_string(),
                token_accessor: token.accessor.clone(),
                workload: token.workload.clone(),
                // Lease-count quotas decide, with the count, whether the row may be written.
                admission: Some(self.quotas.clone()),
            };
            let issued = self.leases.issue(target, planned).await?;
            if let Some(cleared) = cleared {
                self.record_collected(&cleared.subject, &issued.lease.id)
                    .await?;
            }
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
        if break_glass {
            return Err(Error::invalid(format!(
                "break_glass applies only to requests for credentials; {path} issues none"
            )));
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
