//! [`LeaseHistory`] on SQLite: the statements are built in `storage/history.rs`; this file binds
//! them and reads the rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, Row};

use super::{err, Cached, SqliteStorage};
use crate::storage::history::{
    ended_values, merge, merge_summary, page_statements, summary_row, summary_statements, Built,
    Dialect, EndedColumns, LiveColumns, Param, Table, HISTORY_COLUMNS, TIDY_SQL_SQLITE,
};
use crate::storage::{
    HistoryQuery, HistoryRow, LeaseHistory, Period, StorageError, SummaryBy, SummaryRow,
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
    Ok(LiveColumns {
        id: r.get(0)?,
        mount: r.get(1)?,
        role: r.get(2)?,
        workload: r.get(3)?,
        account: r.get(4)?,
        accessor: r.get(5)?,
        purpose: r.get(6)?,
        ticket: r.get(7)?,
        issue_ms: r.get(8)?,
        expire_ms: r.get(9)?,
        last_renewal_ms: r.get(10)?,
        state: r.get(11)?,
        trail: r.get(12)?,
    }
    .into())
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
        let sums = [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?];
        Ok(summary_row(r.get(0)?, r.get(1)?, sums, period))
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
            let mut pages = Vec::new();
            for (table, built) in page_statements(Dialect::Sqlite, &q, limit, now) {
                let rows = match table {
                    Table::Live => query(c, built, live_from_row)?,
                    Table::Ended => query(c, built, ended_from_row)?,
                };
                pages.push((table, rows));
            }
            Ok(merge(pages, limit))
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
            for built in summary_statements(Dialect::Sqlite, &q, by, period, now) {
                rows.extend(query(c, built, summary_from_row(period))?);
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
