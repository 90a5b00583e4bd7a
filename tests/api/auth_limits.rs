//! The limits an auth method puts on a login hold however the logins arrive: an AppRole secret
//! id's `num_uses` across two servers sharing one PostgreSQL storage.

use std::sync::Arc;

use leasehold::config::StorageSettings;
use secrecy::SecretString;
use serde_json::json;

use crate::app::{PgTarget, TestApp};

/// Two servers on one PostgreSQL database (their storage) with one seal key: a cluster of two.
async fn two_servers() -> (Arc<TestApp>, Arc<TestApp>) {
    let pg = PgTarget::new().await;
    let url = pg.cluster.admin_url(&pg.db);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    std::fs::write(dir.path().join("key"), hex::encode([7u8; 32])).unwrap();
    let on_pg = |url: String| {
        move |s: &mut leasehold::config::Settings| {
            s.storage = StorageSettings::Postgres {
                connection_url: SecretString::from(url),
                max_parallel: 4,
            }
        }
    };
    let a = TestApp::spawn_in_with(Arc::clone(&dir), None, on_pg(url.clone())).await;
    let b = TestApp::spawn_in_with(dir, Some(a.token.clone()), on_pg(url)).await;
    (Arc::new(a), Arc::new(b))
}

#[tokio::test]
async fn approle_num_uses_holds_across_two_servers_on_one_storage() {
    let (a, b) = two_servers().await;
    a.ok("sys/auth/approle", json!({"type": "approle"})).await;
    a.ok("auth/approle/role/ci", json!({"token_ttl": "10m"}))
        .await;
    // Both servers serve the mount (b learns of it from the shared storage).
    let role_id = b.get("auth/approle/role/ci/role-id").await.1["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();

    for (num_uses, trial) in [1, 1, 1, 1, 1, 3, 3, 3].into_iter().zip(0..) {
        let (s, v) = a
            .put(
                "auth/approle/role/ci/secret-id",
                json!({"num_uses": num_uses}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let secret = v["data"]["secret_id"].as_str().unwrap().to_owned();
        let body = json!({"role_id": role_id, "secret_id": secret});
        let logins: Vec<_> = (0..12)
            .map(|i| {
                let server = Arc::clone(if i % 2 == 0 { &a } else { &b });
                let body = body.clone();
                tokio::spawn(async move {
                    server
                        .call_as("POST", "auth/approle/login", Some(body), None)
                        .await
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for login in logins {
            let (s, v) = login.await.unwrap();
            match s.as_u16() {
                200 => tokens.push(v["auth"]["client_token"].as_str().unwrap().to_owned()),
                400 => assert_eq!(v["errors"][0], "invalid role or secret ID", "{v}"),
                _ => panic!("unexpected answer {s}: {v}"),
            }
        }
        assert_eq!(
            tokens.len(),
            num_uses,
            "trial {trial}: a secret id with {num_uses} uses gave {} logins across two servers",
            tokens.len()
        );
        // The logins that won got working tokens; the secret id is gone on both servers.
        for token in &tokens {
            let (s, v) = b
                .call_as("GET", "auth/token/lookup-self", None, Some(token))
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["data"]["meta"]["role_name"], "ci");
        }
        for server in [&a, &b] {
            let (s, v) = server
                .put(
                    "auth/approle/role/ci/secret-id/lookup",
                    json!({"secret_id": secret}),
                )
                .await;
            assert_eq!(s, 204, "used-up secret id still found: {v}");
            let (s, v) = server
                .call_as("POST", "auth/approle/login", Some(body.clone()), None)
                .await;
            assert_eq!(s, 400, "{v}");
        }
    }
}
