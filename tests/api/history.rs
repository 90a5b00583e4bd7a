//! The access history (`sys/leases/history`, `.../summary`) and destruction receipts: every
//! lease, live and ended, answered after the tombstone is tidied, after a restart and from
//! either of two nodes on shared storage; exports; sudo on every spelling; bad filters refused
//! by name; and the `destroyed` audit entry's receipt, checked against `pg_roles`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{issue, role_name, PgTarget, TestApp};

/// The history's rows for `query` (root token).
async fn history(app: &TestApp, query: &str) -> Vec<Value> {
    let (s, v) = app.get(&format!("sys/leases/history?{query}")).await;
    assert_eq!(s, 200, "{query}: {v}");
    v["data"]["leases"].as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], lease_id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["lease_id"] == lease_id)
        .unwrap_or_else(|| panic!("{lease_id} not in the history: {rows:?}"))
}

#[tokio::test]
async fn history_outlives_the_tombstone_and_a_restart_and_exports() {
    let app = TestApp::spawn_with(|s| s.lease.tombstone_ttl = Duration::from_secs(1)).await;
    let log = app.audit_to_file().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let role = role_name('h');
    pg.role(&app, &role, "1h", "2h").await;
    let (s, v) = app
        .get(&format!(
            "database/creds/{role}?purpose=nightly%2C%20%3Dexport&ticket=OPS-7"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    let ended = v["lease_id"].as_str().unwrap().to_owned();
    let user = v["data"]["username"].as_str().unwrap().to_owned();
    let password = v["data"]["password"].as_str().unwrap().to_owned();
    let (live, live_user, _, _) = issue(&app, &role).await;
    let (s, _) = app
        .put(
            "sys/leases/renew",
            json!({"lease_id": ended, "increment": "30m"}),
        )
        .await;
    assert_eq!(s, 200);
    // A session open at revocation: the receipt counts it, and the role is proved gone.
    let session = pg.cluster.connect(&user, &password, &pg.db).await.unwrap();
    session.simple_query("SELECT 1").await.unwrap();
    let (s, _) = app
        .put("sys/leases/revoke", json!({"lease_id": ended}))
        .await;
    assert_eq!(s, 204);
    assert!(!pg.role_exists(&user).await, "role still in pg_roles");
    assert!(pg.role_exists(&live_user).await);

    // The destroyed audit entry carries the receipt: what was checked, and when.
    let entries: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let destroyed = entries
        .iter()
        .find(|e| e["event"] == "destroyed" && e["lease"]["lease_id"] == ended.as_str())
        .expect("a destroyed entry");
    assert_eq!(destroyed["sessions_terminated"], json!(1));
    assert_eq!(
        destroyed["verified"]["check"],
        json!(format!("pg_roles has no user {user:?}"))
    );
    let proved: chrono::DateTime<chrono::Utc> = destroyed["verified"]["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let rows = history(&app, &format!("role={role}")).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = row(&rows, &ended);
    assert_eq!(r["state"], "ended");
    assert_eq!(r["ending"], "revoked");
    assert_eq!(r["account"], user);
    assert_eq!(r["purpose"], "nightly, =export");
    assert_eq!(r["ticket"], "OPS-7");
    assert_eq!(r["renewals"], 1);
    assert_eq!(r["sessions_terminated"], 1);
    assert_eq!(r["destroyed_by"], app.core.leases.node_id());
    assert_eq!(r["overstay_seconds"], 0);
    let verified: chrono::DateTime<chrono::Utc> =
        r["verified_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(verified.timestamp(), proved.timestamp());
    assert_eq!(row(&rows, &live)["state"], "active");

    // The tombstone is tidied; the history keeps the lease.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _) = app.put("sys/leases/tidy", json!({})).await;
    assert_eq!(s, 202);
    // Lookup refuses a tombstone as it refuses a tidied row: the row itself must be gone.
    let mut gone = false;
    for _ in 0..50 {
        if app.core.leases.get(&ended).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the tombstone was not tidied");
    let after = history(&app, &format!("role={role}")).await;
    // (A live lease's privilege-seconds grow with the clock; the ended one is fixed.)
    assert_eq!(row(&after, &ended), r);
    let ids =
        |rows: &[Value]| -> Vec<Value> { rows.iter().map(|r| r["lease_id"].clone()).collect() };
    assert_eq!(ids(&after), ids(&rows));

    // Exports: JSON lines and CSV carry the same rows.
    let url = |q: &str| format!("http://{}/v1/sys/leases/history?role={role}&{q}", app.addr);
    let http = reqwest::Client::new();
    let jsonl = http
        .get(url("format=jsonl"))
        .header("X-Vault-Token", &app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(jsonl.status(), 200);
    let lines: Vec<Value> = jsonl
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ids(&lines), ids(&rows));
    assert_eq!(row(&lines, &ended), r);
    let csv = http
        .get(url("format=csv&limit=1"))
        .header("X-Vault-Token", &app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let next = csv.headers()["x-leasehold-next-after"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = csv.text().await.unwrap();
    let mut lines = text.split("\r\n");
    assert!(lines.next().unwrap().starts_with("lease_id,mount,role,"));
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!(
            "{},database/,{role},",
            rows[0]["lease_id"].as_str().unwrap()
        )),
        "{first}"
    );
    let rest = history(&app, &format!("role={role}&after={next}")).await;
    assert_eq!(ids(&rest), ids(&rows[1..]));

    // A restart: the same answer from storage.
    let (dir, token) = app.stop().await;
    let app = TestApp::spawn_in(dir, Some(token)).await;
    assert_eq!(history(&app, &format!("role={role}")).await.len(), 2);
    let r = history(&app, &format!("account={user}")).await;
    assert_eq!(r[0]["lease_id"], ended.as_str());
    let summary = app
        .get(&format!(
            "sys/leases/history/summary?by=role&period=week&role={role}"
        ))
        .await;
    assert_eq!(summary.0, 200, "{}", summary.1);
    let groups = summary.1["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["key"], format!("database/{role}"));
    assert_eq!(groups[0]["leases"], 2);
    assert_eq!(groups[0]["live"], 1);
}

#[tokio::test]
async fn two_nodes_on_shared_storage_answer_the_same_history() {
    let pg = PgTarget::new().await;
    let (a, b) = TestApp::pair_on_postgres().await;
    pg.configure(&a, pg.cluster.port()).await;
    let role = role_name('n');
    pg.role(&a, &role, "1h", "2h").await;
    let (lease, user, _, _) = issue(&a, &role).await;
    // b learns the mount from the change feed, then revokes what a issued.
    let mut revoked = false;
    for _ in 0..100 {
        let (s, _) = b.put("sys/leases/revoke", json!({"lease_id": lease})).await;
        if s == 204 && !pg.role_exists(&user).await {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revoked, "the second node never revoked the lease");
    let (from_a, from_b) = (
        history(&a, &format!("role={role}")).await,
        history(&b, &format!("role={role}")).await,
    );
    assert_eq!(from_a, from_b);
    assert_eq!(from_a.len(), 1);
    assert_eq!(from_a[0]["destroyed_by"], b.core.leases.node_id());
    assert_ne!(a.core.leases.node_id(), b.core.leases.node_id());
    assert!(from_a[0]["verified_at"].is_string());
}

#[tokio::test]
async fn the_history_needs_sudo_on_every_spelling() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let role = role_name('s');
    pg.role(&app, &role, "1h", "2h").await;
    let (lease, _, _, _) = issue(&app, &role).await;
    let (plain, sudo) = app
        .sudo_pair("sys/leases/history*", "\"list\", \"read\"")
        .await;
    let spellings = [
        ("GET", "sys/leases/history"),
        ("LIST", "sys/leases/history"),
        ("GET", "sys/leases/history?list=true"),
        ("GET", "sys/leases/history/summary"),
        ("GET", "sys/leases//history"),
        ("GET", "sys//leases/history"),
        ("GET", "sys/leases/./history"),
        ("GET", "sys/leases/x/../history"),
        ("GET", "sys/leases/%68istory"),
        ("GET", "sys/leases%2Fhistory"),
        ("GET", "sys/leases/history/"),
        ("GET", "sys/leases/history/summary/"),
        ("GET", "sys/leases/HISTORY"),
        ("GET", "SYS/leases/history"),
        ("GET", "sys/leases/history?format=csv"),
        ("GET", "sys/leases/history?format=jsonl"),
    ];
    for (method, path) in spellings {
        let (s, v) = app.call_as(method, path, None, Some(&plain)).await;
        assert!(
            [403, 404, 405].contains(&s.as_u16()),
            "{method} {path} without sudo: {s} {v}"
        );
        assert!(v.get("data").is_none(), "{method} {path} leaked: {v}");
        assert!(
            !v.to_string().contains(&lease),
            "{method} {path} leaked the lease"
        );
    }
    // The control: the same token with sudo reads it, under the canonical spellings.
    for (method, path) in [
        ("GET", "sys/leases/history"),
        ("LIST", "sys/leases/history"),
        ("GET", "sys/leases//history"),
        ("GET", "sys/leases/%68istory"),
    ] {
        let (s, v) = app.call_as(method, path, None, Some(&sudo)).await;
        assert_eq!(s, 200, "{method} {path} with sudo: {v}");
        assert_eq!(v["data"]["keys"][0], lease.as_str());
    }
    let (s, v) = app
        .call_as("GET", "sys/leases/history/summary", None, Some(&sudo))
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn bad_filters_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        (
            "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "since",
        ),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=many", "limit"),
        ("state=gone", "state"),
        ("overstayed=maybe", "overstayed"),
        ("unused=2", "unused"),
        ("after=nonsense", "after"),
        ("format=xml", "format"),
        ("workload[]=x", "workload[]"),
        ("acount=v-x", "acount"),
    ] {
        let (s, v) = app.get(&format!("sys/leases/history?{query}")).await;
        assert_eq!(s, 400, "{query}: {v}");
        let msg = v["errors"][0].as_str().unwrap();
        assert!(msg.contains(&format!("\"{field}\"")), "{query}: {msg}");
    }
    for (query, field) in [
        ("by=team", "by"),
        ("period=month", "period"),
        ("format=csv", "format"),
        ("since=soon", "since"),
    ] {
        let (s, v) = app
            .get(&format!("sys/leases/history/summary?{query}"))
            .await;
        assert_eq!(s, 400, "{query}: {v}");
        let msg = v["errors"][0].as_str().unwrap();
        assert!(msg.contains(&format!("\"{field}\"")), "{query}: {msg}");
    }
    // A write is no route; the limits of an export are larger, not unbounded.
    let (s, _) = app.put("sys/leases/history", json!({})).await;
    assert_eq!(s, 405);
    let (s, v) = app.get("sys/leases/history?format=csv&limit=100001").await;
    assert_eq!(s, 400, "{v}");
}
