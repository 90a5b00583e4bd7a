//! `status`, `read`, `write`, `list`, `delete`: the generic commands, their output formats and
//! exit codes.

use serde_json::json;

use crate::app::{PgTarget, TestApp};
use crate::support::Cli;

#[tokio::test]
async fn read_issues_a_credential_that_logs_in_and_formats_as_vault_does() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "clikv", "1h", "2h").await;
    let cli = Cli::root(&app);

    // Table: Vault's keys and a human TTL.
    let table = cli.run(&["read", "database/creds/clikv"]).await.ok();
    assert!(table.stdout.starts_with("Key"), "{}", table.stdout);
    for key in [
        "lease_id",
        "lease_duration",
        "lease_renewable",
        "username",
        "password",
    ] {
        assert!(table.stdout.contains(key), "{key}: {}", table.stdout);
    }
    assert!(table.stdout.contains(" 1h\n"), "{}", table.stdout);

    // JSON: the server's answer; the credential works on the target.
    let json = cli
        .run(&["read", "-format=json", "database/creds/clikv"])
        .await
        .ok()
        .json();
    let user = json["data"]["username"].as_str().unwrap();
    assert!(
        pg.can_login(user, json["data"]["password"].as_str().unwrap())
            .await
    );

    // -field: the raw value alone.
    let user = cli
        .run(&["read", "-field=username", "database/creds/clikv"])
        .await
        .ok()
        .stdout;
    assert!(pg.role_exists(user.trim()).await, "{user}");
    let missing = cli
        .run(&["read", "-field=nope", "database/creds/clikv"])
        .await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);

    // VAULT_FORMAT chooses JSON too.
    let mut c = cli.command(&["read", "database/roles/clikv"]);
    c.env("VAULT_FORMAT", "json");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["db_name"], "pg");
}

#[tokio::test]
async fn write_list_delete_and_exit_codes() {
    let app = TestApp::spawn().await;
    let cli = Cli::root(&app);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ops.hcl");
    std::fs::write(&file, "path \"sys/health\" { capabilities = [\"read\"] }\n").unwrap();
    let wrote = cli
        .run(&[
            "write",
            "sys/policies/acl/ops",
            &format!("policy=@{}", file.display()),
        ])
        .await
        .ok();
    assert!(wrote.stdout.contains("Success!"), "{}", wrote.stdout);
    let (_, v) = app.get("sys/policies/acl/ops").await;
    assert_eq!(
        v["data"]["policy"],
        "path \"sys/health\" { capabilities = [\"read\"] }\n"
    );

    let listed = cli.run(&["list", "sys/policies/acl"]).await.ok();
    assert!(
        listed.stdout.starts_with("Keys\n----\n"),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.lines().any(|l| l == "ops"),
        "{}",
        listed.stdout
    );
    let listed = cli
        .run(&["list", "-format=json", "sys/policies/acl"])
        .await
        .ok()
        .json();
    assert!(listed.as_array().unwrap().contains(&json!("ops")));

    cli.run(&["delete", "sys/policies/acl/ops"]).await.ok();
    let (s, _) = app.get("sys/policies/acl/ops").await;
    assert_eq!(s, 404);

    // A server error exits 2 with Vault's error text; a local one exits 1.
    let denied = Cli::with_token(&app, Some("hvs.nope".into()))
        .run(&["read", "sys/policies/acl/default"])
        .await;
    assert_eq!(denied.code, 2, "{}", denied.stderr);
    assert!(
        denied.stderr.contains("permission denied"),
        "{}",
        denied.stderr
    );
    let bad_pair = cli.run(&["write", "sys/policies/acl/x", "novalue"]).await;
    assert_eq!(bad_pair.code, 1, "{}", bad_pair.stderr);
    let unreachable = Cli {
        addr: "http://127.0.0.1:9".into(),
        token: None,
        home: tempfile::tempdir().unwrap(),
    }
    .run(&["status"])
    .await;
    assert_eq!(unreachable.code, 1, "{}", unreachable.stderr);
}

#[tokio::test]
async fn status_and_the_token_file() {
    let app = TestApp::spawn().await;
    // No VAULT_TOKEN: ~/.vault-token is used.
    let cli = Cli::with_token(&app, None);
    std::fs::write(
        cli.home.path().join(".vault-token"),
        format!("{}\n", app.token),
    )
    .unwrap();
    let status = cli.run(&["status", "-format=json"]).await.ok().json();
    assert_eq!(status["Sealed"], false);
    assert_eq!(status["Initialized"], true);
    let policies = cli.run(&["list", "sys/policies/acl"]).await.ok();
    assert!(policies.stdout.contains("default"));
}

#[tokio::test]
async fn usage_errors_exit_1_and_help_exits_0() {
    let app = TestApp::spawn().await;
    let cli = Cli::root(&app);
    let unknown = cli.run(&["frobnicate"]).await;
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    let missing = cli.run(&["read"]).await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    let help = cli.run(&["--help"]).await.ok();
    for command in ["server", "read", "write", "lease", "token", "run"] {
        assert!(help.stdout.contains(command), "{command}: {}", help.stdout);
    }
    let version = cli.run(&["--version"]).await.ok();
    assert!(
        version.stdout.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        version.stdout
    );
}
