//! The evidence: audit entries for a lease's whole life, secret values hashed, purpose recorded,
//! and requests refused when no audit device can write; a device that stalls delays requests by
//! a bounded time and stalls neither other devices nor expiry.

use std::time::Duration;

use leasehold::audit::ACK_TIMEOUT;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::app::{issue, PgTarget, TestApp};

fn entries(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_lease_life_is_joinable_by_lease_id_and_no_secret_is_written() {
    let app = TestApp::spawn().await;
    let log = app.audit_to_file().await;
    let (s, v) = app.get("sys/audit").await;
    assert_eq!(
        (s.as_u16(), v["file/"]["type"].as_str()),
        (200, Some("file"))
    );

    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "audited", "2s", "1h").await;
    let (s, v) = app
        .call(
            "GET",
            "database/creds/audited?purpose=schema%20migration%2042&ticket=CHG-1",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let lease_id = v["lease_id"].as_str().unwrap().to_owned();
    let user = v["data"]["username"].as_str().unwrap().to_owned();
    let password = v["data"]["password"].as_str().unwrap().to_owned();
    let (_, lookup) = app.lookup(&lease_id).await;
    assert_eq!(lookup["data"]["purpose"], "schema migration 42");
    assert_eq!(lookup["data"]["ticket"], "CHG-1");
    let (s, _) = app
        .put(
            "sys/leases/renew",
            json!({"lease_id": lease_id, "increment": "2s"}),
        )
        .await;
    assert_eq!(s, 200);
    // Let it expire: destruction with no request is recorded too.
    pg.wait_gone(&user, std::time::Duration::from_secs(10))
        .await;
    // The destruction is on the record before the row says revoked.
    app.wait_lease_ended(&lease_id, std::time::Duration::from_secs(5))
        .await;

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(&password),
        "the issued password is in the audit log"
    );
    assert!(
        !text.contains(pg.cluster.superuser_password()),
        "the root password is in the audit log"
    );
    assert!(
        !text.contains(&app.token),
        "the client token is in the audit log"
    );

    let all = entries(&log);
    let about: Vec<&Value> = all
        .iter()
        .filter(|e| {
            e["lease"]["lease_id"] == lease_id.as_str()
                || e["response"]["lease_id"] == lease_id.as_str()
                || e["request"]["data"]["lease_id"] == lease_id.as_str()
        })
        .collect();
    let kinds: Vec<String> = about
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["type"].as_str().unwrap(),
                e["event"]
                    .as_str()
                    .unwrap_or(e["request"]["path"].as_str().unwrap_or(""))
            )
        })
        .collect();
    for wanted in [
        "response:database/creds/audited",
        "lease:issued",
        "lease:renewed",
        "lease:expired",
        "lease:destroy_attempt",
        "lease:destroyed",
    ] {
        assert!(
            kinds.iter().any(|k| k == wanted),
            "no {wanted} entry for the lease; saw {kinds:?}"
        );
    }
    let issued = about.iter().find(|e| e["event"] == "issued").unwrap();
    assert_eq!(issued["lease"]["account"], user);
    assert_eq!(issued["lease"]["purpose"], "schema migration 42");
    assert!(!issued["lease"]["token_accessor"]
        .as_str()
        .unwrap()
        .is_empty());
    let destroyed = about.iter().find(|e| e["event"] == "destroyed").unwrap();
    assert!(destroyed["overstay_seconds"].as_f64().unwrap() < 5.0);
    // Its expiry found no session open (none was ever made).
    assert_eq!(destroyed["sessions_terminated"], json!(0));
    // The response's password is the device's HMAC of it: an operator can check a known value.
    let response = about
        .iter()
        .find(|e| e["type"] == "response" && e["response"]["lease_id"] == lease_id.as_str())
        .unwrap();
    let (s, h) = app
        .put("sys/audit-hash/file", json!({"input": password}))
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(response["response"]["data"]["password"], h["data"]["hash"]);
    assert_eq!(response["response"]["data"]["username"], user);
    // Request and response entries share the request id.
    let id = response["request"]["id"].as_str().unwrap();
    assert!(all
        .iter()
        .any(|e| e["type"] == "request" && e["request"]["id"] == id));
}

#[tokio::test]
async fn requests_fail_closed_when_no_audit_device_can_write() {
    let app = TestApp::spawn().await;
    let log = app.dir.path().join("audit.log");
    app.ok(
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    let (s, _) = app.get("auth/token/lookup-self").await;
    assert_eq!(s, 200);
    // The log path becomes something no one can append to (root ignores file modes, so a
    // directory stands in for an unwritable file).
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let (s, v) = app.get("auth/token/lookup-self").await;
    assert_eq!(s, 500, "{v}");
    assert!(v["errors"][0].as_str().unwrap().contains("audit"));
    std::fs::remove_dir(&log).unwrap();
    let (s, _) = app.get("auth/token/lookup-self").await;
    assert_eq!(s, 200, "requests resume once the device can write again");
}

#[tokio::test]
async fn a_role_can_require_a_purpose() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "why", "1h", "2h").await;
    app.ok(
        "database/roles/why",
        json!({"db_name": "pg", "require_purpose": true}),
    )
    .await;
    let (s, v) = app.get("database/creds/why").await;
    assert_eq!(s, 400, "{v}");
    assert!(v["errors"][0].as_str().unwrap().contains("purpose"));
    assert!(
        pg.roles_for("why").await.is_empty(),
        "a refused request must create nothing"
    );
    let resp = reqwest::Client::new()
        .get(format!("http://{}/v1/database/creds/why", app.addr))
        .header("X-Vault-Token", &app.token)
        .header("X-Leasehold-Purpose", "incident 7 triage")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let (_, lookup) = app.lookup(v["lease_id"].as_str().unwrap()).await;
    assert_eq!(lookup["data"]["purpose"], "incident 7 triage");
    let (_, role) = app.get("database/roles/why").await;
    assert_eq!(role["data"]["require_purpose"], true);
}

/// An address that accepts no connection and refuses none: a listener with a backlog of one,
/// never accepting, whose queue is filled first. Connecting to it hangs (the kernel drops the
/// SYNs), like a collector behind a black hole. Keep the returned value alive.
async fn black_hole() -> (String, Vec<std::net::TcpStream>, tokio::net::TcpListener) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
            Ok(s) => queued.push(s),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
                break;
            }
        }
        assert!(queued.len() < 64, "the listener's queue never filled");
    }
    (address.to_string(), queued, listener)
}

/// Enable a `file/` device (its log's path is returned) and a `collector/` socket device whose
/// address is a black hole (kept open while the returned value lives).
async fn file_and_stalled_socket(app: &TestApp) -> (std::path::PathBuf, impl Sized) {
    let log = app.dir.path().join("audit.log");
    app.ok(
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    let (address, queued, listener) = black_hole().await;
    app.ok(
        "sys/audit/collector",
        json!({"type": "socket", "options": {"address": address}}),
    )
    .await;
    (log, (queued, listener))
}

/// The slowest a request may be with a device stalled: the bound, plus slack for a loaded host.
const STALLED_AT_MOST: Duration = Duration::from_millis(ACK_TIMEOUT.as_millis() as u64 + 1500);

#[tokio::test]
async fn a_stalled_socket_device_delays_requests_by_the_bound_at_most_and_the_file_gets_every_entry_in_order(
) {
    let app = TestApp::spawn().await;
    let (log, _black_hole) = file_and_stalled_socket(&app).await;

    let mut ids = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        let (s, v) = app.get("auth/token/lookup-self").await;
        assert_eq!(s, 200, "the file device records the request: {v}");
        assert!(
            started.elapsed() < STALLED_AT_MOST,
            "a stalled device held a request for {:?}",
            started.elapsed()
        );
        ids.push(v["request_id"].as_str().unwrap().to_owned());
    }

    // Every request and response entry, in the order the requests were made.
    let seen: Vec<(String, String)> = entries(&log)
        .iter()
        .filter_map(|e| {
            let id = e["request"]["id"].as_str()?;
            ids.iter()
                .any(|i| i == id)
                .then(|| (e["type"].as_str().unwrap().to_owned(), id.to_owned()))
        })
        .collect();
    let expected: Vec<(String, String)> = ids
        .iter()
        .flat_map(|id| {
            [
                ("request".to_owned(), id.clone()),
                ("response".to_owned(), id.clone()),
            ]
        })
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn with_only_an_unreachable_device_requests_fail_closed_and_leases_still_expire() {
    let app = TestApp::spawn().await;
    let (_log, _black_hole) = file_and_stalled_socket(&app).await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "stalled", "3s", "1h").await;
    let (_, user, _, _) = issue(&app, "stalled").await;

    // The file device goes; the one left cannot record the answer to its own removal.
    let (s, _) = app.call("DELETE", "sys/audit/file", None).await;
    assert_eq!(s, 500);
    let (s, v) = app.get("sys/audit").await;
    assert_eq!(s, 500, "{v}");
    for _ in 0..3 {
        let started = Instant::now();
        let (s, v) = app.get("auth/token/lookup-self").await;
        assert_eq!(s, 500, "no device recorded the request: {v}");
        assert!(
            v["errors"][0].as_str().unwrap().contains("audit"),
            "the error says why: {v}"
        );
        assert!(started.elapsed() < STALLED_AT_MOST);
    }
    // Expiry does not wait on the audit trail: the account is destroyed on time.
    pg.wait_gone(&user, Duration::from_secs(15)).await;
}

/// Evidence of use: the `destroyed` entry says how many sessions the revocation ended — one for
/// a credential with a session open (which the revocation closes), zero for one never connected
/// — and the metrics count both.
#[tokio::test]
async fn the_destroyed_entry_counts_the_sessions_the_revocation_ended() {
    let app = TestApp::spawn().await;
    let log = app.audit_to_file().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "used", "1h", "2h").await;

    let (used_lease, used_user, password, _) = issue(&app, "used").await;
    let session = pg
        .cluster
        .connect(&used_user, &password, &pg.db)
        .await
        .unwrap();
    session.simple_query("SELECT 1").await.unwrap();
    let (idle_lease, idle_user, _, _) = issue(&app, "used").await;
    for lease_id in [&used_lease, &idle_lease] {
        let (s, v) = app
            .put("sys/leases/revoke", json!({ "lease_id": lease_id }))
            .await;
        assert_eq!(s, 204, "{v}");
    }
    assert!(
        session.simple_query("SELECT 1").await.is_err(),
        "the session survived its role's revocation"
    );
    assert!(!pg.role_exists(&used_user).await);
    assert!(!pg.role_exists(&idle_user).await);

    let all = entries(&log);
    let destroyed = |lease_id: &str| -> Value {
        let found: Vec<&Value> = all
            .iter()
            .filter(|e| e["event"] == "destroyed" && e["lease"]["lease_id"] == lease_id)
            .collect();
        assert_eq!(found.len(), 1, "one destroyed entry for {lease_id}");
        found[0].clone()
    };
    assert_eq!(destroyed(&used_lease)["sessions_terminated"], json!(1));
    assert_eq!(destroyed(&idle_lease)["sessions_terminated"], json!(0));

    let scrape = app.scrape().await;
    for line in [
        r#"leasehold_sessions_terminated_total{mount="database/"} 1"#,
        r#"leasehold_leases_destroyed_unused_total{mount="database/"} 1"#,
    ] {
        assert!(scrape.contains(line), "missing {line} in\n{scrape}");
    }
}
