//! A pending request for a credential that needs approval: who asked, for what and why, and
//! the decisions on it. The record is the evidence: from it (and the audit events that mirror
//! each change) the whole access event — requested, approved by whom, collected as which lease —
//! can be told again.
//!
//! States: `pending` → `approved` (every factor has its approvals) → `collected` (the credential
//! was issued, its lease id recorded); `pending` → `denied` or `expired`; `approved` → `expired`
//! when nobody collects it in time. Decided states never change again: a denied or expired
//! request can never be collected.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::tier::Factor;
use crate::auth::TokenEntry;

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved; waiting to be collected.
    Approved,
    /// An approver said no.
    Denied,
    /// Nobody approved (or collected) it in time.
    Expired,
    /// The credential was issued.
    Collected,
}

impl RequestState {
    /// As in answers and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Collected => "collected",
        }
    }

    /// Parse a state filter.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Denied,
            Self::Expired,
            Self::Collected,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Who asked (or decided): enough to name them in the record without their token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    /// Token accessor.
    pub accessor: String,
    /// Workload of the token (empty for tokens with none).
    pub workload: String,
    /// Display name of the token.
    pub display_name: String,
}

impl Party {
    /// The party a token is.
    pub fn of(token: &TokenEntry) -> Self {
        Self {
            accessor: token.accessor.clone(),
            workload: token.workload.clone(),
            display_name: token.display_name.clone(),
        }
    }

    /// The identity that counts once towards a factor: the workload when the token has one
    /// (two logins of one workload are one approver), else the token.
    pub fn identity(&self) -> String {
        if self.workload.is_empty() {
            format!("token:{}", self.accessor)
        } else {
            format!("workload:{}", self.workload)
        }
    }
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Who.
    pub approver: Party,
    /// The factors this approval counts for (those the approver matched).
    pub factors: Vec<String>,
    /// When.
    pub time: DateTime<Utc>,
    /// Why, as the approver said.
    pub comment: String,
}

/// A decision that ended the request without a credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Denial {
    /// Who.
    pub by: Party,
    /// When.
    pub time: DateTime<Utc>,
    /// Why.
    pub comment: String,
}

/// A stored request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The wrapping token's accessor: the handle approvers are given.
    pub accessor: String,
    /// The id of the HTTP request that asked: joins the audit entries.
    pub request_id: String,
    /// The tier that governs it, as it was when asked.
    pub tier_name: String,
    /// The tier's factors as they were when asked (a tier edited later does not change what
    /// this request needs).
    pub factors: Vec<Factor>,
    /// The canonical path asked for (`database/creds/migrate`).
    pub path: String,
    /// The operation: `read` or `update`.
    pub operation: String,
    /// The request's fields (without purpose and ticket), replayed at collection.
    pub data: Map<String, Value>,
    /// Mount path (`database/`).
    pub mount_path: String,
    /// Role named by the path.
    pub role: String,
    /// Why.
    pub purpose: Option<String>,
    /// Ticket.
    pub ticket: Option<String>,
    /// Who asked.
    pub requester: Party,
    /// The requester's ancestor tokens' accessors: none of them may approve.
    #[serde(default)]
    pub requester_ancestors: Vec<String>,
    /// When.
    pub created: DateTime<Utc>,
    /// When it expires if not collected.
    pub expires: DateTime<Utc>,
    /// Where it is.
    pub state: RequestState,
    /// Approvals so far.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The denial, if denied.
    #[serde(default)]
    pub denial: Option<Denial>,
    /// When it was approved (every factor met).
    #[serde(default)]
    pub approved_at: Option<DateTime<Utc>>,
    /// When collected, and the lease it ended in.
    #[serde(default)]
    pub collected_at: Option<DateTime<Utc>>,
    /// The lease the credential got.
    #[serde(default)]
    pub lease_id: Option<String>,
    /// Held by a policy's `control_group` (`tier_name` is then `policy`), not a role's tier.
    #[serde(default)]
    pub by_policy: bool,
    /// A policy's control group has approved this request (held by one, or made while
    /// collecting one): collection does not hold it for the policy again.
    #[serde(default)]
    pub policy_cleared: bool,
}

/// Why an approval was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The approver is the requester (or its workload, parent or child).
    #[error("the requester cannot approve or deny its own request")]
    OwnRequest,
    /// The approver matches no factor.
    #[error("this token is not an approver of the request's tier {0:?}")]
    NotAnApprover(String),
    /// Decided already.
    #[error("the request is {0} and can no longer be decided")]
    Decided(&'static str),
}

impl PendingRequest {
    /// True once past its expiry.
    pub fn is_past(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires
    }

    /// Whether `approver` (with its ancestors' accessors) is the requester in another guise:
    /// the same token, the same workload, or a token above or below it in one token tree.
    pub fn is_requester(&self, approver: &TokenEntry, approver_ancestors: &[String]) -> bool {
        approver.accessor == self.requester.accessor
            || (!approver.workload.is_empty() && approver.workload == self.requester.workload)
            || approver_ancestors.contains(&self.requester.accessor)
            || self.requester_ancestors.contains(&approver.accessor)
    }

    /// Check that `approver` may decide this request now (not its own, matches a factor, still
    /// pending); the factors it counts for.
    pub fn may_decide(
        &self,
        approver: &TokenEntry,
        approver_ancestors: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Refusal> {
        if self.state != RequestState::Pending {
            return Err(Refusal::Decided(self.state.as_str()));
        }
        if self.is_past(now) {
            return Err(Refusal::Decided("expired"));
        }
        if self.is_requester(approver, approver_ancestors) {
            return Err(Refusal::OwnRequest);
        }
        let factors: Vec<String> = self
            .factors
            .iter()
            .filter(|f| f.approvers.matches(approver))
            .map(|f| f.name.clone())
            .collect();
        if factors.is_empty() {
            return Err(Refusal::NotAnApprover(self.tier_name.clone()));
        }
        Ok(factors)
    }

    /// Record `approval` (once per identity: a second approval by the same approver changes
    /// nothing) and move to `approved` when every factor has its count. True when it changed.
    pub fn add_approval(&mut self, approval: Approval) -> bool {
        let identity = approval.approver.identity();
        if self
            .approvals
            .iter()
            .any(|a| a.approver.identity() == identity)
        {
            return false;
        }
        let now = approval.time;
        self.approvals.push(approval);
        if self.factors_met() {
            self.state = RequestState::Approved;
            self.approved_at = Some(now);
        }
        true
    }

    /// Every factor has at least its number of distinct approvers.
    pub fn factors_met(&self) -> bool {
        self.met_factors() == self.factors.len()
    }

    /// How many factors have their number of distinct approvers.
    pub fn met_factors(&self) -> usize {
        self.factors
            .iter()
            .filter(|f| self.count_for(&f.name) >= f.approvals as usize)
            .count()
    }

    fn count_for(&self, factor: &str) -> usize {
        self.approvals
            .iter()
            .filter(|a| a.factors.iter().any(|n| n == factor))
            .count()
    }

    /// The answer of `sys/control-group/request` (Vault's fields, then ours).
    pub fn to_data(&self) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert(
            "approved".into(),
            json!(matches!(
                self.state,
                RequestState::Approved | RequestState::Collected
            )),
        );
        d.insert("request_path".into(), json!(self.path));
        d.insert("request_operation".into(), json!(self.operation));
        d.insert(
            "request_entity".into(),
            json!({"id": self.requester.accessor, "name": self.requester.display_name}),
        );
        d.insert(
            "authorizations".into(),
            Value::Array(
                self.approvals
                    .iter()
                    .map(|a| {
                        json!({
                            "entity_id": a.approver.accessor, "entity_name": a.approver.display_name,
                            "workload": a.approver.workload, "factors": a.factors,
                            "time": a.time, "comment": a.comment,
                        })
                    })
                    .collect(),
            ),
        );
        d.insert("accessor".into(), json!(self.accessor));
        d.insert("request_id".into(), json!(self.request_id));
        d.insert("state".into(), json!(self.state.as_str()));
        d.insert("tier".into(), json!(self.tier_name));
        d.insert("mount".into(), json!(self.mount_path));
        d.insert("role".into(), json!(self.role));
        d.insert("purpose".into(), json!(self.purpose));
        d.insert("ticket".into(), json!(self.ticket));
        d.insert("requester_workload".into(), json!(self.requester.workload));
        d.insert("created".into(), json!(self.created));
        d.insert("expires".into(), json!(self.expires));
        d.insert(
            "factors".into(),
            Value::Array(
                self.factors
                    .iter()
                    .map(|f| {
                        json!({"name": f.name, "approvals": f.approvals, "have": self.count_for(&f.name)})
                    })
                    .collect(),
            ),
        );
        d.insert("denial".into(), json!(self.denial));
        d.insert("approved_at".into(), json!(self.approved_at));
        d.insert("collected_at".into(), json!(self.collected_at));
        d.insert("lease_id".into(), json!(self.lease_id));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::selector::Selector;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn tok(accessor: &str, workload: &str, policies: &[&str], parent: Option<&str>) -> TokenEntry {
        TokenEntry {
            accessor: accessor.into(),
            workload: workload.into(),
            policies: policies.iter().map(|p| p.to_string()).collect(),
            parent: parent.map(str::to_owned),
            ..TokenEntry::default()
        }
    }

    fn request(approvals: u32) -> PendingRequest {
        let now = now();
        PendingRequest {
            accessor: "acc".into(),
            request_id: "rid".into(),
            tier_name: "human".into(),
            factors: vec![Factor {
                name: "ops".into(),
                approvers: Selector {
                    policies: vec!["approver".into()],
                    workloads: vec![],
                },
                approvals,
            }],
            path: "database/creds/migrate".into(),
            operation: "read".into(),
            data: Map::new(),
            mount_path: "database/".into(),
            role: "migrate".into(),
            purpose: Some("migration 42".into()),
            ticket: None,
            requester: Party::of(&tok("req", "auth/approle/role/ci", &["approver"], None)),
            requester_ancestors: vec!["req-parent".into()],
            created: now,
            expires: now + chrono::Duration::hours(1),
            state: RequestState::Pending,
            approvals: vec![],
            denial: None,
            approved_at: None,
            collected_at: None,
            lease_id: None,
            by_policy: false,
            policy_cleared: false,
        }
    }

    fn approve(r: &mut PendingRequest, t: &TokenEntry) -> Result<bool, Refusal> {
        let factors = r.may_decide(t, &[], now())?;
        Ok(r.add_approval(Approval {
            approver: Party::of(t),
            factors,
            time: now(),
            comment: String::new(),
        }))
    }

    #[test]
    fn two_distinct_approvers_for_two_approvals() {
        let mut r = request(2);
        let a = tok("a", "", &["approver"], None);
        assert!(approve(&mut r, &a).unwrap());
        assert_eq!(r.state, RequestState::Pending);
        // The same approver again counts once.
        assert!(!approve(&mut r, &a).unwrap());
        assert_eq!(r.state, RequestState::Pending);
        let b = tok("b", "auth/approle/role/lead", &["approver"], None);
        assert!(approve(&mut r, &b).unwrap());
        assert_eq!(r.state, RequestState::Approved);
        assert!(r.approved_at.is_some());
        assert_eq!(r.to_data()["approved"], true);
        // Decided: no more decisions.
        let c = tok("c", "", &["approver"], None);
        assert_eq!(approve(&mut r, &c), Err(Refusal::Decided("approved")));
    }

    #[test]
    fn two_logins_of_one_workload_are_one_approver() {
        let mut r = request(2);
        assert!(approve(
            &mut r,
            &tok("a1", "auth/jwt/role/lead", &["approver"], None)
        )
        .unwrap());
        assert!(!approve(
            &mut r,
            &tok("a2", "auth/jwt/role/lead", &["approver"], None)
        )
        .unwrap());
        assert_eq!(r.state, RequestState::Pending);
    }

    #[test]
    fn the_requester_in_any_guise_is_refused() {
        let mut r = request(1);
        for t in [
            tok("req", "", &["approver"], None),
            tok("x", "auth/approle/role/ci", &["approver"], None),
            tok("child", "", &["approver"], Some("req")),
            tok("req-parent", "", &["approver"], None),
        ] {
            let ancestors: Vec<String> = t.parent.iter().cloned().collect();
            assert_eq!(
                r.may_decide(&t, &ancestors, now()),
                Err(Refusal::OwnRequest),
                "{}",
                t.accessor
            );
        }
        assert_eq!(
            approve(&mut r, &tok("y", "", &["default"], None)),
            Err(Refusal::NotAnApprover("human".into()))
        );
        assert_eq!(r.state, RequestState::Pending);
    }

    #[test]
    fn expired_requests_cannot_be_decided() {
        let mut r = request(1);
        r.expires = now() - chrono::Duration::seconds(1);
        assert_eq!(
            r.may_decide(&tok("a", "", &["approver"], None), &[], now()),
            Err(Refusal::Decided("expired"))
        );
    }
}
