//! [`LeaseStore`] on SQLite: the lease rows.

use async_trait::async_trait;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::rows::{lease_from_row, lease_values, LEASE_COLUMNS};
use super::{err, Cached, SqliteStorage};
use crate::storage::leases::{check_revoked_time, prefix_end};
use crate::storage::{
    HistoryRow, LeaseCount, LeaseRecord, LeaseState, LeaseStore, StorageError, Within,
};

/// [`LeaseStore::lease_update`]: what may change after the insert, where the row is still in
/// the `expected` state (`?28`) and has the same identity (mount, kind, role, account, issue
/// time, token, workload, purpose, ticket: fixed at insert, so a record that changed one of them
/// is refused rather than stored beside a tag that covers columns it did not write). Setting
/// only these columns is what spares SQLite the indexes on the identity columns: it rewrites an
/// index on every update that sets a column the index or its `WHERE` names, whatever the value.
const UPDATE: &str = "UPDATE leases SET state=?7, expire_time=?9, max_expire_time=?10, \
    last_renewal=?11, role_ttl_secs=?12, renewable=?13, due_at=?14, attempts=?15, \
    last_error=?16, revoked_time=?17, forced=?18, internal=?20, claimed_by=?24, row_mac=?25, \
    tampered_at=?26, trail=?27 \
    WHERE id=?1 AND state=?28 AND mount_uuid=?2 AND mount_path=?3 AND kind=?4 AND role=?5 \
    AND account=?6 AND issue_time=?8 AND token_accessor=?19 AND workload=?21 \
    AND purpose IS ?22 AND ticket IS ?23";
/// [`UPDATE`] for a row that stays live (`revoked_time` NULL before and after), without
/// setting `revoked_time`: the live count's trigger fires on a statement that sets it
/// (schema v8), and `leases_state_revoked` has it in its key.
const UPDATE_LIVE: &str = "UPDATE leases SET state=?7, expire_time=?9, max_expire_time=?10, \
    last_renewal=?11, role_ttl_secs=?12, renewable=?13, due_at=?14, attempts=?15, \
    last_error=?16, forced=?18, internal=?20, claimed_by=?24, row_mac=?25, \
    tampered_at=?26, trail=?27 \
    WHERE id=?1 AND state=?28 AND revoked_time IS NULL AND mount_uuid=?2 AND mount_path=?3 \
    AND kind=?4 AND role=?5 AND account=?6 AND issue_time=?8 AND token_accessor=?19 \
    AND workload=?21 AND purpose IS ?22 AND ticket IS ?23";

/// Accounts asked about per statement in `lease_live_accounts` (SQLite allows 32766 variables).
const ACCOUNT_CHUNK: usize = 500;

#[async_trait]
impl LeaseStore for SqliteStorage {
    async fn lease_insert(&self, lease: &LeaseRecord) -> Result<(), StorageError> {
        let lease = lease.clone();
        self.write(move |c: &Connection| insert(c, &lease)).await
    }

    async fn lease_get(&self, id: &str) -> Result<Option<LeaseRecord>, StorageError> {
        let id = id.to_owned();
        self.read(move |c: &Connection| {
            c.row(
                &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = ?1"),
                [id],
                lease_from_row,
            )
            .optional()
            .map_err(err)
        })
        .await
    }

    async fn lease_update(
        &self,
        lease: &LeaseRecord,
        expected: LeaseState,
    ) -> Result<bool, StorageError> {
        check_revoked_time(lease)?;
        let lease = lease.clone();
        // A row that ends here gets its history row in the same transaction (storage/history.rs).
        let history = (expected != LeaseState::Revoked)
            .then(|| HistoryRow::ended(&lease))
            .flatten();
        self.write(move |c: &Connection| {
            let mut values = lease_values(&lease);
            values.push(expected.as_str().to_owned().into());
            // While the row stays live, the statement that leaves `revoked_time` alone (and so
            // the live count); if it finds no row, the full one decides (a row leaving or
            // entering `revoked`, or one whose `revoked_time` is set while live).
            let narrow = lease.revoked_time.is_none() && expected != LeaseState::Revoked;
            let updated = (narrow
                && c.exec(UPDATE_LIVE, params_from_iter(&values))
                    .map_err(err)?
                    == 1)
                || c.exec(UPDATE, params_from_iter(&values)).map_err(err)? == 1;
            if let Some(row) = history.filter(|_| updated) {
                super::history::insert_ended(c, &row)?;
            }
            Ok(updated)
        })
        .await
    }

    async fn lease_list_live(&self, prefix: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let prefix = prefix.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases \
                     WHERE substr(id, 1, length(?1)) = ?1 AND state != 'revoked' ORDER BY id"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([prefix], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_count_live(
        &self,
        prefix: &str,
        role: Option<&str>,
    ) -> Result<u64, StorageError> {
        let (prefix, role) = (prefix.to_owned(), role.map(str::to_owned));
        self.read(move |c: &Connection| count_live(c, &prefix, role.as_deref()))
            .await
    }

    async fn lease_insert_within(
        &self,
        lease: &LeaseRecord,
        within: &Within<'_>,
    ) -> Result<bool, StorageError> {
        let lease = lease.clone();
        let (prefix, role, max) = (
            within.prefix.to_owned(),
            within.role.map(str::to_owned),
            within.max,
        );
        // One call on the writer thread, the only writer of this file: nothing can be inserted
        // between the count and the insert, and no lock row or wait is needed. (One node per
        // SQLite file, so `within.lock` has no one else to hold off.)
        self.write(move |c: &Connection| {
            if count_live(c, &prefix, role.as_deref())? >= max {
                return Ok(false);
            }
            insert(c, &lease)?;
            Ok(true)
        })
        .await
    }

    async fn lease_list_by_token(&self, accessor: &str) -> Result<Vec<LeaseRecord>, StorageError> {
        let accessor = accessor.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases \
                     WHERE token_accessor = ?1 AND state != 'revoked' ORDER BY id"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([accessor], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_list_by_workload(
        &self,
        workload: &str,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let workload = workload.trim_end_matches('/').to_owned();
        self.read(move |c: &Connection| {
            // The workload itself, or anything below it at a segment boundary.
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE workload != '' AND state != 'revoked' \
                     AND (workload = ?1 OR substr(workload, 1, length(?1) + 1) = ?1 || '/') ORDER BY id"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([workload], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_live_accounts(
        &self,
        mount_path: &str,
        accounts: &[String],
    ) -> Result<std::collections::HashSet<String>, StorageError> {
        let (mount_path, accounts) = (mount_path.to_owned(), accounts.to_vec());
        self.read(move |c: &Connection| {
            let mut live = std::collections::HashSet::new();
            for chunk in accounts.chunks(ACCOUNT_CHUNK) {
                let marks = vec!["?"; chunk.len()].join(",");
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT account FROM leases WHERE mount_path = ? AND state != 'revoked' \
                         AND account IN ({marks})"
                    ))
                    .map_err(err)?;
                let params = std::iter::once(&mount_path).chain(chunk.iter());
                let found = stmt
                    .query_map(params_from_iter(params), |r| r.get::<_, String>(0))
                    .map_err(err)?;
                for account in found {
                    live.insert(account.map_err(err)?);
                }
            }
            Ok(live)
        })
        .await
    }

    async fn lease_counts(&self, irrevocable_after: i64) -> Result<Vec<LeaseCount>, StorageError> {
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT mount_path, role, state, state = 'revoking' AND attempts >= ?1, count(*) \
                     FROM leases GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([irrevocable_after], |r| {
                    let state: String = r.get(2)?;
                    Ok(LeaseCount {
                        mount_path: r.get(0)?,
                        role: r.get(1)?,
                        // As in lease_from_row: an unknown state needs destruction.
                        state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
                        irrevocable: r.get(3)?,
                        count: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    })
                })
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }

    async fn lease_internal_scan(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.scan_pairs(
            "SELECT id, internal FROM leases WHERE id > ?1 ORDER BY id LIMIT ?2",
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
        self.swap_if_equal(
            "UPDATE leases SET internal = ?3 WHERE id = ?1 AND internal = ?2",
            id,
            expected,
            value,
        )
        .await
    }

    async fn lease_page_live(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, StorageError> {
        let after = after.to_owned();
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE id > ?1 AND state != 'revoked' \
                     ORDER BY id LIMIT ?2"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map(params![after, limit as i64], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(rows)
        })
        .await
    }

    async fn lease_untagged(&self, limit: usize) -> Result<Vec<LeaseRecord>, StorageError> {
        self.read(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LEASE_COLUMNS} FROM leases WHERE row_mac IS NULL ORDER BY id LIMIT ?1"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([limit as i64], lease_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(rows)
        })
        .await
    }

    async fn lease_set_row_macs(&self, tags: Vec<(String, Vec<u8>)>) -> Result<u64, StorageError> {
        // The writer runs each closure inside its group-commit transaction.
        self.write(move |c: &Connection| {
            let mut stmt = c
                .prepare_cached("UPDATE leases SET row_mac = ?2 WHERE id = ?1 AND row_mac IS NULL")
                .map_err(err)?;
            let mut n = 0u64;
            for (id, mac) in tags {
                n += stmt.execute(params![id, mac]).map_err(err)? as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn lease_any_tagged(&self) -> Result<bool, StorageError> {
        self.read(move |c: &Connection| {
            c.row(
                "SELECT EXISTS (SELECT 1 FROM leases WHERE row_mac IS NOT NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(err)
        })
        .await
    }
}

fn insert(c: &Connection, lease: &LeaseRecord) -> Result<(), StorageError> {
    check_revoked_time(lease)?;
    let sql = format!(
        "INSERT INTO leases ({LEASE_COLUMNS}) VALUES \
         (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27)"
    );
    c.exec(&sql, params_from_iter(lease_values(lease)))
        .map(|_| ())
        .map_err(err)
}

/// [`LeaseStore::lease_count_live`] on `c`: a sum over the kept counts (schema v8), one row per
/// request path and role, never a walk over the leases. The prefix bounds a range of the
/// paths where it can ([`prefix_end`]).
fn count_live(c: &Connection, prefix: &str, role: Option<&str>) -> Result<u64, StorageError> {
    // `?3`, the range's end, is NULL (and unused) where the prefix has none.
    const RANGE: &str = "SELECT coalesce(sum(live), 0) FROM lease_live_counts \
         WHERE path >= ?1 AND path < ?3 AND substr(path, 1, length(?1)) = ?1 \
         AND (?2 IS NULL OR role = ?2)";
    const ALL: &str = "SELECT coalesce(sum(live), 0) FROM lease_live_counts \
         WHERE ?3 IS NULL AND substr(path, 1, length(?1)) = ?1 AND (?2 IS NULL OR role = ?2)";
    let end = prefix_end(prefix);
    let sql = if end.is_some() { RANGE } else { ALL };
    let n: i64 = c
        .row(sql, rusqlite::params![prefix, role, end], |r| r.get(0))
        .map_err(err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
