//! Requests past their time end as `expired`: checked every [`INTERVAL`] by the leader (one node
//! does it, so each expiry is recorded once). The wrapping token expires with the request (same
//! TTL) and is reaped by the lease engine like any token; the sweep revokes it too, so a request
//! the clock has passed cannot be collected in the moment before the token's row is reaped.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tracing::warn;

use super::super::Core;
use super::role_label;
use crate::approval::events::{self, Subject};
use crate::approval::request::RequestState;
use crate::error::Result;

/// How often the leader looks.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Run until `shutdown`, sweeping while this node leads.
pub async fn run(core: Arc<Core>, leader: watch::Receiver<bool>, shutdown: watch::Receiver<bool>) {
    super::super::leading::while_leading(leader, shutdown, || async {
        if let Err(e) = core.expire_approval_requests().await {
            warn!(error = %e, "approval request sweep failed; retrying");
        }
        INTERVAL
    })
    .await
}

impl Core {
    /// End every open request whose time is up; how many were ended.
    pub async fn expire_approval_requests(&self) -> Result<usize> {
        let now = self.leases.now_ms();
        let mut ended = 0;
        for r in self.approvals.open_requests().await? {
            if !r.is_past(now) {
                continue;
            }
            let entry = events::entry(
                now,
                "expired",
                &Subject::of(&r),
                events::fields([
                    (
                        "reason",
                        json!(match r.state {
                            RequestState::Approved => "approved but not collected in time",
                            _ => "not approved in time",
                        }),
                    ),
                    ("approvals", json!(r.approvals.len())),
                ]),
            );
            self.audit.log(|_| entry.clone()).await?;
            let updated = self.approvals.expire(&r.accessor).await?;
            let _ = self.revoke_token(&r.accessor, false, true).await;
            if updated.state == RequestState::Expired {
                if r.state == RequestState::Pending {
                    let waited = (now - r.created).to_std().unwrap_or(Duration::ZERO);
                    self.metrics.approval_decided(
                        &role_label(&r.mount_path, &r.role),
                        "expired",
                        waited,
                    );
                }
                ended += 1;
            }
        }
        Ok(ended)
    }
}
