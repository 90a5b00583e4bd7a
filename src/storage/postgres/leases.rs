//! [`LeaseStore`] on PostgreSQL: the lease rows.

use async_trait::async_trait;

use super::rows::{lease_from_row, leases_from_rows, LeaseTimes, LEASE_COLUMNS};
use super::{pg_err, PostgresStorage};
use crate::storage::history::{ended_values, HISTORY_COLUMNS};
use crate::storage::leases::{check_revoked_time, prefix_end};
use crate::storage::{
    HistoryRow, LeaseCount, LeaseRecord, LeaseState, LeaseStore, StorageError, Within,
};

#[async_trait]
impl LeaseStore for PostgresStorage {
    async fn lease_insert(&self, lease: &LeaseRecord) -> Result<(), StorageError> {
        check_revoked_time(lease)?;
        let times = LeaseTimes::of(lease);
        self.execute(&insert_sql(), &times.params(lease))
            .await
            .map(|_| ())
    }

    async fn lease_get(&self, id: &str) -> Result<Option<LeaseRecord>, StorageError> {
        let sql = format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = $1");
        let rows = self.query(&sql, &[&id]).await?;
        rows.first().map(lease_from_row).transpose()
    }

    async fn lease_update(
        &self,
        lease: &LeaseRecord,
        expected: LeaseState,
    ) -> Result<bool, StorageError> {
        check_revoked_time(lease)?;
        let times = LeaseTimes::of(lease);
        // A row that ends here gets its history row in the same statement (storage/history.rs).
        let history = (expected != LeaseState::Revoked)
            .then(|| HistoryRow::ended(lease))
            .flatten();
        let expected = expected.as_str();
        let mut params = times.params(lease);
        params.push(&expected);
        // What may change after the insert, where the identity is the same: as on SQLite
        // (its `UPDATE`), a record that changed its identity is refused.
        let update = "UPDATE leases SET state=$7, expire_time=$9, max_expire_time=$10, \
            last_renewal=$11, role_ttl_secs=$12, renewable=$13, due_at=$14, attempts=$15, \
            last_error=$16, revoked_time=$17, forced=$18, internal=$20, claimed_by=$24, \
            row_mac=$25, tampered_at=$26, trail=$27 \
            WHERE id=$1 AND state=$28 AND mount_uuid=$2 AND mount_path=$3 AND kind=$4 \
            AND role=$5 AND account=$6 AND issue_time=$8 AND token_accessor=$19 \
            AND workload=$21 AND purpose IS NOT DISTINCT FROM $22 \
            AND ticket IS NOT DISTINCT FROM $23";
        let Some(row) = history else {
            return self.execute(update, &params).await.map(|n| n == 1);
        };
        let values = ended_values(&row);
        let marks = super::history::typed_marks(&values, 29);
        let values = super::history::bound(values);
        params.extend(values.iter().map(|v| v.as_sql()));
        let sql = format!(
            "WITH updated AS ({update} RETURNING 1), \
             ended AS (INSERT INTO lease_history ({HISTORY_COLUMNS}) SELECT {marks} \
               WHERE EXISTS (SELECT 1 FROM updated) ON CONFLICT DO NOTHING) \
             SELECT count(*) FROM updated",
        );
        let rows = self.query(&sql, &params).await?;
        let n = first_count(&rows)?;
        Ok(n == 1)
    }

    async fn lease_list_live(&self, prefix: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases \
             WHERE starts_with(id, $1) AND state <> 'revoked' ORDER BY id"
        );
        leases_from_rows(&self.query(&sql, &[&prefix]).await?)
    }

    async fn lease_count_live(
        &self,
        prefix: &str,
        role: Option<&str>,
    ) -> Result<u64, StorageError> {
        let end = prefix_end(prefix);
        let rows = self
            .query(count_live(&end), &[&prefix, &role, &end])
            .await?;
        let n = first_count(&rows)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn lease_insert_within(
        &self,
        lease: &LeaseRecord,
        within: &Within<'_>,
    ) -> Result<bool, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        // Every node's insert under this quota waits here, in the database, for the one before
        // it to commit (or roll back): no lock row, no polling. The count that follows sees
        // what that one committed (each statement takes a new snapshot).
        let lock = format!("leasehold/quota/{}", within.lock);
        let end = prefix_end(within.prefix);
        let insert_sql = insert_sql();
        let (count, insert) = tokio::try_join!(
            tx.prepare_cached(count_live(&end)),
            tx.prepare_cached(&insert_sql),
        )
        .map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])
            .await
            .map_err(pg_err)?;
        let rows = tx
            .query(&count, &[&within.prefix, &within.role, &end])
            .await
            .map_err(pg_err)?;
        if u64::try_from(first_count(&rows)?).unwrap_or(0) >= within.max {
            return Ok(false);
        }
        let times = LeaseTimes::of(lease);
        tx.execute(&insert, &times.params(lease))
            .await
            .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(true)
    }

    async fn lease_list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases \
             WHERE token_accessor = $1 AND state <> 'revoked' ORDER BY id"
        );
        leases_from_rows(&self.query(&sql, &[&accessor]).await?)
    }

    async fn lease_list_by_workload(
        &self,
        workload: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let workload = workload.trim_end_matches('/');
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE workload <> '' AND state <> 'revoked' \
             AND (workload = $1 OR starts_with(workload, $1 || '/')) ORDER BY id"
        );
        leases_from_rows(&self.query(&sql, &[&workload]).await?)
    }

    async fn lease_live_accounts(
        &self,
        mount_path: &str,
        accounts: &[String],
    ) -> Result<std::collections::HashSet<String>, StorageError> {
        let mut live = std::collections::HashSet::new();
        for chunk in accounts.chunks(5000) {
            let rows = self
                .query(
                    "SELECT account FROM leases WHERE mount_path = $1 AND state <> 'revoked' \
                     AND account = ANY($2)",
                    &[&mount_path, &chunk],
                )
                .await?;
            for r in rows {
                live.insert(r.try_get(0).map_err(pg_err)?);
            }
        }
        Ok(live)
    }

    async fn lease_counts(&self, irrevocable_after: i64) -> Result<Vec<LeaseCount>, StorageError> {
        let rows = self
            .query(
                "SELECT mount_path, role, state, (state = 'revoking' AND attempts >= $1), count(*) \
                 FROM leases GROUP BY 1, 2, 3, 4 \
                 ORDER BY mount_path COLLATE \"C\", role COLLATE \"C\", \
                 state COLLATE \"C\", 4",
                &[&irrevocable_after],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get(2).map_err(pg_err)?;
                Ok(LeaseCount {
                    mount_path: r.try_get(0).map_err(pg_err)?,
                    role: r.try_get(1).map_err(pg_err)?,
                    // As in lease_from_row: an unknown state needs destruction.
                    state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
                    irrevocable: r.try_get(3).map_err(pg_err)?,
                    count: u64::try_from(r.try_get::<_, i64>(4).map_err(pg_err)?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn lease_internal_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.scan_pairs(
            "SELECT id, internal FROM leases WHERE id COLLATE \"C\" > $1 \
             ORDER BY id COLLATE \"C\" LIMIT $2",
            after,
            limit,
        )
        .await
    }

    async fn lease_internal_compare_and_put(
        &self,
        id: &str,
        expected: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<bool, StorageError> {
        self.execute(
            "UPDATE leases SET internal = $3 WHERE id = $1 AND internal = $2",
            &[&id, &expected, &value],
        )
        .await
        .map(|changed| changed == 1)
    }

    async fn lease_page_live(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE id > $1 AND state <> 'revoked' \
             ORDER BY id LIMIT $2"
        );
        leases_from_rows(&self.query(&sql, &[&after, &limit]).await?)
    }

    async fn lease_untagged(&self, limit: usize) -> Result<Vec<LeaseRecord>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE row_mac IS NULL ORDER BY id LIMIT $1"
        );
        leases_from_rows(&self.query(&sql, &[&limit]).await?)
    }

    async fn lease_set_row_macs(&self, tags: Vec<(String, Vec<u8>)>) -> Result<u64, StorageError> {
        let (ids, macs): (Vec<String>, Vec<Vec<u8>>) = tags.into_iter().unzip();
        self.execute(
            "UPDATE leases SET row_mac = t.mac FROM unnest($1::text[], $2::bytea[]) AS t(id, mac) \
             WHERE leases.id = t.id AND leases.row_mac IS NULL",
            &[&ids, &macs],
        )
        .await
    }

    async fn lease_any_tagged(&self) -> Result<bool, StorageError> {
        let rows = self
            .query(
                "SELECT EXISTS (SELECT 1 FROM leases WHERE row_mac IS NOT NULL)",
                &[],
            )
            .await?;
        rows.first()
            .map(|r| r.try_get::<_, bool>(0).map_err(pg_err))
            .unwrap_or(Ok(false))
    }
}

/// The insert of one whole lease row (`LeaseTimes::params`' order).
fn insert_sql() -> String {
    format!(
        "INSERT INTO leases ({LEASE_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,\
         $12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27)"
    )
}

/// [`LeaseStore::lease_count_live`] for a prefix with a range end ([`prefix_end`], `$3`): the
/// primary key (`COLLATE "C"`, byte order) bounds the scan to the prefix's leases.
/// The id's path (up to its last `/`) starts with `$1`, i.e. a `/` comes at or
/// after the prefix's last character.
const COUNT_LIVE_RANGE: &str = "SELECT count(*) FROM leases WHERE id >= $1 AND id < $3 \
     AND starts_with(id, $1) AND strpos(substr(id, greatest(length($1), 1)), '/') > 0 \
     AND state <> 'revoked' AND mount_path <> 'auth/token/' \
     AND ($2::text IS NULL OR role = $2)";
/// The same for a prefix without one (empty: every lease); `$3` is NULL and unused.
const COUNT_LIVE_ALL: &str = "SELECT count(*) FROM leases WHERE starts_with(id, $1) \
     AND strpos(substr(id, greatest(length($1), 1)), '/') > 0 \
     AND $3::text IS NULL AND state <> 'revoked' AND mount_path <> 'auth/token/' \
     AND ($2::text IS NULL OR role = $2)";

/// The count statement for `end` (see above).
fn count_live(end: &Option<String>) -> &'static str {
    if end.is_some() {
        COUNT_LIVE_RANGE
    } else {
        COUNT_LIVE_ALL
    }
}

/// The count a `SELECT count(*)` answered (0 when it answered no row).
fn first_count(rows: &[tokio_postgres::Row]) -> Result<i64, StorageError> {
    Ok(rows
        .first()
        .map(|r| r.try_get::<_, i64>(0))
        .transpose()
        .map_err(pg_err)?
        .unwrap_or(0))
}
