//! `LIST sys/leases/list`: filters, the cursor (every live lease exactly once, in id order),
//! irrevocable and tampered rows, validation, and sudo.

use std::collections::BTreeSet;

use leasehold::lease::LeaseState;
use serde_json::{json, Value};

use crate::app::{issue, rand_suffix, PgTarget, TestApp};

async fn list(app: &TestApp, query: &str) -> (u16, Value) {
    let (s, v) = app
        .call("LIST", &format!("sys/leases/list?{query}"), None)
        .await;
    (s.as_u16(), v)
}

fn keys(v: &Value) -> Vec<String> {
    v["data"]["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys: {v}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn filters_cursor_states_and_validation() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let (ra, rb) = (
        format!("la{}", &rand_suffix()[..6]),
        format!("lb{}", &rand_suffix()[..6]),
    );
    pg.role(&app, &ra, "1h", "2h").await;
    pg.role(&app, &rb, "1h", "2h").await;
    let mut a = BTreeSet::new();
    for _ in 0..5 {
        a.insert(issue(&app, &ra).await.0);
    }
    let mut b = BTreeSet::new();
    for _ in 0..2 {
        b.insert(issue(&app, &rb).await.0);
    }

    // By role: exactly that role's leases, with their accounts.
    let (s, v) = list(&app, &format!("role={ra}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(keys(&v).into_iter().collect::<BTreeSet<_>>(), a);
    let first = a.iter().next().unwrap();
    let info = &v["data"]["key_info"][first];
    assert_eq!(info["mount"], "database/");
    assert_eq!(info["role"], ra.as_str());
    assert_eq!(info["state"], "active");
    assert_eq!(info["integrity"], "ok");
    assert!(info["account"].as_str().unwrap().contains(&ra), "{info}");
    assert!(v["data"].get("next_after").is_none(), "{v}");

    // By mount: both spellings, both roles; a mount with none answers an empty page.
    let all: BTreeSet<String> = a.union(&b).cloned().collect();
    for m in ["database", "database/"] {
        let (_, v) = list(&app, &format!("mount={m}")).await;
        let got: BTreeSet<String> = keys(&v).into_iter().collect();
        assert!(all.is_subset(&got), "{m}: {v}");
        assert!(got.iter().all(|k| k.starts_with("database/")), "{v}");
    }
    let (s, v) = list(&app, "mount=aws").await;
    assert_eq!((s, keys(&v).len()), (200, 0), "{v}");

    // The cursor: pages of 2 over role a give every lease once, in id order, then stop.
    let mut seen = Vec::new();
    let mut after = String::new();
    for _ in 0..10 {
        let (s, v) = list(&app, &format!("role={ra}&limit=2&after={after}")).await;
        assert_eq!(s, 200, "{v}");
        let page = keys(&v);
        assert!(page.len() <= 2);
        seen.extend(page);
        match v["data"]["next_after"].as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, a.iter().cloned().collect::<Vec<_>>());

    // States: one lease made irrevocable (destruction failed often enough, properly stamped),
    // one edited in storage behind the server's back (its integrity tag no longer matches).
    let mut stuck_ids = a.iter().skip(1);
    let stuck = stuck_ids.next().unwrap().clone();
    let tampered = stuck_ids.next().unwrap().clone();
    let storage = app.core.leases.storage_for_tests();
    let mut row = app.core.leases.get(&stuck).await.unwrap().unwrap();
    row.state = LeaseState::Revoking;
    row.attempts = app.core.leases.settings().irrevocable_after;
    row.last_error = Some("connection refused".into());
    row.due_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    app.core.leases.seal().row_mac().stamp(&mut row);
    assert!(storage
        .lease_update(&row, LeaseState::Active)
        .await
        .unwrap());
    app.edit_storage(
        "UPDATE leases SET role = 'someone-else' WHERE id = ?1",
        [&tampered],
    );

    let (_, v) = list(&app, "state=irrevocable").await;
    let irrevocable: BTreeSet<String> = keys(&v).into_iter().collect();
    assert_eq!(
        irrevocable,
        [stuck.clone(), tampered.clone()].into_iter().collect()
    );
    assert_eq!(
        v["data"]["key_info"][&stuck]["last_error"],
        "connection refused"
    );
    assert_eq!(v["data"]["key_info"][&stuck]["irrevocable"], true);
    assert_eq!(v["data"]["key_info"][&tampered]["integrity"], "failed");
    let (_, v) = list(&app, &format!("state=revoking&role={ra}")).await;
    assert_eq!(keys(&v), vec![stuck.clone()]);
    let (_, v) = list(&app, &format!("state=active&role={ra}")).await;
    assert_eq!(keys(&v).len(), 3, "{v}");

    // Revoked leases are not listed.
    let gone = b.iter().next().unwrap();
    let (s, _) = app
        .put("sys/leases/revoke", json!({ "lease_id": gone }))
        .await;
    assert_eq!(s, 204);
    let (_, v) = list(&app, &format!("role={rb}")).await;
    assert_eq!(keys(&v).len(), 1);
    assert!(!keys(&v).contains(gone));

    // GET ?list=true is the same call; bad input is 400.
    let (s, v) = app
        .get(&format!("sys/leases/list?list=true&role={rb}"))
        .await;
    assert_eq!((s.as_u16(), keys(&v).len()), (200, 1), "{v}");
    for bad in [
        "state=zombie",
        "limit=0",
        "limit=1001",
        "limit=x",
        "colour=red",
    ] {
        let (s, v) = list(&app, bad).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

#[tokio::test]
async fn listing_needs_sudo() {
    let app = TestApp::spawn().await;
    let (plain, sudo) = app.sudo_pair("sys/leases/list", "\"list\", \"read\"").await;
    for (name, t, expect) in [("without sudo", plain, 403), ("with sudo", sudo, 200)] {
        let (s, v) = app.call_as("LIST", "sys/leases/list", None, Some(&t)).await;
        assert_eq!(s.as_u16(), expect, "{name}: {v}");
        let (s, _) = app
            .call_as("GET", "sys/leases/list?list=true", None, Some(&t))
            .await;
        assert_eq!(s.as_u16(), expect, "{name} (GET ?list=true)");
    }
}

fn group<'a>(v: &'a Value, role: &str) -> &'a Value {
    v["data"]["counts"]
        .as_array()
        .unwrap_or_else(|| panic!("no counts: {v}"))
        .iter()
        .find(|c| c["role"] == role)
        .unwrap_or_else(|| panic!("no group for {role}: {v}"))
}

#[tokio::test]
async fn counts_by_mount_role_and_state() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let (ra, rb) = (
        format!("ca{}", &rand_suffix()[..6]),
        format!("cb{}", &rand_suffix()[..6]),
    );
    pg.role(&app, &ra, "1h", "2h").await;
    pg.role(&app, &rb, "1h", "2h").await;
    let mut a = Vec::new();
    for _ in 0..3 {
        a.push(issue(&app, &ra).await.0);
    }
    let b = issue(&app, &rb).await.0;

    // One of a's leases stuck revoking past irrevocable_after; b's revoked (not counted).
    let storage = app.core.leases.storage_for_tests();
    let mut row = app.core.leases.get(&a[0]).await.unwrap().unwrap();
    row.state = LeaseState::Revoking;
    row.attempts = app.core.leases.settings().irrevocable_after;
    row.due_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    app.core.leases.seal().row_mac().stamp(&mut row);
    assert!(storage
        .lease_update(&row, LeaseState::Active)
        .await
        .unwrap());
    let (s, _) = app.put("sys/leases/revoke", json!({ "lease_id": b })).await;
    assert_eq!(s, 204);

    let (s, v) = app.get("sys/leases/counts").await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let g = group(&v, &ra);
    assert_eq!(g["mount"], "database/");
    assert_eq!(
        (
            &g["creating"],
            &g["active"],
            &g["revoking"],
            &g["irrevocable"]
        ),
        (&json!(0), &json!(2), &json!(1), &json!(1)),
        "{v}"
    );
    // A role whose only lease is revoked has no live group.
    assert!(
        !v["data"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["role"] == rb.as_str()),
        "{v}"
    );
    let totals = &v["data"]["totals"];
    assert!(totals["active"].as_u64().unwrap() >= 2, "{v}");
    assert!(totals["irrevocable"].as_u64().unwrap() >= 1, "{v}");

    // Fields are refused; a write is not a route.
    let (s, _) = app.get("sys/leases/counts?mount=database").await;
    assert_eq!(s.as_u16(), 400);
    let (s, _) = app.put("sys/leases/counts", json!({})).await;
    assert!(s.as_u16() == 405 || s.as_u16() == 400, "{s}");
}

#[tokio::test]
async fn counts_need_sudo() {
    let app = TestApp::spawn().await;
    let (plain, sudo) = app.sudo_pair("sys/leases/counts", "\"read\"").await;
    for (name, t, expect) in [("without sudo", plain, 403), ("with sudo", sudo, 200)] {
        let (s, v) = app
            .call_as("GET", "sys/leases/counts", None, Some(&t))
            .await;
        assert_eq!(s.as_u16(), expect, "{name}: {v}");
    }
}

#[tokio::test]
async fn durations_by_mount_after_a_revocation() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let role = format!("du{}", &rand_suffix()[..6]);
    pg.role(&app, &role, "1h", "2h").await;
    let lease = issue(&app, &role).await.0;
    let (s, _) = app
        .put(
            "sys/leases/revoke",
            json!({ "lease_id": lease, "sync": true }),
        )
        .await;
    assert_eq!(s, 204);

    let (s, v) = app.get("sys/leases/durations").await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let p = &v["data"]["privilege_duration_seconds"]["database/"];
    assert_eq!(p["count"], 1, "{v}");
    let buckets = p["buckets"].as_array().unwrap();
    assert_eq!(buckets.last().unwrap()["le"], "+Inf", "{v}");
    let sum: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(sum, 1, "each bucket counts its own: {v}");
    // Revoked before its expiry: no overstay observed.
    assert!(
        v["data"]["overstay_seconds"].get("database/").is_none()
            || v["data"]["overstay_seconds"]["database/"]["count"] == 0,
        "{v}"
    );

    let (s, _) = app.get("sys/leases/durations?mount=database").await;
    assert_eq!(s.as_u16(), 400);
    let t = app
        .ok(
            "auth/token/create",
            json!({"policies": ["default"], "no_default_policy": false}),
        )
        .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = app
        .call_as("GET", "sys/leases/durations", None, Some(&t))
        .await;
    assert_eq!(s.as_u16(), 403);
}
