//! [`LeaseQueue`] on SQLite: due rows, claims and recovery. The writer runs each call in a
//! savepoint of its group commit, so a read-then-write here is atomic.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::rows::{lease_from_row, LEASE_COLUMNS};
use super::{err, millis, opt_time, Cached, SqliteStorage};
use crate::storage::leases::{settle_claim_one, DUE_STATES_SQL};
use crate::storage::{
    ClaimOne, LeaseQueue, LeaseRecord, LeaseState, StorageError, CREATION_ABANDONED,
};

/// A claim: the row is `revoking`, held by `?3` until `?2` (as [`LeaseRecord::claimed`] leaves
/// it in memory).
const CLAIM_SQL: &str = "UPDATE leases SET state='revoking', due_at=?2, claimed_by=?3 WHERE id=?1";

#[async_trait]
impl LeaseQueue for SqliteStorage {
    async fn lease_claim_due(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: usize,
        node: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let node = node.to_owned();
        self.write(move |c: &Connection| {
            // Atomic without a transaction of its own: the writer runs each call in a savepoint.
            let mut claimed = {
                // `+state` keeps the planner off the state index, which would visit every active
                // lease and sort them: the queue must be read from `leases_due`, in order.
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {LEASE_COLUMNS} FROM leases WHERE due_at IS NOT NULL \
                         AND due_at <= ?1 AND +state IN {DUE_STATES_SQL} \
                         ORDER BY due_at LIMIT ?2"
                    ))
                    .map_err(err)?;
                let rows = stmt
                    .query_map(params![millis(now), limit as i64], lease_from_row)
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                rows
            };
            for lease in &mut claimed {
                c.exec(CLAIM_SQL, params![lease.id, millis(claim_until), node])
                    .map_err(err)?;
                if lease.state == LeaseState::Creating && lease.last_error.is_none() {
                    lease.last_error = Some(CREATION_ABANDONED.into());
                    c.exec(
                        "UPDATE leases SET last_error=?2 WHERE id=?1",
                        params![lease.id, CREATION_ABANDONED],
                    )
                    .map_err(err)?;
                }
                lease.claimed(&node, claim_until);
            }
            Ok(claimed)
        })
        .await
    }

    async fn lease_claim_one(
        &self,
        id: &str,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        node: &str,
    ) -> Result<ClaimOne, StorageError> {
        let (id, node) = (id.to_owned(), node.to_owned());
        self.write(move |c: &Connection| {
            // A cached statement: parsing this one cost more than the rest of the claim.
            let found = c
                .row(
                    &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = ?1"),
                    [&id],
                    lease_from_row,
                )
                .optional()
                .map_err(err)?;
            let (outcome, write) = settle_claim_one(found, &node, now, claim_until);
            if write {
                c.exec(CLAIM_SQL, params![id, millis(claim_until), node])
                    .map_err(err)?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn lease_next_due(&self) -> Result<Option<DateTime<Utc>>, StorageError> {
        self.read(|c: &Connection| {
            c.row(
                &format!(
                    "SELECT min(due_at) FROM leases WHERE due_at IS NOT NULL \
                     AND +state IN {DUE_STATES_SQL}"
                ),
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(opt_time)
            .map_err(err)
        })
        .await
    }

    async fn lease_release_dead_claims(
        &self,
        now: DateTime<Utc>,
        alive_since: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET due_at=?1, claimed_by=NULL \
                 WHERE claimed_by IS NOT NULL AND state IN ('creating','revoking') \
                 AND claimed_by NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= ?2)",
                params![millis(now), millis(alive_since)],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }

    async fn lease_recover_creating(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET state='revoking', due_at=?1, \
                 last_error=coalesce(last_error, ?2), claimed_by=NULL \
                 WHERE state='creating'",
                params![millis(now), CREATION_ABANDONED],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }

    async fn lease_release_claims(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET due_at=?1, claimed_by=NULL WHERE state='revoking' AND due_at > ?1",
                [millis(now)],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }

    async fn lease_irrevocable(
        &self,
        min_attempts: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE (state='revoking' AND attempts >= ?1) \
                     OR (tampered_at IS NOT NULL AND state != 'revoked') \
                     ORDER BY expire_time, id LIMIT ?2"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map(params![min_attempts, limit as i64], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_flag_tampered(&self, id: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.write(move |c: &Connection| {
            c.exec(
                "UPDATE leases SET tampered_at = coalesce(tampered_at, ?2), due_at = NULL, \
                 claimed_by = NULL WHERE id = ?1 AND state != 'revoked'",
                params![id, millis(now)],
            )
            .map(|_| ())
            .map_err(err)
        })
        .await
    }

    async fn lease_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        self.write(move |c: &Connection| {
            c.exec(
                "DELETE FROM leases WHERE state='revoked' AND revoked_time < ?1",
                [millis(before)],
            )
            .map(|n| n as u64)
            .map_err(err)
        })
        .await
    }
}
