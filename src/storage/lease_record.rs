//! The lease row: one per issued credential, from the moment its account is planned until a tidy
//! window after it was destroyed. Storage owns the record (it reads and writes rows, and decides
//! which row is free to claim); the lease engine gives it its state transitions.

use chrono::{DateTime, Utc};

use super::lease_trail::LeaseTrail;

/// Where a lease is in its life. See the state diagram in docs/DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Row written, account being created. Found at start-up, it means a crash: destroy.
    Creating,
    /// Account exists; due for destruction at `expire_time`.
    Active,
    /// Destruction claimed or failed; retried at `due_at` until it succeeds.
    Revoking,
    /// Account destroyed (or force-removed); kept as a tombstone for the audit trail until tidy.
    Revoked,
}

impl LeaseState {
    /// The name stored in the `state` column and shown in lookups.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Active => "active",
            Self::Revoking => "revoking",
            Self::Revoked => "revoked",
        }
    }

    /// Parse a stored state name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "creating" => Some(Self::Creating),
            "active" => Some(Self::Active),
            "revoking" => Some(Self::Revoking),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// A lease as stored. `internal` is the backend's data, sealed; it never holds a password.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRecord {
    /// `<request path>/<24 base62>`, e.g. `database/creds/ro/3Jq0...`.
    pub id: String,
    /// UUID of the mount that issued it (survives remounts, names the storage view).
    pub mount_uuid: String,
    /// The mount's path when issued (`database/`), for listing and messages.
    pub mount_path: String,
    /// Backend secret kind (`creds`).
    pub kind: String,
    /// Role it was issued for.
    pub role: String,
    /// Account name on the target (user name), for audit and reconciliation.
    pub account: String,
    /// Current state.
    pub state: LeaseState,
    /// When it was issued.
    pub issue_time: DateTime<Utc>,
    /// When it ends.
    pub expire_time: DateTime<Utc>,
    /// Renewal can never move `expire_time` past this (issue time + effective max TTL).
    pub max_expire_time: DateTime<Utc>,
    /// Last successful renewal.
    pub last_renewal: Option<DateTime<Utc>>,
    /// The role's TTL in seconds (0 = mount default), used when a renew gives no increment.
    pub role_ttl_secs: i64,
    /// Whether renew is allowed.
    pub renewable: bool,
    /// When the expiry worker must next act: expiry for active leases, the next attempt (or a
    /// claim's end) for revoking ones, `None` once revoked.
    pub due_at: Option<DateTime<Utc>>,
    /// Destruction attempts made so far.
    pub attempts: i64,
    /// Last destruction error, kept after success for the record.
    pub last_error: Option<String>,
    /// When the account was destroyed or the row force-removed.
    pub revoked_time: Option<DateTime<Utc>>,
    /// True when an admin removed the row with revoke-force and the account may remain.
    pub forced: bool,
    /// Accessor of the token that obtained it.
    pub token_accessor: String,
    /// The workload identity of that token (`auth/approle/role/ci`), empty for plain tokens.
    pub workload: String,
    /// Why the caller needed the credential (`purpose` field or `X-Leasehold-Purpose` header).
    pub purpose: Option<String>,
    /// The change or incident ticket the caller gave (`ticket` field).
    pub ticket: Option<String>,
    /// Backend internal data, sealed.
    pub internal: Vec<u8>,
    /// The node that holds this row's work (creating the account, or a claim to destroy it),
    /// `None` when nobody does. With shared storage, a claim held by a node that stopped
    /// heartbeating is released so another node takes the work over.
    pub claimed_by: Option<String>,
    /// HMAC-SHA256 over the columns that decide what is destroyed and when (see
    /// [`super::row_mac`]); `None` only for rows written before the tag existed.
    pub row_mac: Option<Vec<u8>>,
    /// When the engine found that the row's tag does not match its columns. Such a row is never
    /// acted on: it waits for an operator (revoke-force). A cache of a verdict the engine
    /// recomputes whenever it touches the row, so clearing it achieves nothing.
    pub tampered_at: Option<DateTime<Utc>>,
    /// What the access history records beyond the columns above (approval, renewals, how it
    /// ended, the destroying node, the target's receipt); not covered by the integrity tag.
    pub trail: LeaseTrail,
}

/// Whether a row may be claimed for destruction by a node now: the one rule both back-ends'
/// claims follow (see [`LeaseRecord::claim_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimable {
    /// Free: the claim may be taken.
    Free,
    /// Another node holds the row's work (creating the account, or destroying it) and its
    /// deadline has not passed.
    Busy,
    /// Already revoked: nothing to claim.
    Ended,
}

impl LeaseRecord {
    /// Whether `node` may claim this row at `now`: an `active` row always; a `creating` or
    /// `revoking` row when nobody holds it, `node` itself holds it, or the holder's deadline
    /// (`due_at`, the claim's end or the next attempt) has passed; a `revoked` row never.
    pub fn claim_for(&self, node: &str, now: DateTime<Utc>) -> Claimable {
        match self.state {
            LeaseState::Revoked => Claimable::Ended,
            LeaseState::Active => Claimable::Free,
            LeaseState::Creating | LeaseState::Revoking => {
                let free = self.claimed_by.is_none()
                    || self.claimed_by.as_deref() == Some(node)
                    || self.due_at.is_some_and(|d| d <= now);
                if free {
                    Claimable::Free
                } else {
                    Claimable::Busy
                }
            }
        }
    }

    /// The row as a claim leaves it (what the claim statements write): `revoking`, held by
    /// `node` until `until`.
    pub fn claimed(&mut self, node: &str, until: DateTime<Utc>) {
        self.state = LeaseState::Revoking;
        self.due_at = Some(until);
        self.claimed_by = Some(node.to_owned());
    }
}
