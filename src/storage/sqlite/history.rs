//! [`LeaseHistory`] on SQLite: the statements are built in `storage/history.rs`; this file binds
//! them and reads the rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, Row};

use super::{err, opt_time, time, Cached, SqliteStorage};
use crate::storage::history::{
    ended_values, merge, merge_summary, page_sql, reads, summary_sql, Built, Dialect, EndedColumns,
    Param, Table, HISTORY_COLUMNS, TIDY_SQL_SQLITE,
};
use crate::storage::{
    HistoryQuery, HistoryRow, LeaseHistory, LeaseState, LeaseTrail, Period, StorageError,
    SummaryBy, SummaryRow,
};

fn values(params: Vec<Param>) -> Vec<SqlValue> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Text(t) => t.map_or(SqlValue::Null, SqlValue::Text),
            Param::Int(n) => n.map_or(SqlValue::Null, SqlValue::Integer),
        })
        .collect()
}

/// Write the history row of a lease that has just ended, inside the caller's transaction.
pub(super) fn insert_ended(c: &Connection, row: &HistoryRow) -> Result<(), StorageError> {
    insert(c, row).map(|_| ())
}

fn insert(c: &Connection, row: &HistoryRow) -> Result<usize, StorageError> {
    c.exec(
        &format!(
            "INSERT INTO lease_history ({HISTORY_COLUMNS}) VALUES \
             (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20) \
             ON CONFLICT DO NOTHING"
        ),
        params_from_iter(values(ended_values(row))),
    )
    .map_err(err)
}

fn ended_from_row(r: &Row<'_>) -> rusqlite::Result<HistoryRow> {
    Ok(EndedColumns {
        issued_at: r.get(0)?,
        id: r.get(1)?,
        mount: r.get(2)?,
        role: r.get(3)?,
        workload: r.get(4)?,
        account: r.get(5)?,
        accessor: r.get(6)?,
        purpose: r.get(7)?,
        ticket: r.get(8)?,
        expire_at: r.get(9)?,
        last_renewal: r.get(10)?,
        ended_at: r.get(11)?,
        ending: r.get(12)?,
        renewals: r.get(13)?,
        approval_id: r.get(14)?,
        requested_at: r.get(15)?,
        approved_at: r.get(16)?,
        destroyed_by: r.get(17)?,
        sessions: r.get(18)?,
        verified_at: r.get(19)?,
    }
    .into())
}

fn live_from_row(r: &Row<'_>) -> rusqlite::Result<HistoryRow> {
    let state: String = r.get(11)?;
    Ok(HistoryRow {
        id: r.get(0)?,
        mount: r.get(1)?,
        role: r.get(2)?,
        workload: r.get(3)?,
        account: r.get(4)?,
        accessor: r.get(5)?,
        purpose: r.get(6)?,
        ticket: r.get(7)?,
        issued_at: time(r.get(8)?),
        expire_at: time(r.get(9)?),
        last_renewal: opt_time(r.get(10)?),
        state: LeaseState::parse(&state).unwrap_or(LeaseState::Revoking),
        ended_at: None,
        trail: LeaseTrail::from_column(r.get::<_, Option<String>>(12)?.as_deref()),
    })
}

fn query<T>(
    c: &Connection,
    built: Built,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StorageError> {
    let mut stmt = c.prepare_cached(&built.sql).map_err(err)?;
    let rows = stmt
        .query_map(params_from_iter(values(built.params)), f)
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err);
    rows
}

fn summary_from_row(period: Period) -> impl FnMut(&Row<'_>) -> rusqlite::Result<SummaryRow> {
    move |r| {
        let count = |i: usize| -> rusqlite::Result<u64> {
            Ok(u64::try_from(r.get::<_, Option<i64>>(i)?.unwrap_or(0)).unwrap_or(0))
        };
        Ok(SummaryRow {
            key: r.get(0)?,
            period: period.start(r.get(1)?),
            leases: count(2)?,
            privilege_secs: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            overstayed: count(4)?,
            unused: count(5)?,
            live: count(6)?,
        })
    }
}

#[async_trait]
impl LeaseHistory for SqliteStorage {
    async fn history_page(
        &self,
        q: &HistoryQuery,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<HistoryRow>, StorageError> {
        let q = q.clone();
        self.read(move |c: &Connection| {
            let mut live = Vec::new();
            if reads(Table::Live, &q) {
                let built = page_sql(Dialect::Sqlite, Table::Live, &q, limit, now);
                live = query(c, built, live_from_row)?;
            }
            let mut ended = Vec::new();
            if reads(Table::Ended, &q) {
                let built = page_sql(Dialect::Sqlite, Table::Ended, &q, limit, now);
                ended = query(c, built, ended_from_row)?;
            }
            Ok(merge(live, ended, limit))
        })
        .await
    }

    async fn history_summary(
        &self,
        q: &HistoryQuery,
        by: SummaryBy,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Vec<SummaryRow>, StorageError> {
        let q = q.clone();
        self.read(move |c: &Connection| {
            let mut rows = Vec::new();
            for table in [Table::Live, Table::Ended] {
                if reads(table, &q) {
                    let built = summary_sql(Dialect::Sqlite, table, &q, by, period, now);
                    rows.extend(query(c, built, summary_from_row(period))?);
                }
            }
            Ok(merge_summary(rows))
        })
        .await
    }

    async fn history_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        let before = before.timestamp();
        self.write(move |c: &Connection| {
            c.exec(TIDY_SQL_SQLITE, [before])
                .map(|n| n as u64)
                .map_err(err)
        })
        .await
    }

    async fn history_insert(&self, rows: &[HistoryRow]) -> Result<u64, StorageError> {
        let rows = rows.to_vec();
        self.write(move |c: &Connection| {
            let mut n = 0u64;
            for row in rows.iter().filter(|r| r.ended_at.is_some()) {
                n += insert(c, row)? as u64;
            }
            Ok(n)
        })
        .await
    }
}
