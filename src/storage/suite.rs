//! The storage test suite: every case runs against each implementation (SQLite in
//! `sqlite::tests`, PostgreSQL in `postgres_tests`), so they behave the same to the engine.

use chrono::{DateTime, TimeZone, Utc};

pub use super::history_suite::*;
use super::{ClaimOne, NodeRecord, Storage, Within, CREATION_ABANDONED};
use super::{LeaseRecord, LeaseState};

/// Calls `$m!` with the name of every case, so each implementation makes one test per case.
macro_rules! for_each_case {
    ($m:ident) => {
        $m!(
            kv_lists_one_level,
            kv_round_trips_and_deletes,
            kv_compare_and_put_takes_only_the_value_it_saw,
            claim_takes_due_rows_once,
            claim_one_respects_other_nodes_until_they_die,
            creating_rows_past_their_deadline_are_claimed,
            locks_are_exclusive_until_they_expire,
            conditional_update_and_recovery,
            counts_group_by_mount_role_state_and_irrevocable,
            rows_round_trip_every_field,
            lists_by_prefix_token_and_workload,
            irrevocable_tidy_and_released_claims,
            nodes_register_refresh_and_leave,
            live_accounts_are_found_among_many,
            live_counts_by_prefix_and_role_skip_tombstones_and_tokens,
            an_update_keeps_the_identity_and_the_live_count_follows_the_state,
            a_row_is_revoked_exactly_when_it_has_a_revoked_time,
            inserts_within_a_limit_take_exactly_the_free_slots,
            scans_walk_every_entry_and_lease_in_key_order,
            history_keeps_each_ended_lease_once_beside_the_live_ones,
            history_summary_adds_up_per_key_and_period,
            history_retention_tidies_exactly_what_is_past_it,
        );
    };
}
pub(crate) use for_each_case;

/// Now, at the millisecond precision storage keeps.
fn ms_now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .unwrap()
}

/// An active lease row due at `due`.
pub fn lease(id: &str, due: DateTime<Utc>) -> LeaseRecord {
    LeaseRecord {
        id: id.into(),
        mount_uuid: "m".into(),
        mount_path: "database/".into(),
        kind: "creds".into(),
        role: "ro".into(),
        account: "v-x".into(),
        state: LeaseState::Active,
        issue_time: due,
        expire_time: due,
        max_expire_time: due,
        last_renewal: None,
        role_ttl_secs: 0,
        renewable: true,
        due_at: Some(due),
        attempts: 0,
        last_error: None,
        revoked_time: None,
        forced: false,
        token_accessor: "acc".into(),
        internal: vec![1, 2, 3],
        workload: String::new(),
        purpose: None,
        ticket: None,
        claimed_by: None,
        row_mac: Some(vec![9; 32]),
        tampered_at: None,
        trail: Default::default(),
    }
}

/// Insert a lease per `(id, role, state)` (a revoked one with its revoked time), and a token's
/// expiry row beside them: what the live counts are tested on.
pub async fn insert_leases_and_a_token_row(
    s: &dyn Storage,
    rows: &[(&str, &str, LeaseState)],
    now: DateTime<Utc>,
) {
    for &(id, role, state) in rows {
        let mut l = lease(id, now);
        l.role = role.into();
        l.state = state;
        l.revoked_time = (state == LeaseState::Revoked).then_some(now);
        s.lease_insert(&l).await.unwrap();
    }
    let mut token = lease("auth/token/create/t1", now);
    token.mount_path = "auth/token/".into();
    token.role = String::new();
    s.lease_insert(&token).await.unwrap();
}

pub async fn kv_lists_one_level(s: &dyn Storage) {
    for k in ["a/b", "a/c/d", "a/c/e", "b"] {
        s.kv_put(k, vec![1]).await.unwrap();
    }
    assert_eq!(s.kv_list("a/").await.unwrap(), vec!["b", "c/"]);
    s.kv_delete_prefix("a/").await.unwrap();
    assert_eq!(s.kv_list("").await.unwrap(), vec!["b"]);
}

pub async fn claim_takes_due_rows_once(s: &dyn Storage) {
    let now = ms_now();
    s.lease_insert(&lease("a/1", now - chrono::Duration::seconds(1)))
        .await
        .unwrap();
    s.lease_insert(&lease("a/2", now + chrono::Duration::seconds(60)))
        .await
        .unwrap();
    let until = now + chrono::Duration::seconds(30);
    let got = s.lease_claim_due(now, until, 10, "n1").await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "a/1");
    assert!(s
        .lease_claim_due(now, until, 10, "n1")
        .await
        .unwrap()
        .is_empty());
    let stored = s.lease_get("a/1").await.unwrap().unwrap();
    assert_eq!(stored.state, LeaseState::Revoking);
    assert_eq!(
        s.lease_next_due()
            .await
            .unwrap()
            .map(|t| t.timestamp_millis()),
        Some(until.timestamp_millis())
    );
}

pub async fn claim_one_respects_other_nodes_until_they_die(s: &dyn Storage) {
    // Storage keeps milliseconds.
    let now = ms_now();
    let later = now + chrono::Duration::seconds(60);
    s.lease_insert(&lease("a/1", later)).await.unwrap();
    assert!(matches!(
        s.lease_claim_one("a/1", now, later, "n1").await.unwrap(),
        ClaimOne::Claimed(l) if l.claimed_by.as_deref() == Some("n1")
    ));
    // n2 must not take n1's live claim; n1 may take its own again.
    assert!(matches!(
        s.lease_claim_one("a/1", now, later, "n2").await.unwrap(),
        ClaimOne::Busy(_)
    ));
    assert!(matches!(
        s.lease_claim_one("a/1", now, later, "n1").await.unwrap(),
        ClaimOne::Claimed(_)
    ));
    // n1 heartbeats: its claim stays. n1 stops: the claim is released and n2 takes it.
    let node = NodeRecord {
        id: "n1".into(),
        hostname: "h".into(),
        api_addr: String::new(),
        version: "0".into(),
        started_at: now,
        heartbeat_at: now,
    };
    s.node_heartbeat(&node).await.unwrap();
    let alive_since = now - chrono::Duration::seconds(10);
    assert_eq!(
        s.lease_release_dead_claims(now, alive_since).await.unwrap(),
        0
    );
    let much_later = now + chrono::Duration::seconds(30);
    assert_eq!(
        s.lease_release_dead_claims(much_later, much_later - chrono::Duration::seconds(10))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        s.lease_claim_one("a/1", much_later, later, "n2").await.unwrap(),
        ClaimOne::Claimed(l) if l.claimed_by.as_deref() == Some("n2")
    ));
    assert_eq!(s.node_list().await.unwrap(), vec![node]);
    assert!(matches!(
        s.lease_claim_one("nope", now, later, "n2").await.unwrap(),
        ClaimOne::Missing
    ));
}

pub async fn creating_rows_past_their_deadline_are_claimed(s: &dyn Storage) {
    let now = ms_now();
    let mut l = lease("a/1", now - chrono::Duration::seconds(1));
    l.state = LeaseState::Creating;
    l.claimed_by = Some("gone".into());
    s.lease_insert(&l).await.unwrap();
    let got = s
        .lease_claim_due(now, now + chrono::Duration::seconds(30), 10, "n1")
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].state, LeaseState::Revoking);
    assert_eq!(got[0].last_error.as_deref(), Some(CREATION_ABANDONED));
}

pub async fn locks_are_exclusive_until_they_expire(s: &dyn Storage) {
    let now = ms_now();
    let until = now + chrono::Duration::seconds(10);
    assert!(s.lock_try("leader", "n1", now, until).await.unwrap());
    assert!(!s.lock_try("leader", "n2", now, until).await.unwrap());
    assert!(s.lock_try("leader", "n1", now, until).await.unwrap());
    assert_eq!(
        s.lock_holder("leader", now).await.unwrap().as_deref(),
        Some("n1")
    );
    assert!(s.lock_try("leader", "n2", until, until).await.unwrap());
    s.lock_release("leader", "n2").await.unwrap();
    assert_eq!(s.lock_holder("leader", now).await.unwrap(), None);
}

pub async fn conditional_update_and_recovery(s: &dyn Storage) {
    let now = ms_now();
    let mut l = lease("a/1", now + chrono::Duration::seconds(60));
    l.state = LeaseState::Creating;
    s.lease_insert(&l).await.unwrap();
    l.state = LeaseState::Active;
    assert!(!s.lease_update(&l, LeaseState::Active).await.unwrap());
    assert_eq!(s.lease_recover_creating(now).await.unwrap(), 1);
    let got = s.lease_get("a/1").await.unwrap().unwrap();
    assert_eq!(got.state, LeaseState::Revoking);
    assert!(got.last_error.is_some());
    assert_eq!(s.lease_list_live("a/").await.unwrap().len(), 1);
}

pub async fn counts_group_by_mount_role_state_and_irrevocable(s: &dyn Storage) {
    let now = ms_now();
    for (id, role, state, attempts) in [
        ("a/1", "ro", LeaseState::Active, 0),
        ("a/2", "ro", LeaseState::Active, 0),
        ("a/3", "rw", LeaseState::Active, 0),
        ("a/4", "ro", LeaseState::Revoking, 2),
        ("a/5", "ro", LeaseState::Revoking, 6),
        ("a/6", "ro", LeaseState::Revoked, 1),
    ] {
        let mut l = lease(id, now);
        l.role = role.into();
        l.state = state;
        l.revoked_time = (state == LeaseState::Revoked).then_some(now);
        l.attempts = attempts;
        s.lease_insert(&l).await.unwrap();
    }
    let counts = s.lease_counts(6).await.unwrap();
    let got: Vec<_> = counts
        .iter()
        .map(|c| (c.role.as_str(), c.state, c.irrevocable, c.count))
        .collect();
    assert_eq!(
        got,
        vec![
            ("ro", LeaseState::Active, false, 2),
            ("ro", LeaseState::Revoked, false, 1),
            ("ro", LeaseState::Revoking, false, 1),
            ("ro", LeaseState::Revoking, true, 1),
            ("rw", LeaseState::Active, false, 1),
        ]
    );
    assert!(counts.iter().all(|c| c.mount_path == "database/"));
}

pub async fn kv_compare_and_put_takes_only_the_value_it_saw(s: &dyn Storage) {
    // Absent: nothing to compare with, nothing written.
    assert!(!s
        .kv_compare_and_put("cas/x", vec![1], vec![2])
        .await
        .unwrap());
    assert_eq!(s.kv_get("cas/x").await.unwrap(), None);

    s.kv_put("cas/x", vec![1]).await.unwrap();
    assert!(s
        .kv_compare_and_put("cas/x", vec![1], vec![2])
        .await
        .unwrap());
    assert_eq!(s.kv_get("cas/x").await.unwrap(), Some(vec![2]));
    // A writer that read the old value loses, and changes nothing.
    assert!(!s
        .kv_compare_and_put("cas/x", vec![1], vec![3])
        .await
        .unwrap());
    assert_eq!(s.kv_get("cas/x").await.unwrap(), Some(vec![2]));

    // Many writers racing from the same value: exactly one wins.
    let racers = (0..8u8).map(|i| s.kv_compare_and_put("cas/x", vec![2], vec![10 + i]));
    let won = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1);
    s.kv_delete("cas/x").await.unwrap();
}

pub async fn kv_round_trips_and_deletes(s: &dyn Storage) {
    assert_eq!(s.kv_get("core/x").await.unwrap(), None);
    s.kv_put("core/x", vec![0, 255, 7]).await.unwrap();
    s.kv_put("core/x", vec![9]).await.unwrap();
    assert_eq!(s.kv_get("core/x").await.unwrap(), Some(vec![9]));
    s.kv_delete("core/x").await.unwrap();
    s.kv_delete("core/x").await.unwrap();
    assert_eq!(s.kv_get("core/x").await.unwrap(), None);
    // A prefix is a string prefix, not a pattern: `%` and `_` match only themselves.
    s.kv_put("a%/1", vec![1]).await.unwrap();
    s.kv_put("ab/1", vec![1]).await.unwrap();
    s.kv_put("a_/1", vec![1]).await.unwrap();
    assert_eq!(s.kv_list("a%").await.unwrap(), vec!["/"]);
    s.kv_delete_prefix("a_").await.unwrap();
    assert_eq!(s.kv_list("").await.unwrap(), vec!["a%/", "ab/"]);
}

pub async fn rows_round_trip_every_field(s: &dyn Storage) {
    let now = ms_now();
    let mut l = lease("db/creds/ro/1", now);
    l.state = LeaseState::Revoking;
    l.last_renewal = Some(now - chrono::Duration::seconds(5));
    l.role_ttl_secs = 3600;
    l.renewable = false;
    l.attempts = 3;
    l.last_error = Some("connection refused".into());
    l.revoked_time = None;
    l.forced = true;
    l.internal = (0..=255).collect();
    l.workload = "ci/deploy".into();
    l.purpose = Some("migration".into());
    l.ticket = Some("OPS-1".into());
    l.claimed_by = Some("node-a".into());
    l.max_expire_time = now + chrono::Duration::hours(2);
    l.trail.renewals = 2;
    l.trail.approval_id = Some("req".into());
    s.lease_insert(&l).await.unwrap();
    assert_eq!(s.lease_get(&l.id).await.unwrap().as_ref(), Some(&l));
    // The id is unique.
    assert!(s.lease_insert(&l).await.is_err());
    l.state = LeaseState::Revoked;
    l.revoked_time = Some(now);
    l.due_at = None;
    l.claimed_by = None;
    assert!(s.lease_update(&l, LeaseState::Revoking).await.unwrap());
    assert_eq!(s.lease_get(&l.id).await.unwrap().as_ref(), Some(&l));
    assert_eq!(s.lease_get("db/creds/ro/2").await.unwrap(), None);
}

pub async fn lists_by_prefix_token_and_workload(s: &dyn Storage) {
    let now = ms_now();
    for (id, token, workload, state) in [
        ("db/creds/ro/1", "t1", "ci", LeaseState::Active),
        ("db/creds/ro/2", "t1", "ci/deploy", LeaseState::Active),
        ("db/creds/rw/1", "t2", "cid", LeaseState::Active),
        ("db/creds/rw/2", "t1", "ci", LeaseState::Revoked),
        ("aws/creds/x/1", "t2", "", LeaseState::Creating),
    ] {
        let mut l = lease(id, now);
        l.token_accessor = token.into();
        l.workload = workload.into();
        l.state = state;
        l.revoked_time = (state == LeaseState::Revoked).then_some(now);
        s.lease_insert(&l).await.unwrap();
    }
    let ids = |v: Vec<LeaseRecord>| v.into_iter().map(|l| l.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.lease_list_live("db/").await.unwrap()),
        ["db/creds/ro/1", "db/creds/ro/2", "db/creds/rw/1"]
    );
    assert_eq!(
        ids(s.lease_list_live("db/creds/ro/").await.unwrap()),
        ["db/creds/ro/1", "db/creds/ro/2"]
    );
    assert_eq!(
        ids(s.lease_list_by_token("t2").await.unwrap()),
        ["aws/creds/x/1", "db/creds/rw/1"]
    );
    // `ci` covers `ci/deploy` but not its sibling `cid`, nor revoked rows.
    assert_eq!(
        ids(s.lease_list_by_workload("ci/").await.unwrap()),
        ["db/creds/ro/1", "db/creds/ro/2"]
    );
    assert_eq!(
        ids(s.lease_list_by_workload("ci/deploy").await.unwrap()),
        ["db/creds/ro/2"]
    );
}

pub async fn irrevocable_tidy_and_released_claims(s: &dyn Storage) {
    let now = ms_now();
    let hour = chrono::Duration::hours(1);
    for (id, state, attempts, revoked) in [
        ("a/1", LeaseState::Revoking, 7, None),
        ("a/2", LeaseState::Revoking, 1, None),
        ("a/3", LeaseState::Revoked, 0, Some(now - hour * 200)),
        ("a/4", LeaseState::Revoked, 0, Some(now - hour)),
    ] {
        let mut l = lease(id, now + hour);
        l.state = state;
        l.attempts = attempts;
        l.revoked_time = revoked;
        l.claimed_by = Some("n1".into());
        s.lease_insert(&l).await.unwrap();
    }
    let stuck = s.lease_irrevocable(6, 10).await.unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].id, "a/1");
    assert_eq!(s.lease_tidy(now - hour * 168).await.unwrap(), 1);
    assert!(s.lease_get("a/3").await.unwrap().is_none());
    assert!(s.lease_get("a/4").await.unwrap().is_some());
    // Both revoking rows were claimed until later; a lone process's restart frees them now.
    assert_eq!(s.lease_release_claims(now).await.unwrap(), 2);
    assert_eq!(s.lease_next_due().await.unwrap(), Some(now));
    let claimed = s.lease_claim_due(now, now + hour, 10, "n2").await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed
        .iter()
        .all(|l| l.claimed_by.as_deref() == Some("n2")));
}

pub async fn nodes_register_refresh_and_leave(s: &dyn Storage) {
    let now = ms_now();
    let mut a = NodeRecord {
        id: "node-a".into(),
        hostname: "h1".into(),
        api_addr: "http://10.0.0.1:8200".into(),
        version: "0.1.0".into(),
        started_at: now,
        heartbeat_at: now,
    };
    let mut b = a.clone();
    b.id = "node-b".into();
    s.node_heartbeat(&b).await.unwrap();
    s.node_heartbeat(&a).await.unwrap();
    a.heartbeat_at = now + chrono::Duration::seconds(2);
    // A refresh never moves started_at.
    let mut refresh = a.clone();
    refresh.started_at = now + chrono::Duration::seconds(2);
    s.node_heartbeat(&refresh).await.unwrap();
    assert_eq!(s.node_list().await.unwrap(), vec![a.clone(), b]);
    s.node_remove("node-b").await.unwrap();
    assert_eq!(s.node_list().await.unwrap(), vec![a]);
}

pub async fn live_accounts_are_found_among_many(s: &dyn Storage) {
    let now = ms_now();
    for (id, mount, account, state) in [
        ("database/creds/r/1", "database/", "v-a", LeaseState::Active),
        (
            "database/creds/r/2",
            "database/",
            "v-b",
            LeaseState::Revoking,
        ),
        (
            "database/creds/r/3",
            "database/",
            "v-c",
            LeaseState::Revoked,
        ),
        ("other/creds/r/1", "other/", "v-d", LeaseState::Active),
    ] {
        let mut l = lease(id, now);
        l.mount_path = mount.into();
        l.account = account.into();
        l.state = state;
        l.revoked_time = (state == LeaseState::Revoked).then_some(now);
        s.lease_insert(&l).await.unwrap();
    }
    // More names than one statement takes, so the chunking is exercised.
    let mut asked: Vec<String> = (0..1200).map(|i| format!("v-x{i}")).collect();
    asked.extend(["v-a", "v-b", "v-c", "v-d"].map(String::from));
    let live = s.lease_live_accounts("database/", &asked).await.unwrap();
    let mut live: Vec<_> = live.into_iter().collect();
    live.sort();
    assert_eq!(live, ["v-a", "v-b"]);
}

/// For lease-count quotas: creating, active and revoking rows count (their accounts may exist),
/// tombstones and token rows do not; the prefix is a prefix of the request paths (with their
/// `/`), so it may end mid-segment, but one reaching into the ids' last segment covers nothing.
pub async fn live_counts_by_prefix_and_role_skip_tombstones_and_tokens(s: &dyn Storage) {
    let now = ms_now();
    insert_leases_and_a_token_row(
        s,
        &[
            ("database/creds/ro/1", "ro", LeaseState::Creating),
            ("database/creds/ro/2", "ro", LeaseState::Active),
            ("database/creds/ro/3", "ro", LeaseState::Revoking),
            ("database/creds/ro/4", "ro", LeaseState::Revoked),
            ("database/creds/rogue/1", "rogue", LeaseState::Active),
            ("database/creds/rw/1", "rw", LeaseState::Active),
        ],
        now,
    )
    .await;
    let count = |prefix: &'static str, role: Option<&'static str>| async move {
        s.lease_count_live(prefix, role).await.unwrap()
    };
    assert_eq!(count("database/creds/ro/", None).await, 3);
    assert_eq!(count("database/creds/ro", None).await, 4);
    assert_eq!(count("database/", Some("ro")).await, 3);
    assert_eq!(count("database/", None).await, 5);
    assert_eq!(count("", None).await, 5, "token rows are not counted");
    assert_eq!(count("aws/", None).await, 0);
    assert_eq!(count("database/creds/ro/2", None).await, 0);
    assert_eq!(count("database/creds/r", Some("rw")).await, 1);
}

/// An update writes what changes over a lease's life and never its identity: a record whose
/// account, role, mount or token differs from the row's is refused, the row left as it was.
/// The live count follows every state, through the updates that leave `revoked_time` alone
/// (active, revoking) and the ones that do not (revoked, and back to revoking after a
/// take-over).
pub async fn an_update_keeps_the_identity_and_the_live_count_follows_the_state(s: &dyn Storage) {
    let now = ms_now();
    let mut l = lease("database/creds/ro/1", now);
    l.role = "ro".into();
    l.state = LeaseState::Creating;
    s.lease_insert(&l).await.unwrap();
    let live = || async { s.lease_count_live("database/", Some("ro")).await.unwrap() };
    assert_eq!(live().await, 1);

    for edit in [
        |l: &mut LeaseRecord| l.account = "v-someone-else".into(),
        |l: &mut LeaseRecord| l.role = "rw".into(),
        |l: &mut LeaseRecord| l.mount_path = "other/".into(),
        |l: &mut LeaseRecord| l.token_accessor = "another".into(),
        |l: &mut LeaseRecord| l.purpose = Some("changed".into()),
    ] {
        let mut changed = l.clone();
        changed.state = LeaseState::Active;
        edit(&mut changed);
        assert!(!s
            .lease_update(&changed, LeaseState::Creating)
            .await
            .unwrap());
        assert_eq!(s.lease_get(&l.id).await.unwrap().as_ref(), Some(&l));
    }

    let mut steps = Vec::new();
    l.state = LeaseState::Active;
    steps.push((l.clone(), LeaseState::Creating, 1));
    l.state = LeaseState::Revoking;
    l.claimed_by = Some("n1".into());
    steps.push((l.clone(), LeaseState::Active, 1));
    l.state = LeaseState::Revoked;
    l.revoked_time = Some(now);
    l.claimed_by = None;
    steps.push((l.clone(), LeaseState::Revoking, 0));
    l.state = LeaseState::Revoking;
    l.revoked_time = None;
    steps.push((l.clone(), LeaseState::Revoked, 1));
    for (row, expected, count) in steps {
        assert!(s.lease_update(&row, expected).await.unwrap(), "{row:?}");
        assert_eq!(s.lease_get(&row.id).await.unwrap().as_ref(), Some(&row));
        assert_eq!(live().await, count, "{:?}", row.state);
    }
}

/// Every write refuses a `revoked` row without a revoked time and a live one with: the live
/// count depends on it (on SQLite its index is keyed on the time).
pub async fn a_row_is_revoked_exactly_when_it_has_a_revoked_time(s: &dyn Storage) {
    let now = ms_now();
    let mut l = lease("database/creds/ro/1", now);
    l.state = LeaseState::Revoked;
    assert!(s.lease_insert(&l).await.is_err());
    l.state = LeaseState::Active;
    l.revoked_time = Some(now);
    assert!(s.lease_insert(&l).await.is_err());
    assert_eq!(s.lease_get(&l.id).await.unwrap(), None);
    l.revoked_time = None;
    s.lease_insert(&l).await.unwrap();
    l.state = LeaseState::Revoked;
    assert!(s.lease_update(&l, LeaseState::Active).await.is_err());
    l.state = LeaseState::Active;
    assert_eq!(s.lease_count_live("database/", None).await.unwrap(), 1);
    assert_eq!(s.lease_get(&l.id).await.unwrap().as_ref(), Some(&l));
}

/// A lease-count quota's insert: twenty at once under a limit of five (one slot held by a live
/// lease, none by a tombstone or another role) admit exactly four, whatever their order.
pub async fn inserts_within_a_limit_take_exactly_the_free_slots(s: &dyn Storage) {
    let now = ms_now();
    let mut live = lease("database/creds/ro/live", now);
    live.role = "ro".into();
    s.lease_insert(&live).await.unwrap();
    let mut ended = lease("database/creds/ro/ended", now);
    ended.role = "ro".into();
    ended.state = LeaseState::Revoked;
    ended.revoked_time = Some(now);
    s.lease_insert(&ended).await.unwrap();
    let mut other = lease("database/creds/rw/other", now);
    other.role = "rw".into();
    s.lease_insert(&other).await.unwrap();
    let within = Within {
        lock: "q",
        prefix: "database/",
        role: Some("ro"),
        max: 5,
    };
    let tries = (0..20).map(|i| {
        let mut l = lease(&format!("database/creds/ro/{i:02}"), now);
        l.role = "ro".into();
        let within = &within;
        async move { s.lease_insert_within(&l, within).await.unwrap() }
    });
    let admitted = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    assert_eq!(admitted, 4);
    assert_eq!(
        s.lease_count_live("database/", Some("ro")).await.unwrap(),
        5
    );
    // Full: nothing more is written.
    let mut late = lease("database/creds/ro/late", now);
    late.role = "ro".into();
    assert!(!s.lease_insert_within(&late, &within).await.unwrap());
    assert!(s
        .lease_get("database/creds/ro/late")
        .await
        .unwrap()
        .is_none());
}

/// The keyring's migration and rewrite walk kv entries and lease data in bounded batches, in
/// bytewise key order, and replace a lease's data only if it is still what they read.
pub async fn scans_walk_every_entry_and_lease_in_key_order(s: &dyn Storage) {
    for k in ["b/2", "a", "b/1", "B", "c"] {
        s.kv_put(k, k.as_bytes().to_vec()).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let batch = s.kv_scan(&after, 2).await.unwrap();
        assert!(batch.len() <= 2);
        let Some((last, _)) = batch.last() else { break };
        after = last.clone();
        for (k, v) in batch {
            assert_eq!(k.as_bytes(), &v[..]);
            seen.push(k);
        }
    }
    assert_eq!(seen, ["B", "a", "b/1", "b/2", "c"]);
    let now = ms_now();
    let mut revoked = lease("x/2", now);
    revoked.state = LeaseState::Revoked;
    revoked.revoked_time = Some(now);
    s.lease_insert(&revoked).await.unwrap();
    s.lease_insert(&lease("x/1", now)).await.unwrap();
    let all = s.lease_internal_scan("", 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["x/1", "x/2"], "every state, tombstones included");
    assert_eq!(s.lease_internal_scan("x/1", 10).await.unwrap().len(), 1);
    let old = all[0].1.clone();
    assert!(!s
        .lease_internal_compare_and_put("x/1", b"not it".to_vec(), b"new".to_vec())
        .await
        .unwrap());
    assert!(s
        .lease_internal_compare_and_put("x/1", old, b"new".to_vec())
        .await
        .unwrap());
    assert_eq!(s.lease_get("x/1").await.unwrap().unwrap().internal, b"new");
    assert!(!s
        .lease_internal_compare_and_put("nope", b"new".to_vec(), b"x".to_vec())
        .await
        .unwrap());
}
