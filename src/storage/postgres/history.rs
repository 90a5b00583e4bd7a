//! [`LeaseHistory`] on PostgreSQL: the statements are built in `storage/history.rs`; this file
//! binds them and reads the rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{pg_err, PostgresStorage};
use crate::storage::history::{
    ended_values, merge, merge_summary, page_statements, summary_row, summary_statements, Built,
    Dialect, EndedColumns, LiveColumns, Param, Table, HISTORY_COLUMNS, TIDY_SQL_POSTGRES,
};
use crate::storage::{
    HistoryQuery, HistoryRow, LeaseHistory, Period, StorageError, SummaryBy, SummaryRow,
};

/// A statement's value, owned, to be lent as a parameter.
pub(super) enum Bound {
    Text(Option<String>),
    Int(Option<i64>),
}

impl Bound {
    pub(super) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Text(t) => t,
            Self::Int(n) => n,
        }
    }
}

pub(super) fn bound(params: Vec<Param>) -> Vec<Bound> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Text(t) => Bound::Text(t),
            Param::Int(n) => Bound::Int(n),
        })
        .collect()
}

/// `$first::type, ...` for `values`: an `INSERT ... SELECT` list gives PostgreSQL no column to
/// infer a parameter's type from.
pub(super) fn typed_marks(values: &[Param], first: usize) -> String {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Param::Text(_) => format!("${}::text", first + i),
            Param::Int(_) => format!("${}::bigint", first + i),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl PostgresStorage {
    async fn run(&self, built: Built) -> Result<Vec<Row>, StorageError> {
        let values = bound(built.params);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Bound::as_sql).collect();
        self.query(&built.sql, &params).await
    }
}

fn ended_from_row(r: &Row) -> Result<HistoryRow, tokio_postgres::Error> {
    Ok(EndedColumns {
        issued_at: r.try_get(0)?,
        id: r.try_get(1)?,
        mount: r.try_get(2)?,
        role: r.try_get(3)?,
        workload: r.try_get(4)?,
        account: r.try_get(5)?,
        accessor: r.try_get(6)?,
        purpose: r.try_get(7)?,
        ticket: r.try_get(8)?,
        expire_at: r.try_get(9)?,
        last_renewal: r.try_get(10)?,
        ended_at: r.try_get(11)?,
        ending: r.try_get(12)?,
        renewals: r.try_get(13)?,
        approval_id: r.try_get(14)?,
        requested_at: r.try_get(15)?,
        approved_at: r.try_get(16)?,
        destroyed_by: r.try_get(17)?,
        sessions: r.try_get(18)?,
        verified_at: r.try_get(19)?,
    }
    .into())
}

fn live_from_row(r: &Row) -> Result<HistoryRow, tokio_postgres::Error> {
    Ok(LiveColumns {
        id: r.try_get(0)?,
        mount: r.try_get(1)?,
        role: r.try_get(2)?,
        workload: r.try_get(3)?,
        account: r.try_get(4)?,
        accessor: r.try_get(5)?,
        purpose: r.try_get(6)?,
        ticket: r.try_get(7)?,
        issue_ms: r.try_get(8)?,
        expire_ms: r.try_get(9)?,
        last_renewal_ms: r.try_get(10)?,
        state: r.try_get(11)?,
        trail: r.try_get(12)?,
    }
    .into())
}

fn summary_from_row(r: &Row, period: Period) -> Result<SummaryRow, tokio_postgres::Error> {
    let sums = [
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
    ];
    Ok(summary_row(r.try_get(0)?, r.try_get(1)?, sums, period))
}

#[async_trait]
impl LeaseHistory for PostgresStorage {
    async fn history_page(
        &self,
        q: &HistoryQuery,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<HistoryRow>, StorageError> {
        let mut pages = Vec::new();
        for (table, built) in page_statements(Dialect::Postgres, q, limit, now) {
            let read = match table {
                Table::Live => live_from_row,
                Table::Ended => ended_from_row,
            };
            let rows = self.run(built).await?;
            let rows = rows.iter().map(read).collect::<Result<_, _>>();
            pages.push((table, rows.map_err(pg_err)?));
        }
        Ok(merge(pages, limit))
    }

    async fn history_summary(
        &self,
        q: &HistoryQuery,
        by: SummaryBy,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Vec<SummaryRow>, StorageError> {
        let mut out = Vec::new();
        for built in summary_statements(Dialect::Postgres, q, by, period, now) {
            for r in &self.run(built).await? {
                out.push(summary_from_row(r, period).map_err(pg_err)?);
            }
        }
        Ok(merge_summary(out))
    }

    async fn history_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        self.execute(TIDY_SQL_POSTGRES, &[&before.timestamp()])
            .await
    }

    async fn history_insert(&self, rows: &[HistoryRow]) -> Result<u64, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let sql = format!(
            "INSERT INTO lease_history ({HISTORY_COLUMNS}) VALUES \
             ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) \
             ON CONFLICT DO NOTHING"
        );
        let stmt = tx.prepare(&sql).await.map_err(pg_err)?;
        let mut n = 0;
        for row in rows.iter().filter(|r| r.ended_at.is_some()) {
            let values = bound(ended_values(row));
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Bound::as_sql).collect();
            n += tx.execute(&stmt, &params).await.map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(n)
    }
}
