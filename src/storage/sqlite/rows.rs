//! A lease or node row to and from SQLite columns.

use rusqlite::types::Value as SqlValue;
use rusqlite::Row;

use super::{millis, opt_time, time};
use crate::storage::{LeaseRecord, LeaseState, LeaseTrail, NodeRecord};

/// Every lease column, in the order `lease_from_row` and `lease_values` use.
pub(super) const LEASE_COLUMNS: &str = "id, mount_uuid, mount_path, kind, role, account, state, issue_time, \
    expire_time, max_expire_time, last_renewal, role_ttl_secs, renewable, due_at, attempts, \
    last_error, revoked_time, forced, token_accessor, internal, workload, purpose, ticket, claimed_by, \
    row_mac, tampered_at, trail";

pub(super) fn lease_from_row(row: &Row<'_>) -> rusqlite::Result<LeaseRecord> {
    let state: String = row.get(6)?;
    Ok(LeaseRecord {
        id: row.get(0)?,
        mount_uuid: row.get(1)?,
        mount_path: row.get(2)?,
        kind: row.get(3)?,
        role: row.get(4)?,
        account: row.get(5)?,
        // An unknown state can only come from a newer schema; treat it as needing destruction.
        state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
        issue_time: time(row.get(7)?),
        expire_time: time(row.get(8)?),
        max_expire_time: time(row.get(9)?),
        last_renewal: opt_time(row.get(10)?),
        role_ttl_secs: row.get(11)?,
        renewable: row.get(12)?,
        due_at: opt_time(row.get(13)?),
        attempts: row.get(14)?,
        last_error: row.get(15)?,
        revoked_time: opt_time(row.get(16)?),
        forced: row.get(17)?,
        token_accessor: row.get(18)?,
        internal: row.get(19)?,
        workload: row.get(20)?,
        purpose: row.get(21)?,
        ticket: row.get(22)?,
        claimed_by: row.get(23)?,
        row_mac: row.get(24)?,
        tampered_at: opt_time(row.get(25)?),
        trail: LeaseTrail::from_column(row.get::<_, Option<String>>(26)?.as_deref()),
    })
}

pub(super) fn node_from_row(r: &Row<'_>) -> rusqlite::Result<NodeRecord> {
    Ok(NodeRecord {
        id: r.get(0)?,
        hostname: r.get(1)?,
        api_addr: r.get(2)?,
        version: r.get(3)?,
        started_at: time(r.get(4)?),
        heartbeat_at: time(r.get(5)?),
    })
}

/// A lease's column values, in `LEASE_COLUMNS` order (`?1`..`?27` in the statements below).
pub(super) fn lease_values(l: &LeaseRecord) -> Vec<SqlValue> {
    vec![
        l.id.clone().into(),
        l.mount_uuid.clone().into(),
        l.mount_path.clone().into(),
        l.kind.clone().into(),
        l.role.clone().into(),
        l.account.clone().into(),
        l.state.as_str().to_owned().into(),
        millis(l.issue_time).into(),
        millis(l.expire_time).into(),
        millis(l.max_expire_time).into(),
        l.last_renewal.map(millis).into(),
        l.role_ttl_secs.into(),
        l.renewable.into(),
        l.due_at.map(millis).into(),
        l.attempts.into(),
        l.last_error.clone().into(),
        l.revoked_time.map(millis).into(),
        l.forced.into(),
        l.token_accessor.clone().into(),
        l.internal.clone().into(),
        l.workload.clone().into(),
        l.purpose.clone().into(),
        l.ticket.clone().into(),
        l.claimed_by.clone().into(),
        l.row_mac.clone().into(),
        l.tampered_at.map(millis).into(),
        l.trail.to_column().into(),
    ]
}
