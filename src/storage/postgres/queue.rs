//! [`LeaseQueue`] on PostgreSQL: due rows are claimed with `FOR UPDATE SKIP LOCKED`, so
//! concurrent workers on different nodes never take the same row nor wait on each other's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::rows::{lease_from_row, leases_from_rows, LEASE_COLUMNS};
use super::{millis, pg_err, time, PostgresStorage};
use crate::storage::leases::{settle_claim_one, DUE_STATES_SQL};
use crate::storage::{ClaimOne, LeaseQueue, LeaseRecord, StorageError, CREATION_ABANDONED};

#[async_trait]
impl LeaseQueue for PostgresStorage {
    async fn lease_claim_due(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: usize,
        node: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let (now, until) = (millis(now), millis(claim_until));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: rows another node is claiming right now are left to it, not waited for.
        let sql = format!(
            "UPDATE leases l SET state = 'revoking', due_at = $2, claimed_by = $3, \
                 last_error = CASE WHEN l.state = 'creating' THEN coalesce(l.last_error, $4) \
                              ELSE l.last_error END \
             FROM (SELECT id FROM leases WHERE due_at IS NOT NULL AND due_at <= $1 \
                   AND state IN {DUE_STATES_SQL} \
                   ORDER BY due_at LIMIT $5 FOR UPDATE SKIP LOCKED) due \
             WHERE l.id = due.id RETURNING {}",
            LEASE_COLUMNS
                .split(", ")
                .map(|c| format!("l.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = self
            .query(&sql, &[&now, &until, &node, &CREATION_ABANDONED, &limit])
            .await?;
        let mut leases = leases_from_rows(&rows)?;
        leases.sort_by(|a, b| (a.expire_time, &a.id).cmp(&(b.expire_time, &b.id)));
        Ok(leases)
    }

    async fn lease_claim_one(
        &self,
        id: &str,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        node: &str,
    ) -> Result<ClaimOne, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let select = format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = $1 FOR UPDATE");
        let row = tx.query_opt(&select, &[&id]).await.map_err(pg_err)?;
        let found = row.as_ref().map(lease_from_row).transpose()?;
        let until = millis(claim_until);
        let (outcome, write) = settle_claim_one(found, node, now, time(until));
        if write {
            tx.execute(
                "UPDATE leases SET state = 'revoking', due_at = $2, claimed_by = $3 WHERE id = $1",
                &[&id, &until, &node],
            )
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
        }
        Ok(outcome)
    }

    async fn lease_next_due(&self) -> Result<Option<DateTime<Utc>>, StorageError> {
        let rows = self
            .query(
                &format!(
                    "SELECT min(due_at) FROM leases WHERE due_at IS NOT NULL \
                     AND state IN {DUE_STATES_SQL}"
                ),
                &[],
            )
            .await?;
        let min: Option<i64> = match rows.first() {
            Some(r) => r.try_get(0).map_err(pg_err)?,
            None => None,
        };
        Ok(min.map(time))
    }

    async fn lease_release_dead_claims(
        &self,
        now: DateTime<Utc>,
        alive_since: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        self.execute(
            "UPDATE leases SET due_at = $1, claimed_by = NULL \
             WHERE claimed_by IS NOT NULL AND state IN ('creating','revoking') \
             AND claimed_by NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= $2)",
            &[&millis(now), &millis(alive_since)],
        )
        .await
    }

    async fn lease_recover_creating(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.execute(
            "UPDATE leases SET state = 'revoking', due_at = $1, \
             last_error = coalesce(last_error, $2), claimed_by = NULL WHERE state = 'creating'",
            &[&millis(now), &CREATION_ABANDONED],
        )
        .await
    }

    async fn lease_release_claims(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        self.execute(
            "UPDATE leases SET due_at = $1, claimed_by = NULL \
             WHERE state = 'revoking' AND due_at > $1",
            &[&millis(now)],
        )
        .await
    }

    async fn lease_irrevocable(
        &self,
        min_attempts: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE (state = 'revoking' AND attempts >= $1) \
             OR (tampered_at IS NOT NULL AND state <> 'revoked') \
             ORDER BY expire_time, id LIMIT $2"
        );
        leases_from_rows(&self.query(&sql, &[&min_attempts, &limit]).await?)
    }

    async fn lease_flag_tampered(&self, id: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        self.execute(
            "UPDATE leases SET tampered_at = coalesce(tampered_at, $2), due_at = NULL, \
             claimed_by = NULL WHERE id = $1 AND state <> 'revoked'",
            &[&id, &millis(now)],
        )
        .await
        .map(|_| ())
    }

    async fn lease_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        self.execute(
            "DELETE FROM leases WHERE state = 'revoked' AND revoked_time < $1",
            &[&millis(before)],
        )
        .await
    }
}
