//! Tokens are served from memory after their first use; these prove that a kept entry never
//! outlives what storage says: a revocation stops a token at once on the node that made it, and
//! within the change feed's delay on another node sharing the storage; the cascade from a
//! parent, expiry and use counts hold as they do when every use reads storage.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::app::TestApp;

/// A policy that lets its holder write policies: a revoked token's attempt shows (or not) in
/// storage, not only in a status code.
const WRITER: &str = r#"path "sys/policies/acl/*" { capabilities = ["create", "update"] }
path "auth/token/create" { capabilities = ["update"] }"#;

/// Mint a token with `body` as `parent`; returns (token, accessor).
async fn mint_as(app: &TestApp, parent: &str, body: Value) -> (String, String) {
    let (s, v) = app
        .call_as("POST", "auth/token/create", Some(body), Some(parent))
        .await;
    assert_eq!(s, 200, "{v}");
    (
        v["auth"]["client_token"].as_str().unwrap().to_owned(),
        v["auth"]["accessor"].as_str().unwrap().to_owned(),
    )
}

async fn lookup_self(app: &TestApp, token: &str) -> u16 {
    app.call_as("GET", "auth/token/lookup-self", None, Some(token))
        .await
        .0
        .as_u16()
}

/// `token` tries to write policy `name` on `app`; the status, and whether the policy now exists
/// (read as root).
async fn write_policy_as(app: &TestApp, token: &str, name: &str) -> (u16, bool) {
    let (s, _) = app
        .call_as(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({"policy": r#"path "x" { capabilities = ["read"] }"#})),
            Some(token),
        )
        .await;
    let exists = app.get(&format!("sys/policies/acl/{name}")).await.0 == 200;
    (s.as_u16(), exists)
}

async fn writer_policy(app: &TestApp) {
    app.ok("sys/policies/acl/writer", json!({ "policy": WRITER }))
        .await;
}

/// Poll `app` with `token` until it is refused; how long that took, or `None` after `within`.
async fn refused_within(app: &TestApp, token: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if lookup_self(app, token).await == 403 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn a_revoked_token_stops_at_once_on_the_node_that_revoked_it() {
    let app = TestApp::spawn().await;
    writer_policy(&app).await;
    for how in ["revoke-accessor", "revoke", "revoke-self", "parent revoked"] {
        let (parent, parent_acc) = mint_as(
            &app,
            &app.token,
            json!({"policies": ["writer"], "ttl": "1h"}),
        )
        .await;
        let (token, accessor) = mint_as(&app, &parent, json!({"ttl": "1h"})).await;
        // Used, so kept: every check below is answered by a kept entry unless it was forgotten.
        assert_eq!(lookup_self(&app, &token).await, 200);
        assert_eq!(
            write_policy_as(&app, &token, &format!("ok-{}", how.replace(' ', "-"))).await,
            (204, true),
            "{how}"
        );
        assert!(app.core.tokens.cached() > 0, "{how}: nothing was kept");
        let (s, v) = match how {
            "revoke-accessor" => {
                app.put(
                    "auth/token/revoke-accessor",
                    json!({ "accessor": accessor }),
                )
                .await
            }
            "revoke" => {
                app.put("auth/token/revoke", json!({ "token": token }))
                    .await
            }
            "revoke-self" => {
                app.call_as("POST", "auth/token/revoke-self", None, Some(&token))
                    .await
            }
            _ => {
                app.put(
                    "auth/token/revoke-accessor",
                    json!({ "accessor": parent_acc }),
                )
                .await
            }
        };
        assert!(s.is_success(), "{how}: {s} {v}");
        // The very next request, on the same node: refused, and its write never happens.
        assert_eq!(lookup_self(&app, &token).await, 403, "{how}");
        let name = format!("late-{}", how.replace(' ', "-"));
        assert_eq!(
            write_policy_as(&app, &token, &name).await,
            (403, false),
            "{how}"
        );
    }
}

#[tokio::test]
async fn a_kept_token_still_expires_and_counts_its_uses_in_storage() {
    let app = TestApp::spawn().await;
    writer_policy(&app).await;
    let (token, _) = mint_as(
        &app,
        &app.token,
        json!({"policies": ["writer"], "ttl": "1h"}),
    )
    .await;
    assert_eq!(lookup_self(&app, &token).await, 200);
    let now = app.core.clock.now();
    let tokens = &app.core.tokens;
    assert!(tokens.lookup(&token, now).await.unwrap().is_some());
    // The expiry is checked on each use from the kept entry's own expiry time.
    let later = now + chrono::Duration::hours(2);
    assert!(tokens.lookup(&token, later).await.unwrap().is_none());

    // Use-limited: each use is taken in storage, never served from memory.
    let (limited, _) = mint_as(
        &app,
        &app.token,
        json!({"policies": ["writer"], "ttl": "1h", "num_uses": 2}),
    )
    .await;
    assert_eq!(write_policy_as(&app, &limited, "use-1").await, (204, true));
    assert_eq!(write_policy_as(&app, &limited, "use-2").await, (204, true));
    assert_eq!(write_policy_as(&app, &limited, "use-3").await, (403, false));
    assert_eq!(lookup_self(&app, &limited).await, 403);
}

#[tokio::test]
async fn a_token_revoked_on_one_node_stops_on_the_other_within_the_feed_delay() {
    let (a, b) = TestApp::pair_on_postgres().await;
    writer_policy(&a).await;
    let feed_delay = Duration::from_secs(5);
    for how in ["revoked on a", "parent revoked on a", "parent expired on a"] {
        let (parent, parent_acc) =
            mint_as(&a, &a.token, json!({"policies": ["writer"], "ttl": "1h"})).await;
        let (token, accessor) = mint_as(&a, &parent, json!({"ttl": "1h"})).await;
        // b keeps the token (and its parent, read for the chain check) after one use.
        assert_eq!(lookup_self(&b, &token).await, 200, "{how}");
        assert!(b.core.tokens.cached() >= 2, "{how}: b kept nothing");
        match how {
            "revoked on a" => {
                a.ok(
                    "auth/token/revoke-accessor",
                    json!({ "accessor": accessor }),
                )
                .await;
            }
            "parent revoked on a" => {
                a.ok(
                    "auth/token/revoke-accessor",
                    json!({ "accessor": parent_acc }),
                )
                .await;
            }
            // Only the parent's entry changes in storage (its reaper has not run): b learns
            // of it through the feed and the chain check refuses the child.
            _ => {
                let now = a.core.clock.now();
                a.core
                    .tokens
                    .record_renewal(&parent_acc, now - chrono::Duration::seconds(1), now)
                    .await
                    .unwrap();
            }
        }
        assert_eq!(lookup_self(&a, &token).await, 403, "{how}: on a at once");
        let took = refused_within(&b, &token, feed_delay).await;
        assert!(took.is_some(), "{how}: b still serves the token");
        let name = format!("late-{}", how.replace(' ', "-"));
        assert_eq!(
            write_policy_as(&b, &token, &name).await,
            (403, false),
            "{how}"
        );
    }

    // The other way round, and a token b minted itself: revoked on b, refused on a.
    let (token, accessor) = mint_as(&b, &b.token, json!({"policies": ["writer"]})).await;
    assert_eq!(lookup_self(&a, &token).await, 200);
    b.ok(
        "auth/token/revoke-accessor",
        json!({ "accessor": accessor }),
    )
    .await;
    assert_eq!(lookup_self(&b, &token).await, 403);
    assert!(refused_within(&a, &token, feed_delay).await.is_some());
}

#[tokio::test]
async fn a_use_limited_token_shares_its_uses_across_nodes() {
    let (a, b) = TestApp::pair_on_postgres().await;
    writer_policy(&a).await;
    let (token, _) = mint_as(
        &a,
        &a.token,
        json!({"policies": ["writer"], "ttl": "1h", "num_uses": 3}),
    )
    .await;
    assert_eq!(write_policy_as(&a, &token, "n-1").await.0, 204);
    assert_eq!(write_policy_as(&b, &token, "n-2").await.0, 204);
    assert_eq!(write_policy_as(&a, &token, "n-3").await.0, 204);
    // Both nodes served it, neither counts from memory: the fourth use is refused on either.
    assert_eq!(write_policy_as(&b, &token, "n-4").await, (403, false));
    assert_eq!(write_policy_as(&a, &token, "n-5").await, (403, false));
}
