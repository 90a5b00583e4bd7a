//! [`LeaseTrail`]: what the access history needs to know about a lease beyond the columns the
//! engine acts on — how it was approved, how often renewed, how it ended, who destroyed it and
//! what the target proved. Stored on the lease row as one small JSON column (`trail`, NULL while
//! empty) so the live table pays nothing for it until it has something to say, and copied into
//! the history row ([`super::history::HistoryRow`]) when the lease ends.
//!
//! None of it decides what is destroyed or when, so the row's integrity tag does not cover it
//! (see [`super::row_mac`]): an edit can falsify the record, never redirect a destruction. The
//! audit log keeps the same facts in its `destroyed` entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The access history's facts about one lease. Every field is optional on the wire so that a
/// row written by an older build (no trail) reads as the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeaseTrail {
    /// The approval request the lease came through (its control-group accessor), when it did.
    #[serde(rename = "ap", skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// When that request was made.
    #[serde(rename = "rq", skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<DateTime<Utc>>,
    /// When it was approved.
    #[serde(rename = "ok", skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    /// Successful renewals (the last one is the row's `last_renewal`).
    #[serde(rename = "rn", skip_serializing_if = "is_zero")]
    pub renewals: i64,
    /// How the lease ended, once it has.
    #[serde(rename = "end", skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
    /// The node whose destruction succeeded (or that force-removed the row).
    #[serde(rename = "by", skip_serializing_if = "Option::is_none")]
    pub destroyed_by: Option<String>,
    /// Sessions of the account ended by its destruction; `None` when the target cannot tell.
    #[serde(rename = "ss", skip_serializing_if = "Option::is_none")]
    pub sessions_terminated: Option<u64>,
    /// When the target's answer proved the account gone (the destruction receipt's time).
    #[serde(rename = "vf", skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// How a lease ended. Stored in the history as a small number ([`Ending::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Destroyed at or after its expiry.
    Expired,
    /// Destroyed before its expiry: a revoke, its token's or workload's revocation, a mount
    /// disabled.
    Revoked,
    /// Removed by an operator's revoke-force; the account may remain.
    Forced,
    /// Its creation failed (and whatever it made was destroyed), or never reached the target.
    IssueFailed,
}

impl Ending {
    /// The name shown in the history (`expired`, `revoked`, `forced`, `issue_failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Forced => "forced",
            Self::IssueFailed => "issue_failed",
        }
    }

    /// Parse a name shown in the history.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Expired,
            Self::Revoked,
            Self::Forced,
            Self::IssueFailed,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    /// The number the history column holds.
    pub fn code(self) -> i64 {
        match self {
            Self::Expired => 1,
            Self::Revoked => 2,
            Self::Forced => 3,
            Self::IssueFailed => 4,
        }
    }

    /// The ending a history column's number names; an unknown one (a newer build's) reads as
    /// `revoked`, the least specific claim.
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::Expired,
            3 => Self::Forced,
            4 => Self::IssueFailed,
            _ => Self::Revoked,
        }
    }
}

impl LeaseTrail {
    /// The column's text: `None` while there is nothing to say.
    pub fn to_column(&self) -> Option<String> {
        if *self == Self::default() {
            return None;
        }
        serde_json::to_string(self).ok()
    }

    /// Read the column back. A value that does not parse (a hand edit) reads as empty: the
    /// trail is evidence, never a reason to refuse the row.
    pub fn from_column(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_trail_costs_no_column_and_a_full_one_round_trips() {
        assert_eq!(LeaseTrail::default().to_column(), None);
        assert_eq!(LeaseTrail::from_column(None), LeaseTrail::default());
        assert_eq!(
            LeaseTrail::from_column(Some("not json")),
            LeaseTrail::default()
        );
        let t = LeaseTrail {
            approval_id: Some("acc".into()),
            requested_at: Some(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            approved_at: Some(DateTime::from_timestamp(1_700_000_060, 0).unwrap()),
            renewals: 2,
            ending: Some(Ending::Expired),
            destroyed_by: Some("node-a".into()),
            sessions_terminated: Some(0),
            verified_at: Some(DateTime::from_timestamp(1_700_003_600, 0).unwrap()),
        };
        let text = t.to_column().unwrap();
        assert_eq!(LeaseTrail::from_column(Some(&text)), t);
        for e in [
            Ending::Expired,
            Ending::Revoked,
            Ending::Forced,
            Ending::IssueFailed,
        ] {
            assert_eq!(Ending::from_code(e.code()), e);
            assert_eq!(Ending::parse(e.as_str()), Some(e));
        }
    }
}
