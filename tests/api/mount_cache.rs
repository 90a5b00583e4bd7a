//! A mount's data (database roles and connections) is read from memory after its first read;
//! these prove that what is kept never outlives what storage says: a role changed or deleted
//! here applies to the next request, and on another node sharing the storage within the change
//! feed's delay — checked in `pg_roles`, not only in status codes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::{issue, role_name, PgTarget, TestApp};

/// How long another node may take to follow a change (the feed's delay, with room for CI).
const FEED_DELAY: Duration = Duration::from_secs(5);

/// Narrow connection `pg` on `app` to a role no test has.
async fn allow_no_one(app: &TestApp) {
    app.ok(
        "database/config/pg",
        json!({"allowed_roles": "someone-else", "verify_connection": false}),
    )
    .await;
}

async fn creds_status(app: &TestApp, role: &str) -> (u16, serde_json::Value) {
    let (s, v) = app.get(&format!("database/creds/{role}")).await;
    (s.as_u16(), v)
}

/// Poll `app` for credentials of `role` until it is refused; the refusal, or `None` after
/// `within`. Every credential issued meanwhile is counted in `issued`.
async fn refused_within(
    app: &TestApp,
    role: &str,
    within: Duration,
    issued: &mut usize,
) -> Option<serde_json::Value> {
    let started = Instant::now();
    while started.elapsed() < within {
        let (s, v) = creds_status(app, role).await;
        if s == 400 {
            return Some(v);
        }
        assert_eq!(s, 200, "{v}");
        *issued += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn a_role_changed_or_deleted_here_applies_to_the_next_request() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let role = role_name('m');
    pg.role(&app, &role, "1h", "2h").await;
    let (_, user, _, body) = issue(&app, &role).await;
    assert_eq!(body["lease_duration"], 3600);
    assert!(pg.role_exists(&user).await);
    assert_eq!(pg.roles_for(&role).await, [user]);
    assert!(
        !app.core.mounts.kv().cache().is_empty(),
        "the issue kept nothing: the checks below would prove nothing"
    );

    pg.role(&app, &role, "2m", "2h").await;
    let (_, _, _, body) = issue(&app, &role).await;
    assert_eq!(body["lease_duration"], 120, "the old role was served");

    let (s, _) = app
        .call("DELETE", &format!("database/roles/{role}"), None)
        .await;
    assert_eq!(s, 204);
    let before = pg.roles_for(&role).await.len();
    assert_eq!(before, 2);
    let (s, v) = creds_status(&app, &role).await;
    assert_eq!(
        (s, v["errors"][0].as_str()),
        (400, Some(format!("unknown role: {role}").as_str()))
    );
    assert_eq!(pg.roles_for(&role).await.len(), before, "a user was made");

    // The connection: a role it no longer allows is refused at once.
    pg.role(&app, &role, "1h", "2h").await;
    issue(&app, &role).await;
    allow_no_one(&app).await;
    let before = pg.roles_for(&role).await.len();
    let (s, v) = creds_status(&app, &role).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(pg.roles_for(&role).await.len(), before, "a user was made");
}

#[tokio::test]
async fn a_role_deleted_on_one_node_stops_issuing_on_the_other_within_the_feed_delay() {
    let (a, b) = TestApp::pair_on_postgres().await;
    let pg = PgTarget::new().await;
    pg.configure(&a, pg.cluster.port()).await;
    let role = role_name('n');
    pg.role(&a, &role, "1h", "2h").await;
    // b issues, so it keeps the role, the connection and the mount's marker.
    let (_, user, password, _) = issue(&b, &role).await;
    assert!(pg.can_login(&user, &password).await);
    assert!(!b.core.mounts.kv().cache().is_empty(), "b kept nothing");

    let (s, _) = a
        .call("DELETE", &format!("database/roles/{role}"), None)
        .await;
    assert_eq!(s, 204);
    let mut issued = 0;
    let refusal = refused_within(&b, &role, FEED_DELAY, &mut issued).await;
    let refusal = refusal.expect("b still issues for a role deleted on a");
    assert_eq!(
        refusal["errors"][0].as_str(),
        Some(format!("unknown role: {role}").as_str())
    );
    // Nothing but what b answered for was made, and nothing after the refusal.
    let made = pg.roles_for(&role).await.len();
    assert_eq!(made, 1 + issued);
    assert_eq!(creds_status(&b, &role).await.0, 400);
    assert_eq!(pg.roles_for(&role).await.len(), made);

    // A connection narrowed on b stops a's issues the same way.
    pg.role(&a, &role, "1h", "2h").await;
    issue(&a, &role).await;
    allow_no_one(&b).await;
    let mut issued = 0;
    let before = pg.roles_for(&role).await.len();
    assert!(
        refused_within(&a, &role, FEED_DELAY, &mut issued)
            .await
            .is_some(),
        "a still issues for a role its connection no longer allows"
    );
    assert_eq!(pg.roles_for(&role).await.len(), before + issued);
}
