//! A lease or node row to and from PostgreSQL columns.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{millis, pg_err, time};
use crate::storage::{LeaseRecord, LeaseState, LeaseTrail, NodeRecord, StorageError};

/// Every lease column, in the order `lease_from_row` and `LeaseTimes::params` use.
pub(super) const LEASE_COLUMNS: &str = "id, mount_uuid, mount_path, kind, role, account, state, issue_time, \
    expire_time, max_expire_time, last_renewal, role_ttl_secs, renewable, due_at, attempts, \
    last_error, revoked_time, forced, token_accessor, internal, workload, purpose, ticket, claimed_by, \
    row_mac, tampered_at, trail";

pub(super) fn lease_from_row(row: &Row) -> Result<LeaseRecord, StorageError> {
    let state: String = row.try_get(6).map_err(pg_err)?;
    let t = |i: usize| -> Result<DateTime<Utc>, StorageError> {
        row.try_get::<_, i64>(i).map(time).map_err(pg_err)
    };
    let opt_t = |i: usize| -> Result<Option<DateTime<Utc>>, StorageError> {
        row.try_get::<_, Option<i64>>(i)
            .map(|v| v.map(time))
            .map_err(pg_err)
    };
    Ok(LeaseRecord {
        id: row.try_get(0).map_err(pg_err)?,
        mount_uuid: row.try_get(1).map_err(pg_err)?,
        mount_path: row.try_get(2).map_err(pg_err)?,
        kind: row.try_get(3).map_err(pg_err)?,
        role: row.try_get(4).map_err(pg_err)?,
        account: row.try_get(5).map_err(pg_err)?,
        // An unknown state can only come from a newer schema; treat it as needing destruction.
        state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
        issue_time: t(7)?,
        expire_time: t(8)?,
        max_expire_time: t(9)?,
        last_renewal: opt_t(10)?,
        role_ttl_secs: row.try_get(11).map_err(pg_err)?,
        renewable: row.try_get(12).map_err(pg_err)?,
        due_at: opt_t(13)?,
        attempts: row.try_get(14).map_err(pg_err)?,
        last_error: row.try_get(15).map_err(pg_err)?,
        revoked_time: opt_t(16)?,
        forced: row.try_get(17).map_err(pg_err)?,
        token_accessor: row.try_get(18).map_err(pg_err)?,
        internal: row.try_get(19).map_err(pg_err)?,
        workload: row.try_get(20).map_err(pg_err)?,
        purpose: row.try_get(21).map_err(pg_err)?,
        ticket: row.try_get(22).map_err(pg_err)?,
        claimed_by: row.try_get(23).map_err(pg_err)?,
        row_mac: row.try_get(24).map_err(pg_err)?,
        tampered_at: opt_t(25)?,
        trail: LeaseTrail::from_column(
            row.try_get::<_, Option<String>>(26)
                .map_err(pg_err)?
                .as_deref(),
        ),
    })
}

pub(super) fn leases_from_rows(rows: &[Row]) -> Result<Vec<LeaseRecord>, StorageError> {
    rows.iter().map(lease_from_row).collect()
}

/// A lease's time columns as stored, kept alive while its parameter list borrows them.
pub(super) struct LeaseTimes {
    state: &'static str,
    issue: i64,
    expire: i64,
    max_expire: i64,
    last_renewal: Option<i64>,
    due: Option<i64>,
    revoked: Option<i64>,
    tampered: Option<i64>,
    trail: Option<String>,
}

impl LeaseTimes {
    pub(super) fn of(l: &LeaseRecord) -> Self {
        Self {
            state: l.state.as_str(),
            issue: millis(l.issue_time),
            expire: millis(l.expire_time),
            max_expire: millis(l.max_expire_time),
            last_renewal: l.last_renewal.map(millis),
            due: l.due_at.map(millis),
            revoked: l.revoked_time.map(millis),
            tampered: l.tampered_at.map(millis),
            trail: l.trail.to_column(),
        }
    }

    /// The row's values in `LEASE_COLUMNS` order (`$1`..`$27`).
    pub(super) fn params<'a>(&'a self, l: &'a LeaseRecord) -> Vec<&'a (dyn ToSql + Sync)> {
        vec![
            &l.id,
            &l.mount_uuid,
            &l.mount_path,
            &l.kind,
            &l.role,
            &l.account,
            &self.state,
            &self.issue,
            &self.expire,
            &self.max_expire,
            &self.last_renewal,
            &l.role_ttl_secs,
            &l.renewable,
            &self.due,
            &l.attempts,
            &l.last_error,
            &self.revoked,
            &l.forced,
            &l.token_accessor,
            &l.internal,
            &l.workload,
            &l.purpose,
            &l.ticket,
            &l.claimed_by,
            &l.row_mac,
            &self.tampered,
            &self.trail,
        ]
    }
}

pub(super) fn node_from_row(r: &Row) -> Result<NodeRecord, StorageError> {
    Ok(NodeRecord {
        id: r.try_get(0).map_err(pg_err)?,
        hostname: r.try_get(1).map_err(pg_err)?,
        api_addr: r.try_get(2).map_err(pg_err)?,
        version: r.try_get(3).map_err(pg_err)?,
        started_at: time(r.try_get(4).map_err(pg_err)?),
        heartbeat_at: time(r.try_get(5).map_err(pg_err)?),
    })
}
