//! The access history: one row per lease, live or ended, kept after the lease row and its
//! tombstone are tidied — for `sys/leases/history` ([`crate::core::system::lease_history`]).
//!
//! Live leases are read from the lease table itself; an ended lease has a row of its own in
//! `lease_history`, written by storage **in the same transaction** that makes its lease row
//! `revoked` ([`HistoryRow::ended`], called by both back-ends' `lease_update`). A lease row
//! becomes `revoked` once (the update is conditional on the state it leaves, and no arrow leaves
//! `revoked`), so every ended lease has exactly one history row, whichever path ended it
//! (destruction, revoke-force, a failed issue), with no window in which a crash loses it. Token
//! expiry rows have no account and are not in the history.
//!
//! The history row is compact on purpose (a year of a busy pipeline's leases is millions of
//! rows): times in whole seconds, how it ended as a small number, nothing sealed, no integrity
//! tag, no error text; the table's primary key is the paging order `(issued_at, id)`. Rows are
//! kept for `lease.history_retention` after they ended ([`LeaseHistory::history_tidy`]).
//!
//! The filters' SQL is built once here ([`where_clause`]) for both back-ends, which differ only
//! in their placeholders and one function name.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lease_record::{LeaseRecord, LeaseState};
use super::lease_trail::{Ending, LeaseTrail};
use super::StorageError;

/// The kind of a token's expiry row (as `lease::TOKEN_LEASE_KIND`): not in the history.
const TOKEN_KIND: &str = "token";

/// One lease as the history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    /// The lease id.
    pub id: String,
    /// Mount path it was issued on (`database/`).
    pub mount: String,
    /// Role.
    pub role: String,
    /// Workload identity of the token that obtained it (empty for plain tokens).
    pub workload: String,
    /// Account on the target (user name).
    pub account: String,
    /// Accessor of the token that obtained it.
    pub accessor: String,
    /// The caller's stated purpose.
    pub purpose: Option<String>,
    /// The caller's ticket.
    pub ticket: Option<String>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Its expiry (the last one, after renewals).
    pub expire_at: DateTime<Utc>,
    /// Its last renewal.
    pub last_renewal: Option<DateTime<Utc>>,
    /// `creating`, `active` or `revoking` while live; `revoked` once ended.
    pub state: LeaseState,
    /// When it ended (destroyed or force-removed); `None` while live.
    pub ended_at: Option<DateTime<Utc>>,
    /// Approval, renewals, how it ended, who destroyed it, what the target proved.
    pub trail: LeaseTrail,
}

impl HistoryRow {
    /// The history row of a lease row (any state but a token's).
    pub fn of(lease: &LeaseRecord) -> Option<Self> {
        (lease.kind != TOKEN_KIND).then(|| Self {
            id: lease.id.clone(),
            mount: lease.mount_path.clone(),
            role: lease.role.clone(),
            workload: lease.workload.clone(),
            account: lease.account.clone(),
            accessor: lease.token_accessor.clone(),
            purpose: lease.purpose.clone(),
            ticket: lease.ticket.clone(),
            issued_at: lease.issue_time,
            expire_at: lease.expire_time,
            last_renewal: lease.last_renewal,
            state: lease.state,
            ended_at: lease
                .revoked_time
                .filter(|_| lease.state == LeaseState::Revoked),
            trail: lease.trail.clone(),
        })
    }

    /// The row to write when `lease` has just become `revoked`; `None` for a token's row or a
    /// lease that has not ended.
    pub fn ended(lease: &LeaseRecord) -> Option<Self> {
        Self::of(lease).filter(|r| r.ended_at.is_some())
    }

    /// How the lease ended, as recorded; for a row ended by an older build, from its times.
    pub fn ending(&self) -> Option<Ending> {
        let ended = self.ended_at?;
        Some(self.trail.ending.unwrap_or(if ended >= self.expire_at {
            Ending::Expired
        } else {
            Ending::Revoked
        }))
    }

    /// Seconds the privilege existed: issue to destruction (to `now` while live).
    pub fn privilege_secs(&self, now: DateTime<Utc>) -> i64 {
        (self.ended_at.unwrap_or(now) - self.issued_at)
            .num_seconds()
            .max(0)
    }

    /// Seconds it outlived its expiry (zero when it ended before).
    pub fn overstay_secs(&self, now: DateTime<Utc>) -> i64 {
        (self.ended_at.unwrap_or(now) - self.expire_at)
            .num_seconds()
            .max(0)
    }

    /// Where this row is in the history's order.
    pub fn cursor(&self) -> HistoryCursor {
        HistoryCursor {
            issued: self.issued_at.timestamp(),
            id: self.id.clone(),
        }
    }
}

/// A position in the history's order: issue time (whole seconds), then lease id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistoryCursor {
    /// Issue time, Unix seconds.
    pub issued: i64,
    /// Lease id.
    pub id: String,
}

impl HistoryCursor {
    /// The text form handed to callers: `<seconds>.<lease id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.issued, self.id)
    }

    /// Read a cursor a caller handed back; `None` when it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let (secs, id) = s.split_once('.')?;
        let issued = secs.parse().ok()?;
        (!id.is_empty()).then(|| Self {
            issued,
            id: id.to_owned(),
        })
    }
}

/// What a history query asks for. Every filter is optional; all given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    /// Mount path, with its trailing `/`.
    pub mount: Option<String>,
    /// Role (exact).
    pub role: Option<String>,
    /// Workload: exactly, or below it at a `/` boundary.
    pub workload: Option<String>,
    /// Account (exact).
    pub account: Option<String>,
    /// Token accessor (exact).
    pub accessor: Option<String>,
    /// Text the purpose contains.
    pub purpose: Option<String>,
    /// Ticket (exact).
    pub ticket: Option<String>,
    /// Leases that held privilege at or after this time (live, or ended at or after it).
    pub since: Option<DateTime<Utc>>,
    /// Leases issued before this time.
    pub until: Option<DateTime<Utc>>,
    /// `Some(true)`: ended leases only; `Some(false)`: live ones only.
    pub ended: Option<bool>,
    /// Only leases that outlived their expiry (live ones past it included).
    pub overstayed: bool,
    /// Only ended leases whose destruction found no session open (where the target can tell).
    pub unused: bool,
    /// Rows after this position.
    pub after: Option<HistoryCursor>,
}

/// What a summary groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryBy {
    /// The workload identity.
    Workload,
    /// The mount path and role (`database/readonly`).
    Role,
    /// The account name.
    Account,
}

/// The period a summary adds up over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// UTC days.
    Day,
    /// Weeks starting on Monday, UTC.
    Week,
}

impl Period {
    /// Seconds in one period.
    fn len(self) -> i64 {
        match self {
            Self::Day => 86_400,
            Self::Week => 7 * 86_400,
        }
    }

    /// Added to Unix seconds before dividing by the length, so that weeks start on Monday (the
    /// epoch was a Thursday).
    fn offset(self) -> i64 {
        match self {
            Self::Day => 0,
            Self::Week => 3 * 86_400,
        }
    }

    /// The start of bucket number `n`.
    pub fn start(self, n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(n * self.len() - self.offset(), 0).unwrap_or_default()
    }
}

/// One group of a summary: a key's leases issued in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The workload, `<mount><role>` or account.
    pub key: String,
    /// The period's start.
    pub period: DateTime<Utc>,
    /// Leases issued in it.
    pub leases: u64,
    /// Their privilege-seconds (issue to destruction, or to now while live).
    pub privilege_secs: i64,
    /// Of them, how many outlived their expiry.
    pub overstayed: u64,
    /// Of them, how many ended with no session open (where the target can tell).
    pub unused: u64,
    /// Of them, how many are still live.
    pub live: u64,
}

/// The access history. Every method is one read, or one atomic write.
#[async_trait]
pub trait LeaseHistory: Send + Sync {
    /// Up to `limit` rows matching `query`, live and ended, in `(issued_at, id)` order.
    async fn history_page(
        &self,
        query: &HistoryQuery,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<HistoryRow>, StorageError>;
    /// Leases matching `query` (its cursor aside) added up per `by` and `period` of issue.
    async fn history_summary(
        &self,
        query: &HistoryQuery,
        by: SummaryBy,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Vec<SummaryRow>, StorageError>;
    /// Delete the history rows of leases that ended before `before`; returns how many.
    async fn history_tidy(&self, before: DateTime<Utc>) -> Result<u64, StorageError>;
    /// Write history rows of ended leases directly (imports, tests and the benchmark); a row
    /// whose lease is already there is left as it is.
    async fn history_insert(&self, rows: &[HistoryRow]) -> Result<u64, StorageError>;
}

/// The two SQL dialects the filters are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound value of a built statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
}

/// Which table a statement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// `lease_history`: ended leases, times in seconds.
    Ended,
    /// `leases`: live leases, times in milliseconds.
    Live,
}

/// The column expressions of one table, in Unix seconds where they are times.
struct Columns {
    mount: &'static str,
    accessor: &'static str,
    issued: &'static str,
    expire: &'static str,
    /// Conditions every row of this table must meet to be in the history.
    base: &'static str,
}

const ENDED: Columns = Columns {
    mount: "mount",
    accessor: "accessor",
    issued: "issued_at",
    expire: "expire_at",
    base: "1 = 1",
};

const LIVE: Columns = Columns {
    mount: "mount_path",
    accessor: "token_accessor",
    issued: "(issue_time / 1000)",
    expire: "(expire_time / 1000)",
    base: "state <> 'revoked' AND kind <> 'token'",
};

/// The columns `lease_history` has, in the order [`ended_values`] gives them.
pub(crate) const HISTORY_COLUMNS: &str = "issued_at, id, mount, role, workload, account, \
    accessor, purpose, ticket, expire_at, last_renewal, ended_at, ending, renewals, approval_id, \
    requested_at, approved_at, destroyed_by, sessions, verified_at";

/// The live columns a history row is read from, in the order the back-ends read them.
pub(crate) const LIVE_COLUMNS: &str = "id, mount_path, role, workload, account, token_accessor, \
    purpose, ticket, issue_time, expire_time, last_renewal, state, trail";

/// A built statement: its text (placeholders numbered from 1) and its values.
#[derive(Debug, Default)]
pub(crate) struct Built {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Built {
    /// Add a value; its placeholder. PostgreSQL's carry their type: in `$1 >= $2` it has no
    /// column to infer one from.
    fn bind(&mut self, dialect: Dialect, value: Param) -> String {
        let cast = match value {
            Param::Text(_) => "text",
            Param::Int(_) => "bigint",
        };
        self.params.push(value);
        match dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}::{cast}", self.params.len()),
        }
    }
}

/// Whether `query` can match any row of `table` at all (live rows never ended, so an
/// ended-only or unused-only query skips them).
fn reads(table: Table, query: &HistoryQuery) -> bool {
    match table {
        Table::Ended => query.ended != Some(false),
        Table::Live => query.ended != Some(true) && !query.unused,
    }
}

/// The statements of one page, live first (see [`merge`]), each with its table; a table the
/// query cannot match is not read.
pub(crate) fn page_statements(
    d: Dialect,
    query: &HistoryQuery,
    limit: usize,
    now: DateTime<Utc>,
) -> Vec<(Table, Built)> {
    [Table::Live, Table::Ended]
        .into_iter()
        .filter(|t| reads(*t, query))
        .map(|t| (t, page_sql(d, t, query, limit, now)))
        .collect()
}

/// The statements of a summary, one per table the query can match.
pub(crate) fn summary_statements(
    d: Dialect,
    query: &HistoryQuery,
    by: SummaryBy,
    period: Period,
    now: DateTime<Utc>,
) -> Vec<Built> {
    [Table::Live, Table::Ended]
        .into_iter()
        .filter(|t| reads(*t, query))
        .map(|t| summary_sql(d, t, query, by, period, now))
        .collect()
}

/// The `WHERE` clause for `query` over `table`, with the cursor when `paged`.
fn where_clause(
    b: &mut Built,
    d: Dialect,
    table: Table,
    query: &HistoryQuery,
    now: DateTime<Utc>,
    paged: bool,
) -> String {
    let c = match table {
        Table::Ended => &ENDED,
        Table::Live => &LIVE,
    };
    // A live lease has not ended: it holds privilege until now. Bound only where used (an
    // unused PostgreSQL parameter has no type).
    let ended = |b: &mut Built| match table {
        Table::Live => b.bind(d, Param::Int(Some(now.timestamp()))),
        Table::Ended => "ended_at".to_owned(),
    };
    let mut conds = vec![c.base.to_owned()];
    let mut eq = |b: &mut Built, column: &str, v: &Option<String>| {
        if let Some(v) = v {
            let p = b.bind(d, Param::Text(Some(v.clone())));
            conds.push(format!("{column} = {p}"));
        }
    };
    eq(b, c.mount, &query.mount);
    eq(b, "role", &query.role);
    eq(b, "account", &query.account);
    eq(b, c.accessor, &query.accessor);
    eq(b, "ticket", &query.ticket);
    if let Some(w) = &query.workload {
        // Below it at a `/` boundary: from `w/` up to `w0` (`0` follows `/` in byte order,
        // which both back-ends compare workloads in), a range an index can serve.
        let w = w.trim_end_matches('/');
        let exact = b.bind(d, Param::Text(Some(w.to_owned())));
        let from = b.bind(d, Param::Text(Some(format!("{w}/"))));
        let to = b.bind(d, Param::Text(Some(format!("{w}0"))));
        conds.push(format!(
            "(workload = {exact} OR (workload >= {from} AND workload < {to}))"
        ));
    }
    if let Some(p) = &query.purpose {
        let p = b.bind(d, Param::Text(Some(p.clone())));
        conds.push(match d {
            Dialect::Sqlite => format!("instr(purpose, {p}) > 0"),
            Dialect::Postgres => format!("strpos(purpose, {p}) > 0"),
        });
    }
    if let Some(since) = query.since {
        let p = b.bind(d, Param::Int(Some(since.timestamp())));
        let ended = ended(b);
        conds.push(format!("{ended} >= {p}"));
    }
    if let Some(until) = query.until {
        let p = b.bind(d, Param::Int(Some(until.timestamp())));
        conds.push(format!("{} < {p}", c.issued));
    }
    if query.overstayed {
        let ended = ended(b);
        conds.push(format!("{ended} > {}", c.expire));
    }
    if query.unused && table == Table::Ended {
        conds.push("sessions = 0".into());
    }
    if let Some(after) = query.after.as_ref().filter(|_| paged) {
        let secs = b.bind(d, Param::Int(Some(after.issued)));
        let id = b.bind(d, Param::Text(Some(after.id.clone())));
        conds.push(format!(
            "({issued} > {secs} OR ({issued} = {secs} AND id > {id}))",
            issued = c.issued
        ));
    }
    conds.join(" AND ")
}

/// One page of `table`'s rows for `query`, in history order.
fn page_sql(
    d: Dialect,
    table: Table,
    query: &HistoryQuery,
    limit: usize,
    now: DateTime<Utc>,
) -> Built {
    let mut b = Built::default();
    let cond = where_clause(&mut b, d, table, query, now, true);
    let limit = b.bind(
        d,
        Param::Int(Some(i64::try_from(limit).unwrap_or(i64::MAX))),
    );
    b.sql = match table {
        Table::Ended => format!(
            "SELECT {HISTORY_COLUMNS} FROM lease_history WHERE {cond} \
             ORDER BY issued_at, id LIMIT {limit}"
        ),
        Table::Live => format!(
            "SELECT {LIVE_COLUMNS} FROM leases WHERE {cond} \
             ORDER BY issue_time / 1000, id LIMIT {limit}"
        ),
    };
    b
}

/// The summary of `table`'s rows for `query`: `key, bucket, leases, privilege seconds,
/// overstayed, unused, live`, all integers but the key.
fn summary_sql(
    d: Dialect,
    table: Table,
    query: &HistoryQuery,
    by: SummaryBy,
    period: Period,
    now: DateTime<Utc>,
) -> Built {
    let mut b = Built::default();
    let cond = where_clause(&mut b, d, table, query, now, false);
    let c = match table {
        Table::Ended => &ENDED,
        Table::Live => &LIVE,
    };
    let key = match by {
        SummaryBy::Workload => "workload".to_owned(),
        SummaryBy::Role => format!("{} || role", c.mount),
        SummaryBy::Account => "account".to_owned(),
    };
    let offset = b.bind(d, Param::Int(Some(period.offset())));
    let len = b.bind(d, Param::Int(Some(period.len())));
    let (ended, unused, live) = match table {
        Table::Ended => (
            "ended_at".to_owned(),
            "CASE WHEN sessions = 0 THEN 1 ELSE 0 END",
            "0",
        ),
        Table::Live => (b.bind(d, Param::Int(Some(now.timestamp()))), "0", "1"),
    };
    b.sql = format!(
        "SELECT {key}, ({issued} + {offset}) / {len}, count(*), \
         CAST(sum({ended} - {issued}) AS BIGINT), \
         CAST(sum(CASE WHEN {ended} > {expire} THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(sum({unused}) AS BIGINT), CAST(sum({live}) AS BIGINT) \
         FROM {from} WHERE {cond} GROUP BY 1, 2",
        issued = c.issued,
        expire = c.expire,
        from = match table {
            Table::Ended => "lease_history",
            Table::Live => "leases",
        },
    );
    b
}

/// Retention: `lease_history` rows ended before `before` (seconds; `?1`/`$1`). The issue time
/// bound lets the primary key's range do the finding (a lease ended before `before` was issued
/// before it), so tidying a large table does not read the rows it keeps.
pub(crate) const TIDY_SQL_SQLITE: &str =
    "DELETE FROM lease_history WHERE issued_at < ?1 AND ended_at < ?1";
/// [`TIDY_SQL_SQLITE`] for PostgreSQL.
pub(crate) const TIDY_SQL_POSTGRES: &str =
    "DELETE FROM lease_history WHERE issued_at < $1 AND ended_at < $1";

/// A history row's values in [`HISTORY_COLUMNS`] order (times in seconds).
pub(crate) fn ended_values(r: &HistoryRow) -> Vec<Param> {
    let secs = |t: Option<DateTime<Utc>>| Param::Int(t.map(|t| t.timestamp()));
    let text = |s: &str| Param::Text(Some(s.to_owned()));
    let opt_text = |s: &Option<String>| Param::Text(s.clone());
    let t = &r.trail;
    vec![
        secs(Some(r.issued_at)),
        text(&r.id),
        text(&r.mount),
        text(&r.role),
        text(&r.workload),
        text(&r.account),
        text(&r.accessor),
        opt_text(&r.purpose),
        opt_text(&r.ticket),
        secs(Some(r.expire_at)),
        secs(r.last_renewal),
        secs(r.ended_at),
        Param::Int(Some(r.ending().map_or(0, Ending::code))),
        Param::Int(Some(t.renewals)),
        opt_text(&t.approval_id),
        secs(t.requested_at),
        secs(t.approved_at),
        opt_text(&t.destroyed_by),
        Param::Int(
            t.sessions_terminated
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        ),
        secs(t.verified_at),
    ]
}

/// The values of one `lease_history` row as read, in [`HISTORY_COLUMNS`] order.
pub(crate) struct EndedColumns {
    pub issued_at: i64,
    pub id: String,
    pub mount: String,
    pub role: String,
    pub workload: String,
    pub account: String,
    pub accessor: String,
    pub purpose: Option<String>,
    pub ticket: Option<String>,
    pub expire_at: i64,
    pub last_renewal: Option<i64>,
    pub ended_at: i64,
    pub ending: i64,
    pub renewals: i64,
    pub approval_id: Option<String>,
    pub requested_at: Option<i64>,
    pub approved_at: Option<i64>,
    pub destroyed_by: Option<String>,
    pub sessions: Option<i64>,
    pub verified_at: Option<i64>,
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl From<EndedColumns> for HistoryRow {
    fn from(c: EndedColumns) -> Self {
        Self {
            id: c.id,
            mount: c.mount,
            role: c.role,
            workload: c.workload,
            account: c.account,
            accessor: c.accessor,
            purpose: c.purpose,
            ticket: c.ticket,
            issued_at: at(c.issued_at),
            expire_at: at(c.expire_at),
            last_renewal: c.last_renewal.map(at),
            state: LeaseState::Revoked,
            ended_at: Some(at(c.ended_at)),
            trail: LeaseTrail {
                approval_id: c.approval_id,
                requested_at: c.requested_at.map(at),
                approved_at: c.approved_at.map(at),
                renewals: c.renewals,
                ending: (c.ending != 0).then(|| Ending::from_code(c.ending)),
                destroyed_by: c.destroyed_by,
                sessions_terminated: c.sessions.and_then(|n| u64::try_from(n).ok()),
                verified_at: c.verified_at.map(at),
            },
        }
    }
}

/// Merge the pages of [`page_statements`] (each in history order) into the first `limit` rows.
/// The live page is read first: a lease that ends between the two reads is in both, and its
/// ended row is kept (read the other way round, it would be in neither).
pub(crate) fn merge(pages: Vec<(Table, Vec<HistoryRow>)>, limit: usize) -> Vec<HistoryRow> {
    let (mut live, mut ended) = (Vec::new(), Vec::new());
    for (table, rows) in pages {
        match table {
            Table::Live => live.extend(rows),
            Table::Ended => ended.extend(rows),
        }
    }
    let ended_ids: std::collections::HashSet<String> = ended.iter().map(|r| r.id.clone()).collect();
    live.retain(|r: &HistoryRow| !ended_ids.contains(&r.id));
    let mut rows = live;
    rows.extend(ended);
    rows.sort_by_cached_key(HistoryRow::cursor);
    rows.truncate(limit);
    rows
}

/// One summary group as its statement answered it: the key, the period's number and the five
/// sums in [`summary_sql`]'s order (a sum over no row is NULL, read as zero).
pub(crate) fn summary_row(
    key: String,
    bucket: i64,
    sums: [Option<i64>; 5],
    period: Period,
) -> SummaryRow {
    let count = |i: usize| {
        sums.get(i)
            .copied()
            .flatten()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0)
    };
    SummaryRow {
        key,
        period: period.start(bucket),
        leases: count(0),
        privilege_secs: sums.get(1).copied().flatten().unwrap_or(0),
        overstayed: count(2),
        unused: count(3),
        live: count(4),
    }
}

/// The values of one live lease row as read, in [`LIVE_COLUMNS`] order (times in
/// milliseconds, as the lease table keeps them).
pub(crate) struct LiveColumns {
    pub id: String,
    pub mount: String,
    pub role: String,
    pub workload: String,
    pub account: String,
    pub accessor: String,
    pub purpose: Option<String>,
    pub ticket: Option<String>,
    pub issue_ms: i64,
    pub expire_ms: i64,
    pub last_renewal_ms: Option<i64>,
    pub state: String,
    pub trail: Option<String>,
}

impl From<LiveColumns> for HistoryRow {
    fn from(c: LiveColumns) -> Self {
        let ms = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        Self {
            id: c.id,
            mount: c.mount,
            role: c.role,
            workload: c.workload,
            account: c.account,
            accessor: c.accessor,
            purpose: c.purpose,
            ticket: c.ticket,
            issued_at: ms(c.issue_ms),
            expire_at: ms(c.expire_ms),
            last_renewal: c.last_renewal_ms.map(ms),
            // An unknown state can only come from a newer schema: still live.
            state: LeaseState::parse(&c.state).unwrap_or(LeaseState::Revoking),
            ended_at: None,
            trail: LeaseTrail::from_column(c.trail.as_deref()),
        }
    }
}

/// Add up the live and the ended groups of a summary, ordered by key then period.
pub(crate) fn merge_summary(rows: Vec<SummaryRow>) -> Vec<SummaryRow> {
    let mut groups: std::collections::BTreeMap<(String, DateTime<Utc>), SummaryRow> =
        std::collections::BTreeMap::new();
    for r in rows {
        let g = groups
            .entry((r.key.clone(), r.period))
            .or_insert_with(|| SummaryRow {
                leases: 0,
                privilege_secs: 0,
                overstayed: 0,
                unused: 0,
                live: 0,
                ..r.clone()
            });
        g.leases += r.leases;
        g.privilege_secs += r.privilege_secs;
        g.overstayed += r.overstayed;
        g.unused += r.unused;
        g.live += r.live;
    }
    groups.into_values().collect()
}
