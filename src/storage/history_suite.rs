//! The access history's cases of the shared storage suite (`suite.rs` runs them on every
//! back-end): a lease's history row is written when its row ends, once; live and ended leases
//! page together in one order; filters; summaries; retention.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::suite::lease;
use super::{
    Ending, HistoryCursor, HistoryQuery, HistoryRow, LeaseRecord, LeaseState, Period, Storage,
    SummaryBy,
};

/// A whole second, as the history keeps times.
fn second(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap()
}

/// End `l` (active) as the engine does: `revoking`, then the tombstone.
async fn end(s: &dyn Storage, l: &LeaseRecord, at: DateTime<Utc>) -> LeaseRecord {
    let revoking = l.clone().begin_revoke(at, None).unwrap();
    assert!(s.lease_update(&revoking, LeaseState::Active).await.unwrap());
    let mut done = revoking.tombstone(at).unwrap();
    done.trail.destroyed_by = Some("node-a".into());
    done.trail.sessions_terminated = Some(0);
    done.trail.verified_at = Some(at);
    assert!(s.lease_update(&done, LeaseState::Revoking).await.unwrap());
    done
}

async fn page(s: &dyn Storage, q: &HistoryQuery, now: DateTime<Utc>) -> Vec<String> {
    let rows = s.history_page(q, 100, now).await.unwrap();
    rows.into_iter().map(|r| r.id).collect()
}

pub async fn history_keeps_each_ended_lease_once_beside_the_live_ones(s: &dyn Storage) {
    let t0 = second(1_800_000_000);
    let mut ids = Vec::new();
    for (i, workload) in ["ci", "ci/deploy", "cid", "ci"].iter().enumerate() {
        let mut l = lease(
            &format!("db/creds/ro/{i}"),
            t0 + Duration::seconds(i as i64),
        );
        l.issue_time = t0 + Duration::seconds(i as i64);
        l.expire_time = l.issue_time + Duration::seconds(60);
        l.workload = (*workload).into();
        l.account = format!("v-{i}");
        l.trail.approval_id = (i == 1).then(|| "req-1".to_string());
        s.lease_insert(&l).await.unwrap();
        ids.push(l);
    }
    let mut token = lease("auth/token/create/t1", t0);
    token.kind = "token".into();
    s.lease_insert(&token).await.unwrap();
    // Two end: one at its expiry, one revoked early.
    let expired = end(s, &ids[0], t0 + Duration::seconds(60)).await;
    let revoked = end(s, &ids[1], t0 + Duration::seconds(10)).await;
    end(s, &token, t0 + Duration::seconds(5)).await;
    // A write to the ended row (none is made by the engine) does not write a second row.
    assert!(!s
        .lease_update(&expired, LeaseState::Revoking)
        .await
        .unwrap());
    let now = t0 + Duration::seconds(100);
    let all = s
        .history_page(&HistoryQuery::default(), 100, now)
        .await
        .unwrap();
    let got: Vec<_> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        got,
        [
            "db/creds/ro/0",
            "db/creds/ro/1",
            "db/creds/ro/2",
            "db/creds/ro/3"
        ]
    );
    let first = &all[0];
    assert_eq!(first.state, LeaseState::Revoked);
    assert_eq!(first.ending(), Some(Ending::Expired));
    assert_eq!(first.trail.destroyed_by.as_deref(), Some("node-a"));
    assert_eq!(first.trail.sessions_terminated, Some(0));
    assert_eq!(first.privilege_secs(now), 60);
    assert_eq!(all[1].ending(), Some(Ending::Revoked));
    assert_eq!(all[1].trail.approval_id.as_deref(), Some("req-1"));
    assert_eq!(all[2].state, LeaseState::Active);
    assert_eq!(all[2].privilege_secs(now), 98, "live: to now");
    assert_eq!(all[2].overstay_secs(now), 38, "live past its expiry");
    // Tidying the tombstones leaves the history as it was.
    s.lease_tidy(now + Duration::days(1)).await.unwrap();
    assert_eq!(s.lease_get(&expired.id).await.unwrap(), None);
    let after = s
        .history_page(&HistoryQuery::default(), 100, now)
        .await
        .unwrap();
    assert_eq!(after, all);
    assert_eq!(revoked.trail.ending, Some(Ending::Revoked));

    // Paging: two at a time, each page after the last row's cursor.
    let mut q = HistoryQuery::default();
    let mut seen = Vec::new();
    loop {
        let rows = s.history_page(&q, 2, now).await.unwrap();
        if rows.is_empty() {
            break;
        }
        q.after = rows.last().map(HistoryRow::cursor);
        seen.extend(rows.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, got);
    let cursor = all[1].cursor();
    assert_eq!(HistoryCursor::parse(&cursor.encode()), Some(cursor));

    // Filters.
    let q = |f: fn(&mut HistoryQuery)| {
        let mut q = HistoryQuery::default();
        f(&mut q);
        q
    };
    let ci = q(|q| q.workload = Some("ci".into()));
    assert_eq!(
        page(s, &ci, now).await,
        ["db/creds/ro/0", "db/creds/ro/1", "db/creds/ro/3"]
    );
    let acct = q(|q| q.account = Some("v-2".into()));
    assert_eq!(page(s, &acct, now).await, ["db/creds/ro/2"]);
    let ended = q(|q| q.ended = Some(true));
    assert_eq!(
        page(s, &ended, now).await,
        ["db/creds/ro/0", "db/creds/ro/1"]
    );
    let live = q(|q| q.ended = Some(false));
    assert_eq!(
        page(s, &live, now).await,
        ["db/creds/ro/2", "db/creds/ro/3"]
    );
    let unused = q(|q| q.unused = true);
    assert_eq!(
        page(s, &unused, now).await,
        ["db/creds/ro/0", "db/creds/ro/1"]
    );
    let mut window = HistoryQuery {
        since: Some(t0 + Duration::seconds(30)),
        ..HistoryQuery::default()
    };
    // Ended before the window: ro/1 (revoked at +10). Live ones held privilege in it.
    assert_eq!(
        page(s, &window, now).await,
        ["db/creds/ro/0", "db/creds/ro/2", "db/creds/ro/3"]
    );
    window.until = Some(t0 + Duration::seconds(2));
    assert_eq!(page(s, &window, now).await, ["db/creds/ro/0"]);
    let mount = q(|q| q.mount = Some("aws/".into()));
    assert!(page(s, &mount, now).await.is_empty());
}

pub async fn history_summary_adds_up_per_key_and_period(s: &dyn Storage) {
    // Monday 2027-01-04 00:00 UTC.
    let monday = second(1_798_934_400 + 86_400);
    let day = Duration::days(1);
    let mut rows = Vec::new();
    for (i, (workload, issued, secs, sessions)) in [
        ("ci", monday, 100, Some(0)),
        ("ci", monday + Duration::hours(5), 50, Some(2)),
        ("ci", monday + day, 10, None),
        ("app", monday + day * 6, 30, Some(0)),
        ("app", monday + day * 7, 20, Some(1)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut l = lease(&format!("db/creds/ro/{i}"), issued);
        l.workload = workload.into();
        l.issue_time = issued;
        l.expire_time = issued + Duration::seconds(60);
        l.state = LeaseState::Revoked;
        l.revoked_time = Some(issued + Duration::seconds(secs));
        l.trail.sessions_terminated = sessions;
        rows.push(HistoryRow::of(&l).unwrap());
    }
    assert_eq!(s.history_insert(&rows).await.unwrap(), 5);
    let now = monday + day * 30;
    let by_day = s
        .history_summary(
            &HistoryQuery::default(),
            SummaryBy::Workload,
            Period::Day,
            now,
        )
        .await
        .unwrap();
    let got: Vec<_> = by_day
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.period,
                r.leases,
                r.privilege_secs,
                r.overstayed,
                r.unused,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("app", monday + day * 6, 1, 30, 0, 1),
            ("app", monday + day * 7, 1, 20, 0, 0),
            ("ci", monday, 2, 150, 1, 1),
            ("ci", monday + day, 1, 10, 0, 0),
        ]
    );
    let by_week = s
        .history_summary(&HistoryQuery::default(), SummaryBy::Role, Period::Week, now)
        .await
        .unwrap();
    let got: Vec<_> = by_week
        .iter()
        .map(|r| (r.key.as_str(), r.period, r.leases, r.privilege_secs))
        .collect();
    assert_eq!(
        got,
        [
            ("database/ro", monday, 4, 190),
            ("database/ro", monday + day * 7, 1, 20),
        ]
    );
}

pub async fn history_retention_tidies_exactly_what_is_past_it(s: &dyn Storage) {
    let before = second(1_800_000_000);
    let mut rows = Vec::new();
    for (i, ended) in [-86_400, -1, 0, 1].into_iter().enumerate() {
        let mut l = lease(&format!("db/creds/ro/{i}"), before);
        l.issue_time = before - Duration::days(30);
        l.state = LeaseState::Revoked;
        l.revoked_time = Some(before + Duration::seconds(ended));
        rows.push(HistoryRow::of(&l).unwrap());
    }
    // A lease issued long ago but still live is not history's to tidy.
    let mut live = lease("db/creds/ro/live", before);
    live.issue_time = before - Duration::days(30);
    s.lease_insert(&live).await.unwrap();
    s.history_insert(&rows).await.unwrap();
    assert_eq!(
        s.history_insert(&rows).await.unwrap(),
        0,
        "a row is written once"
    );
    assert_eq!(s.history_tidy(before).await.unwrap(), 2);
    let left = page(s, &HistoryQuery::default(), before).await;
    assert_eq!(left, ["db/creds/ro/2", "db/creds/ro/3", "db/creds/ro/live"]);
    assert_eq!(s.history_tidy(before).await.unwrap(), 0);
}
