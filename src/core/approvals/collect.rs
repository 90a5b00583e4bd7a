//! Collecting an approved request: `sys/wrapping/unwrap` with its token. The token's one use is
//! taken only once the request is approved ([`check_collectable`] runs before it is taken), and
//! whoever takes it replays the stored request as the requester — re-authorized against the
//! requester's policies now, through the same engine path — so the account is created now, its
//! lease belongs to the requester's token, and a revoked requester cannot collect.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tracing::info;

use super::super::api::{ApiRequest, ApiResponse, Method};
use super::super::Core;
use crate::approval::events::{self, Subject};
use crate::approval::request::{PendingRequest, RequestState};
use crate::error::{Error, Result};
use crate::http::path::CanonicalPath;

/// Before the token's use is taken: only an approved, unexpired request may be collected, and
/// an approval request's token is never rewrapped (it guards a request, not a response).
pub fn check_collectable(request: &PendingRequest, bare: &str, now: DateTime<Utc>) -> Result<()> {
    if bare != "sys/wrapping/unwrap" {
        return Err(Error::invalid(
            "an approval request's token cannot be rewrapped; unwrap it once the request is approved",
        ));
    }
    if request.is_past(now) {
        return Err(Error::invalid(format!(
            "control group request {} has expired and can never be collected",
            request.accessor
        )));
    }
    match request.state {
        RequestState::Approved => Ok(()),
        RequestState::Pending => Err(Error::invalid(format!(
            "Request needs further approval: control group request {} is pending ({} of its factors met)",
            request.accessor,
            request.met_factors()
        ))),
        other => Err(Error::invalid(format!(
            "control group request {} is {} and can never be collected",
            request.accessor,
            other.as_str()
        ))),
    }
}

impl Core {
    /// Issue what the approved request `accessor` asked for. The caller took the wrapping
    /// token's one use.
    pub(crate) async fn collect(
        &self,
        unwrap: &ApiRequest,
        accessor: &str,
        request: PendingRequest,
    ) -> Result<ApiResponse> {
        // The token is spent: revoke it (and its wrapping records) whatever happens next.
        let _ = self.open_wrapped(accessor).await;
        let now = self.leases.now_ms();
        check_collectable(&request, "sys/wrapping/unwrap", now)?;
        let requester = self
            .tokens
            .by_accessor(&request.requester.accessor)
            .await?
            .filter(|t| t.is_live(now));
        let live = match &requester {
            Some(t) => self.tokens.ancestors_live(t, now).await?,
            None => false,
        };
        let Some(requester) = requester.filter(|_| live) else {
            self.fail_collection(
                &request,
                "the token that made the request is no longer valid",
            )
            .await;
            return Err(Error::invalid(format!(
                "control group request {accessor} cannot be collected: the token that made it is no longer valid"
            )));
        };
        let mut data = request.data.clone();
        if let Some(p) = &request.purpose {
            data.insert("purpose".into(), json!(p));
        }
        if let Some(t) = &request.ticket {
            data.insert("ticket".into(), json!(t));
        }
        let replay = ApiRequest {
            method: if request.operation == "read" {
                Method::Get
            } else {
                Method::Write
            },
            path: CanonicalPath::parse(&request.path)?,
            data,
            token: None,
            remote_addr: unwrap.remote_addr,
            request_id: unwrap.request_id.clone(),
            purpose_header: None,
            wrap_ttl: None,
        };
        let routed = match request.path.strip_prefix("auth/") {
            Some(rest) => self.auth_mounts.route(rest),
            None => self.mounts.route(&request.path),
        };
        let (mount, below) = routed.ok_or_else(|| Error::NoRoute(request.path.clone()))?;
        let answer = match self
            .handle_backend(replay, &requester, mount, below, Some(&request))
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                self.fail_collection(&request, &e.to_string()).await;
                return Err(e);
            }
        };
        // What the request ended in: a lease; or none, for a request a policy held that
        // issues nothing, or one the role's tier holds again (its own request takes over).
        let lease_id = match &answer {
            ApiResponse::Ok(env) => env.lease_id.clone(),
            _ => String::new(),
        };
        let collected = self
            .approvals
            .update(accessor, |r| {
                if r.state != RequestState::Approved {
                    return Err(Error::invalid(format!(
                        "control group request {accessor} is {}",
                        r.state.as_str()
                    )));
                }
                r.state = RequestState::Collected;
                r.collected_at = Some(now);
                r.lease_id = Some(lease_id.clone()).filter(|l| !l.is_empty());
                Ok(true)
            })
            .await;
        if let Err(e) = collected {
            if !lease_id.is_empty() {
                let _ = self.leases.revoke(&lease_id, true).await;
            }
            return Err(e);
        }
        self.record_collected(&Subject::of(&request), &lease_id)
            .await?;
        info!(approval.accessor = %accessor, lease_id = %lease_id, "control group request {accessor} collected");
        Ok(answer)
    }

    /// The request was spent without a credential: it ends as expired, with the reason.
    async fn fail_collection(&self, request: &PendingRequest, why: &str) {
        let ended = self.approvals.expire(&request.accessor).await;
        if ended.is_ok() {
            let entry = events::entry(
                self.leases.now_ms(),
                "expired",
                &Subject::of(request),
                events::fields([("reason", Value::String(format!("collection failed: {why}")))]),
            );
            let _ = self.audit.log(|_| entry.clone()).await;
        }
    }
}
