//! Approval in the request pipeline (the records and rules are `crate::approval`):
//! - [`Core::approval_gate`] runs when a mount plans a secret for a role that names a tier,
//!   before anything is written: break-glass and auto-approval rules clear the request at once;
//!   otherwise it is held — stored with a wrapping token as its handle, nothing created.
//! - `collect.rs`: unwrapping an approved request's token replays the request as its requester,
//!   so the credential, its lease and its privilege start then.
//! - `paths.rs`: `sys/control-group/*`, `sys/approval/tiers/*`, `sys/config/control-group`.
//! - `sweep.rs`: requests past their time are marked expired (on the leader).
//!
//! Every step writes its audit entry and waits for it before it takes effect, so the log never
//! misses a step that happened (it may show one whose storage write then failed).

pub mod collect;
pub mod paths;
pub mod sweep;

use std::time::Duration;

use leasehold_backend::Operation;
use serde_json::{json, Map, Value};
use tracing::info;

use super::api::{ApiResponse, Envelope};
use super::Core;
use crate::approval::events::{self, Subject};
use crate::approval::request::{Party, PendingRequest, RequestState};
use crate::approval::rules::{first_holding, RuleContext};
use crate::approval::tier::Tier;
use crate::auth::TokenEntry;
use crate::error::{Error, Result};

/// A request for a credential whose role names an approval tier, as the pipeline saw it.
pub struct Asked<'a> {
    /// The requester.
    pub token: &'a TokenEntry,
    /// Canonical path.
    pub path: &'a str,
    /// Read or update.
    pub operation: Operation,
    /// The fields the engine got (without purpose, ticket and break_glass).
    pub data: &'a Map<String, Value>,
    /// Mount path.
    pub mount_path: &'a str,
    /// Role.
    pub role: &'a str,
    /// Why.
    pub purpose: Option<&'a str>,
    /// Ticket.
    pub ticket: Option<&'a str>,
    /// The HTTP request's id.
    pub request_id: &'a str,
    /// The requester asked to bypass approval.
    pub break_glass: bool,
    /// A policy's control group already approved this request (it is being collected).
    pub policy_cleared: bool,
}

impl Asked<'_> {
    fn subject(&self, tier: &str, accessor: &str) -> Subject {
        Subject {
            request_id: self.request_id.to_owned(),
            accessor: accessor.to_owned(),
            tier: tier.to_owned(),
            path: self.path.to_owned(),
            mount: self.mount_path.to_owned(),
            role: self.role.to_owned(),
            requester: Party::of(self.token),
            purpose: self.purpose.map(str::to_owned),
            ticket: self.ticket.map(str::to_owned),
        }
    }
}

/// What the gate decided.
pub enum Gate {
    /// Issue now: by rule or by break-glass. The issue must then be recorded with
    /// [`Core::record_collected`].
    Cleared(Cleared),
    /// Held for approval: answer this (a wrapped response) and create nothing.
    Held(ApiResponse),
}

/// A request cleared without waiting.
pub struct Cleared {
    /// What the entries are about.
    pub subject: Subject,
    /// Break-glass: the credential lives at most this long.
    pub ttl_cap: Option<Duration>,
}

/// The tier name a request held by a policy's `control_group` carries.
pub const POLICY_TIER: &str = "policy";

/// `<mount><role>`: the label of approval metrics.
pub fn role_label(mount: &str, role: &str) -> String {
    format!("{mount}{role}")
}

/// Take `break_glass` out of a request's fields: only `true`/`false` (or their strings).
pub fn take_break_glass(data: &mut Map<String, Value>) -> Result<bool> {
    match data.remove("break_glass") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(Value::String(s)) => match s.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            other => Err(Error::invalid(format!(
                "break_glass: {other:?} is not true or false"
            ))),
        },
        Some(other) => Err(Error::invalid(format!(
            "break_glass: {other} is not true or false"
        ))),
    }
}

impl Core {
    /// Decide what happens to a request for a credential of a role that names tier `tier_name`.
    pub async fn approval_gate(&self, asked: Asked<'_>, tier_name: &str) -> Result<Gate> {
        let tier = self.approvals.tier(tier_name).await?.ok_or_else(|| {
            Error::invalid(format!(
                "role {:?} requires approval tier {tier_name:?}, which does not exist; nothing was issued (an operator must write sys/approval/tiers/{tier_name})",
                asked.role
            ))
        })?;
        let now = self.leases.now_ms();
        if asked.break_glass {
            return self.break_glass(&asked, tier_name, &tier).await;
        }
        let needs_count = tier
            .auto_approve
            .iter()
            .any(|r| r.max_live_leases.is_some());
        let live_leases = if needs_count {
            self.leases
                .storage()
                .lease_count_live(asked.mount_path, Some(asked.role))
                .await?
        } else {
            0
        };
        let ctx = RuleContext {
            workload: &asked.token.workload,
            policies: &asked.token.policies,
            ticket: asked.ticket,
            now,
            live_leases,
        };
        let misses = match first_holding(&tier.auto_approve, &ctx) {
            Ok(rule) => {
                let subject = asked.subject(tier_name, "");
                let entry = events::entry(
                    now,
                    "auto_approved",
                    &subject,
                    events::fields([("rule", json!(rule.name))]),
                );
                self.audit.log(|_| entry.clone()).await?;
                self.metrics.approval_decided(
                    &role_label(asked.mount_path, asked.role),
                    "auto_approved",
                    Duration::ZERO,
                );
                info!(approval.rule = %rule.name, path = %asked.path, "request for {} approved by rule {}", asked.path, rule.name);
                return Ok(Gate::Cleared(Cleared {
                    subject,
                    ttl_cap: None,
                }));
            }
            Err(misses) => misses,
        };
        if tier.factors.is_empty() {
            return Err(Error::invalid(format!(
                "tier {tier_name:?} approves by rule only, and no rule holds: {}",
                misses.join("; ")
            )));
        }
        self.hold(&asked, tier_name, &tier, misses, false)
            .await
            .map(Gate::Held)
    }

    /// Break-glass: allowed by the tier, with a purpose; recorded and announced before the
    /// credential exists.
    async fn break_glass(&self, asked: &Asked<'_>, tier_name: &str, tier: &Tier) -> Result<Gate> {
        if !tier.break_glass {
            return Err(Error::invalid(format!(
                "break_glass: tier {tier_name:?} does not allow break-glass; ask for approval instead"
            )));
        }
        if asked.purpose.is_none() {
            return Err(Error::invalid(
                "break_glass requires a purpose: say why with the \"purpose\" field or the X-Leasehold-Purpose header",
            ));
        }
        let subject = asked.subject(tier_name, "");
        let ttl = tier.break_glass_ttl();
        let entry = events::entry(
            self.leases.now_ms(),
            "break_glass",
            &subject,
            events::fields([("ttl_cap_seconds", json!(ttl.as_secs()))]),
        );
        self.audit.log(|_| entry.clone()).await?;
        self.metrics
            .break_glass_used(&role_label(asked.mount_path, asked.role));
        tracing::warn!(path = %asked.path, workload = %asked.token.workload, "BREAK-GLASS: {} issued without approval to {}", asked.path, asked.token.display_name);
        self.notify("approval.break_glass", &entry).await;
        Ok(Gate::Cleared(Cleared {
            subject,
            ttl_cap: Some(ttl),
        }))
    }

    /// Store the request behind a new wrapping token and answer with the token.
    async fn hold(
        &self,
        asked: &Asked<'_>,
        tier_name: &str,
        tier: &Tier,
        misses: Vec<String>,
        by_policy: bool,
    ) -> Result<ApiResponse> {
        let config = self.approvals.config().await?;
        let mut ttl = tier.approval_ttl().min(self.mounts.system_ttls().max_ttl);
        if let Some(cap) = config.max_ttl() {
            ttl = ttl.min(cap);
        }
        let info = self
            .mint_control_group_token(asked.token.display_name.clone(), asked.path, ttl)
            .await?;
        let now = info.creation_time;
        let request = PendingRequest {
            accessor: info.accessor.clone(),
            request_id: asked.request_id.to_owned(),
            tier_name: tier_name.to_owned(),
            factors: tier.factors.clone(),
            path: asked.path.to_owned(),
            operation: match asked.operation {
                Operation::Read => "read",
                _ => "update",
            }
            .to_owned(),
            data: asked.data.clone(),
            mount_path: asked.mount_path.to_owned(),
            role: asked.role.to_owned(),
            purpose: asked.purpose.map(str::to_owned),
            ticket: asked.ticket.map(str::to_owned),
            requester: Party::of(asked.token),
            requester_ancestors: self.ancestors(asked.token).await?,
            created: now,
            expires: now
                + chrono::Duration::from_std(ttl)
                    .map_err(|_| Error::invalid("approval_ttl is too long"))?,
            state: RequestState::Pending,
            approvals: Vec::new(),
            denial: None,
            approved_at: None,
            collected_at: None,
            lease_id: None,
            by_policy,
            policy_cleared: by_policy || asked.policy_cleared,
        };
        let stored = async {
            self.approvals.insert(&request).await?;
            let entry = events::entry(
                now,
                "requested",
                &Subject::of(&request),
                events::fields([
                    ("factors", json!(request.factors)),
                    ("expires", json!(request.expires)),
                    ("auto_approve_misses", json!(misses)),
                ]),
            );
            self.audit.log(|_| entry.clone()).await?;
            Ok::<_, Error>(entry)
        };
        match stored.await {
            Ok(entry) => {
                info!(approval.accessor = %request.accessor, path = %request.path, "request for {} held for approval under tier {tier_name}", request.path);
                self.notify("approval.requested", &entry).await;
                Ok(ApiResponse::Ok(Envelope {
                    wrap_info: Some(info),
                    ..Envelope::default()
                }))
            }
            Err(e) => {
                // Not on the record, so not a request: nothing of it may remain.
                let _ = self.approvals.remove(&request.accessor).await;
                let _ = self.revoke_token(&request.accessor, false, true).await;
                Err(e)
            }
        }
    }

    /// Record that a cleared (or approved) request became lease `lease_id`. If the entry cannot
    /// be written, the credential is revoked: privilege nobody can account for is not handed out.
    pub async fn record_collected(&self, subject: &Subject, lease_id: &str) -> Result<()> {
        let entry = events::entry(
            self.leases.now_ms(),
            "collected",
            subject,
            events::fields([("lease_id", json!(lease_id))]),
        );
        if let Err(e) = self.audit.log(|_| entry.clone()).await {
            if !lease_id.is_empty() {
                let _ = self.leases.revoke(lease_id, true).await;
            }
            return Err(e);
        }
        Ok(())
    }

    /// The accessors above `token` in its token tree (none of them may approve its requests).
    pub(crate) async fn ancestors(&self, token: &TokenEntry) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = token.parent.clone();
        while let Some(accessor) = next {
            if out.len() >= 64 || out.contains(&accessor) {
                break;
            }
            next = self
                .tokens
                .by_accessor(&accessor)
                .await?
                .and_then(|p| p.parent);
            out.push(accessor);
        }
        Ok(out)
    }

    /// Send an approval entry to the webhook, if one is configured (read from storage each time,
    /// so every node follows a change at once; approval events are rare).
    pub(crate) async fn notify(&self, event: &str, entry: &Value) {
        match self.approvals.config().await {
            Ok(config) => {
                self.approvals.notifier.configure(config.webhook());
                self.approvals.notifier.notify(event, entry.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, "approval webhook not sent: configuration unreadable")
            }
        }
    }

    /// Every metric, with the approval requests still open counted now.
    pub async fn render_metrics(&self) -> Result<String> {
        let open = self.approvals.open_count().await?;
        self.metrics.render(&self.leases, open).await
    }
}

impl Core {
    /// The approval step of issuing `planned`: `Ok(Ok(None))` issue as usual, `Ok(Ok(Some))`
    /// issue and record the collection (cleared by rule or break-glass; a break-glass TTL cap is
    /// applied to `planned` here), `Ok(Err(answer))` held: answer this and issue nothing.
    /// `approved` is the approved request being collected, if this is a collection.
    pub(crate) async fn approval_check(
        &self,
        planned: &mut leasehold_backend::PlannedSecret,
        approved: Option<&PendingRequest>,
        asked: Asked<'_>,
    ) -> Result<std::result::Result<Option<Cleared>, ApiResponse>> {
        let tier = planned.approval_tier.clone();
        match (tier, approved) {
            (_, Some(_)) if asked.break_glass => Err(Error::invalid(
                "break_glass cannot be combined with collecting an approved request",
            )),
            (Some(tier), Some(request)) if !request.by_policy && tier != request.tier_name => {
                Err(Error::invalid(format!(
                    "role {:?} now requires approval tier {tier:?}, not {:?} under which this request was approved; ask again",
                    planned.role, request.tier_name
                )))
            }
            // Approved by the role's tier (a role that no longer needs approval still honours
            // the approval), or by a policy's control group on a role without a tier.
            (_, Some(request)) if !request.by_policy => Ok(Ok(None)),
            (None, Some(_)) => Ok(Ok(None)),
            // Approved by a policy's control group: the role's tier still has its say.
            (Some(tier), Some(_)) => self.gate_and_cap(planned, asked, &tier).await,
            (None, None) if asked.break_glass => Err(Error::invalid(format!(
                "break_glass: role {:?} does not require approval; ask without break_glass",
                planned.role
            ))),
            (None, None) => Ok(Ok(None)),
            (Some(tier), None) => self.gate_and_cap(planned, asked, &tier).await,
        }
    }

    /// [`Core::approval_gate`], applying a break-glass TTL cap to `planned`.
    async fn gate_and_cap(
        &self,
        planned: &mut leasehold_backend::PlannedSecret,
        asked: Asked<'_>,
        tier: &str,
    ) -> Result<std::result::Result<Option<Cleared>, ApiResponse>> {
        match self.approval_gate(asked, tier).await? {
            Gate::Held(answer) => Ok(Err(answer)),
            Gate::Cleared(cleared) => {
                if let Some(cap) = cleared.ttl_cap {
                    let capped = |d: Duration| if d.is_zero() { cap } else { d.min(cap) };
                    planned.ttl = capped(planned.ttl);
                    planned.max_ttl = capped(planned.max_ttl);
                }
                Ok(Ok(Some(cleared)))
            }
        }
    }

    /// Hold a request a policy's control group governs (before the engine sees it).
    pub(crate) async fn hold_for_policy(
        &self,
        asked: Asked<'_>,
        held_by: super::acl::HeldBy,
    ) -> Result<ApiResponse> {
        let tier = Tier {
            approval_ttl_secs: held_by
                .ttl
                .unwrap_or(crate::approval::tier::DEFAULT_APPROVAL_TTL)
                .as_secs(),
            factors: held_by.factors,
            auto_approve: Vec::new(),
            break_glass: false,
            break_glass_ttl_secs: 0,
        };
        self.hold(&asked, POLICY_TIER, &tier, Vec::new(), true)
            .await
    }
}
