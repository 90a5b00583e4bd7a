//! `sys/capabilities-self`, `sys/capabilities`, `sys/capabilities-accessor`: Vault's answer
//! shape, who may ask, and the adversarial part — every spelling of a path gets the answer of
//! the path a request to it is served as, and that answer agrees with what the request itself
//! is allowed.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::TestApp;

const PROBE: &str = r#"
path "database/roles/*"       { capabilities = ["read", "list"] }
path "database/roles/secret"  { capabilities = ["deny"] }
path "database/config/+"      { capabilities = ["read", "update"] }
path "sys/policy/*"           { capabilities = ["read"] }
path "sys/policy/admin"       { capabilities = ["deny"] }
path "sys/capabilities"       { capabilities = ["update"] }
path "sys/capabilities-accessor" { capabilities = ["update"] }
"#;

/// The status of `method /v1/<spelled>` sent byte for byte as written, following one 308 as a
/// client does (same method and body).
async fn status_of(addr: &str, method: &str, spelled: &str, token: &str) -> u16 {
    let mut target = format!("/v1/{spelled}");
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Vault-Token: {token}\r\nContent-Length: 0\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let status: u16 = text
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status: {text:?}"));
        if status != 308 {
            return status;
        }
        target = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.trim().to_owned())
            .expect("308 without Location");
    }
    panic!("{spelled}: more than one redirect");
}

async fn token_with(app: &TestApp, policies: &[&str]) -> (String, String) {
    let v = app
        .ok("auth/token/create", json!({ "policies": policies }))
        .await;
    (
        v["auth"]["client_token"].as_str().unwrap().to_owned(),
        v["auth"]["accessor"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn every_spelling_answers_as_its_request_is_decided() {
    let app = TestApp::spawn().await;
    app.ok("sys/policies/acl/probe", json!({ "policy": PROBE }))
        .await;
    // Mounted, so that a request is decided by the ACL and not refused for want of a route.
    app.ok("sys/mounts/database", json!({"type": "database"}))
        .await;
    let (token, accessor) = token_with(&app, &["probe"]).await;
    let addr = app.addr.to_string();
    let cases: &[(&str, &[&str])] = &[
        (
            "database/roles/x",
            &[
                "database//roles/x",
                "/database/roles/x",
                "database/./roles/x",
                "database/roles/../roles/x",
                "database/%72oles/x",
                "database/roles/x?list=true",
            ],
        ),
        (
            "database/roles/secret",
            &[
                "database//roles/secret",
                "database/roles/%73ecret",
                "database/./roles/secret",
                "database/roles/x/../secret",
            ],
        ),
        (
            "database/roles/x/",
            &["database/roles/x//", "database//roles/./x/"],
        ),
        (
            "database/config/pg",
            &["database/config//pg", "database/%63onfig/pg"],
        ),
        (
            "sys/policy/admin",
            &[
                "sys/policy/Admin",
                "sys//policy/ADMIN",
                "sys/policy/%41dmin",
            ],
        ),
        ("sys/policy/dev", &["sys/policy/Dev", "sys/./policy/dev"]),
    ];
    for (canonical, spellings) in cases {
        let (s, v) = app
            .call_as(
                "PUT",
                "sys/capabilities-self",
                Some(json!({ "paths": [canonical] })),
                Some(&token),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let expected = v["data"][canonical].clone();
        // Vault's shape: the path's key and `capabilities`, in data and at the top level.
        assert_eq!(v["data"]["capabilities"], expected);
        assert_eq!(v[canonical], expected);
        for spelled in spellings.iter().chain([canonical]) {
            for (path, body) in [
                ("sys/capabilities-self", json!({ "paths": [spelled] })),
                (
                    "sys/capabilities",
                    json!({ "token": token, "paths": [spelled] }),
                ),
                (
                    "sys/capabilities-accessor",
                    json!({ "accessor": accessor, "paths": [spelled] }),
                ),
            ] {
                let (s, v) = app.call_as("PUT", path, Some(body), Some(&token)).await;
                assert_eq!(s, 200, "{path} {spelled}: {v}");
                assert_eq!(v["data"][*spelled], expected, "{path} {spelled}");
            }
            // The request itself: refused exactly when `read` is not among the answer.
            let allowed = expected.as_array().unwrap().iter().any(|c| c == "read");
            let status = status_of(&addr, "GET", spelled, &token).await;
            assert_eq!(
                status != 403,
                allowed,
                "GET {spelled}: {status}, capabilities {expected}"
            );
        }
    }
    // The answers themselves, so the agreement above is not vacuous.
    let (_, v) = app
        .call_as(
            "PUT",
            "sys/capabilities-self",
            Some(json!({ "paths": ["database/roles/x", "database/roles/secret", "database/config/pg", "nowhere"] })),
            Some(&token),
        )
        .await;
    assert_eq!(v["data"]["database/roles/x"], json!(["list", "read"]));
    assert_eq!(v["data"]["database/roles/secret"], json!(["deny"]));
    assert_eq!(v["data"]["database/config/pg"], json!(["read", "update"]));
    assert_eq!(v["data"]["nowhere"], json!(["deny"]));
    // Several paths: no `capabilities` key (Vault adds it for one path only).
    assert!(v["data"].get("capabilities").is_none(), "{v}");
}

#[tokio::test]
async fn who_may_ask_and_bad_requests() {
    let app = TestApp::spawn().await;
    app.ok("sys/policies/acl/probe", json!({ "policy": PROBE }))
        .await;
    let (probe, probe_accessor) = token_with(&app, &["probe"]).await;
    let (plain, _) = token_with(&app, &["default"]).await;

    // The default policy grants capabilities-self, and nothing about other tokens.
    let (s, v) = app
        .call_as(
            "PUT",
            "sys/capabilities-self",
            Some(json!({ "path": "auth/token/lookup-self" })),
            Some(&plain),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["capabilities"], json!(["read"]));
    for (path, body) in [
        (
            "sys/capabilities",
            json!({ "token": probe, "paths": ["x"] }),
        ),
        (
            "sys/capabilities-accessor",
            json!({ "accessor": probe_accessor, "paths": ["x"] }),
        ),
    ] {
        let (s, _) = app.call_as("PUT", path, Some(body), Some(&plain)).await;
        assert_eq!(s, 403, "{path}");
    }

    // Root answers `root`, for itself and when asked about.
    let (_, v) = app
        .put("sys/capabilities-self", json!({ "paths": "a/b,c" }))
        .await;
    assert_eq!(v["data"]["a/b"], json!(["root"]));
    assert_eq!(v["data"]["c"], json!(["root"]));
    let (_, v) = app
        .put(
            "sys/capabilities",
            json!({ "token": app.token, "paths": ["sys/raw"] }),
        )
        .await;
    assert_eq!(v["data"]["capabilities"], json!(["root"]));

    // Another token's answer is that token's, not the caller's.
    let (_, v) = app
        .call_as(
            "PUT",
            "sys/capabilities",
            Some(json!({ "token": plain, "paths": ["database/roles/x"] })),
            Some(&probe),
        )
        .await;
    assert_eq!(v["data"]["capabilities"], json!(["deny"]));

    // Bad requests: 400.
    for (path, body) in [
        ("sys/capabilities-self", json!({})),
        ("sys/capabilities-self", json!({ "paths": ["a/%00"] })),
        ("sys/capabilities", json!({ "paths": ["x"] })),
        (
            "sys/capabilities",
            json!({ "token": "nope", "paths": ["x"] }),
        ),
        (
            "sys/capabilities-accessor",
            json!({ "accessor": "nope", "paths": ["x"] }),
        ),
    ] {
        let (s, v) = app.put(path, body.clone()).await;
        assert_eq!(s, 400, "{path} {body}: {v}");
    }
    // A revoked token is no longer one to ask about.
    let (s, _) = app
        .put("auth/token/revoke", json!({ "token": probe }))
        .await;
    assert!(s.is_success());
    let (s, _) = app
        .put(
            "sys/capabilities-accessor",
            json!({ "accessor": probe_accessor, "paths": ["x"] }),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app.get("sys/capabilities-self").await;
    assert_eq!(s, 405);
}
