//! A first start an operator can trust: the config and listener are checked before storage is
//! touched, a root token is minted once (the "initialised" marker), and a lost root token is
//! recovered with `leasehold operator generate-root` and the seal key.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use leasehold::config::Settings;
use leasehold::server::{Server, INIT_MARKER};
use secrecy::ExposeSecret;

use crate::app::TestApp;

fn settings(dir: &tempfile::TempDir) -> Settings {
    Settings::for_tests(TestApp::db_path(dir), dir.path().join("key"))
}

/// Build a server on `dir`, then stop it at once; its new root token, if it minted one.
async fn start_and_stop(dir: &tempfile::TempDir) -> Option<String> {
    let server = Server::build(&settings(dir), None).await.unwrap();
    let token = server
        .new_root_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    server.serve(listener, async {}).await.unwrap();
    token
}

async fn is_live_root(app: &TestApp, token: &str) -> bool {
    let (s, body) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(token))
        .await;
    s == 200 && body["data"]["policies"] == serde_json::json!(["root"])
}

#[tokio::test]
async fn revoking_the_root_token_and_restarting_mints_no_new_one() {
    let app = TestApp::spawn().await;
    let root = app.token.clone();
    let (s, _) = app.call("POST", "auth/token/revoke-self", None).await;
    assert!(s.is_success(), "{s}");
    assert!(!is_live_root(&app, &root).await);
    let (dir, _) = app.stop().await;
    assert_eq!(start_and_stop(&dir).await, None);
    // Nothing was stored either: no token at all exists.
    let server = Server::build(&settings(&dir), None).await.unwrap();
    assert!(server.new_root_token.is_none());
    assert!(!server.core.tokens.any_tokens().await.unwrap());
}

#[tokio::test]
async fn a_first_start_interrupted_before_showing_its_token_is_redone_once() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    std::fs::write(dir.path().join("key"), crate::app::hex_key()).unwrap();
    let first = start_and_stop(&dir).await.unwrap();
    // As if the process died between storing the token and showing it.
    {
        let server = Server::build(&settings(&dir), None).await.unwrap();
        assert!(
            server.new_root_token.is_none(),
            "a second start minted again"
        );
        server
            .core
            .tokens
            .kv()
            .put(INIT_MARKER, b"\"pending\"")
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        server.serve(listener, async {}).await.unwrap();
    }
    let app = TestApp::spawn_in(dir, None).await;
    let second = app.token.clone();
    assert_ne!(first, second);
    assert!(is_live_root(&app, &second).await);
    // The unshown token is dead: never two live root tokens.
    assert!(!is_live_root(&app, &first).await);
    let (dir, token) = app.stop().await;
    assert_eq!(start_and_stop(&dir).await, None);
    let app = TestApp::spawn_in(dir, Some(token.clone())).await;
    assert!(is_live_root(&app, &token).await);
    app.stop().await;
}

/// Run the `leasehold` binary with `args`.
fn leasehold(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_leasehold"))
        .args(args)
        .env_remove("LEASEHOLD_ADDRESS")
        .env_remove("LEASEHOLD_STORAGE_PATH")
        .env_remove("LEASEHOLD_KEY_FILE")
        .env("LEASEHOLD_LOG", "warn")
        .output()
        .unwrap()
}

fn write_config(dir: &Path, name: &str, extra_listener: &str, key: &Path) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[listener]\n{extra_listener}\n[storage]\npath = {:?}\n[seal]\nkey_file = {:?}\n",
            dir.join("leasehold.db"),
            key,
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_busy_port_fails_naming_the_address_before_storage_or_a_root_token() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, crate::app::hex_key()).unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let config = write_config(
        dir.path(),
        "busy.toml",
        &format!("address = {address:?}"),
        &key,
    );
    let out = leasehold(&["server", "-config", &config]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success());
    assert!(stderr.contains(&address), "{stderr}");
    assert!(!stdout.contains("Root Token"), "{stdout}");
    assert!(
        !dir.path().join("leasehold.db").exists(),
        "storage was opened"
    );

    // A bad TLS path fails the same way, naming the file.
    let config = write_config(
        dir.path(),
        "tls.toml",
        "address = \"127.0.0.1:0\"\ntls_cert_file = \"/nonexistent/cert.pem\"\ntls_key_file = \"/nonexistent/key.pem\"",
        &key,
    );
    let out = leasehold(&["server", "-config", &config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Root Token"));
    assert!(
        !dir.path().join("leasehold.db").exists(),
        "storage was opened"
    );
    // With the port free and no TLS, the same storage still gets its one root token later.
    drop(busy);
    let app = TestApp::spawn_in(Arc::new(dir), None).await;
    assert!(is_live_root(&app, &app.token.clone()).await);
    app.stop().await;
}

#[tokio::test]
async fn generate_root_recovers_a_revoked_root_token_with_the_seal_key() {
    let app = TestApp::spawn().await;
    let root = app.token.clone();
    let (s, _) = app.call("POST", "auth/token/revoke-self", None).await;
    assert!(s.is_success(), "{s}");
    assert!(!is_live_root(&app, &root).await);
    let (dir, _) = app.stop().await;
    let key = dir.path().join("key");

    // A wrong key cannot open the storage: a clear failure, and no token.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, "11".repeat(32)).unwrap();
    let config = write_config(dir.path(), "wrong.toml", "", &wrong);
    let out = leasehold(&["operator", "generate-root", "-config", &config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("seal key"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Root Token"));

    let config = write_config(dir.path(), "good.toml", "", &key);
    let out = leasehold(&["operator", "generate-root", "-config", &config]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("generate-root"),
        "no log line"
    );
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root Token: "))
        .unwrap()
        .to_owned();
    assert_ne!(token, root);

    // The server starts again, mints nothing, and the new token is root and works.
    assert_eq!(start_and_stop(&dir).await, None);
    let app = TestApp::spawn_in(dir, Some(token.clone())).await;
    assert!(is_live_root(&app, &token).await);
    assert!(!is_live_root(&app, &root).await);
    let (s, _) = app
        .call(
            "POST",
            "sys/policies/acl/after-recovery",
            Some(serde_json::json!({"policy": "path \"x\" { capabilities = [\"read\"] }"})),
        )
        .await;
    assert_eq!(s, 204);
    app.stop().await;
}

#[tokio::test]
async fn generate_root_beside_a_running_server_is_honoured_at_once() {
    let app = TestApp::spawn().await;
    let key = app.dir.path().join("key");
    let config = write_config(app.dir.path(), "live.toml", "", &key);
    let out = leasehold(&["operator", "generate-root", "-config", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root Token: "))
        .unwrap()
        .to_owned();
    assert!(is_live_root(&app, &token).await);
    app.stop().await;
}
