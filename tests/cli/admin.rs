//! `secrets`, `policy`, `audit`, `login`, `unwrap`, `approval` and the client-side `operator`
//! commands, each checked by its effect: through the API (the mount, the policy text, the key
//! term), on disk (the audit log, `~/.vault-token`) or on PostgreSQL (a role gone, a credential
//! that logs in).

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{PgTarget, TestApp};
use crate::support::{Cli, Ran};

/// Run with `input` on standard input.
async fn run_with_stdin(cli: &Cli, args: &[&str], input: &str) -> Ran {
    let mut c = cli.command(args);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = input.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A token of `policies`, made by root: (token, accessor).
async fn token(app: &TestApp, policies: &[&str]) -> (String, String) {
    let v = app
        .ok("auth/token/create", json!({ "policies": policies }))
        .await;
    (
        v["auth"]["client_token"].as_str().unwrap().to_owned(),
        v["auth"]["accessor"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn secrets_enable_list_and_disable_which_destroys_the_mounts_accounts() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    let cli = Cli::root(&app);

    let enabled = cli
        .run(&[
            "secrets",
            "enable",
            "-path=pgcli",
            "-description=app databases",
            "-default-lease-ttl=1h",
            "-max-lease-ttl=2h",
            "database",
        ])
        .await
        .ok();
    assert_eq!(
        enabled.stdout.trim(),
        "Success! Enabled the database secrets engine at: pgcli/"
    );
    let (s, m) = app.get("sys/mounts/pgcli").await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["data"]["type"], "database");
    assert_eq!(m["data"]["description"], "app databases");
    assert_eq!(m["data"]["config"]["default_lease_ttl"], 3600);
    assert_eq!(m["data"]["config"]["max_lease_ttl"], 7200);

    let listed = cli.run(&["secrets", "list"]).await.ok();
    let header = listed.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("Path") && header.contains("Type") && header.contains("Accessor"),
        "{}",
        listed.stdout
    );
    let row = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("pgcli/"))
        .unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(
        row.contains("database") && row.contains("app databases"),
        "{row}"
    );
    let detailed = cli.run(&["secrets", "list", "-detailed"]).await.ok();
    let row = detailed
        .stdout
        .lines()
        .find(|l| l.starts_with("pgcli/"))
        .unwrap();
    assert!(row.contains(" 1h ") && row.contains(" 2h "), "{row}");
    let json = cli
        .run(&["secrets", "list", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(json["pgcli/"]["type"], "database");

    // A lease on the mount: disabling it destroys the account on PostgreSQL first.
    app.ok(
        "pgcli/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": pg.url_on_port(pg.cluster.port()),
            "username": "postgres",
            "password": pg.cluster.superuser_password(),
            "allowed_roles": "*",
        }),
    )
    .await;
    app.ok(
        "pgcli/roles/mnt",
        json!({"db_name": "pg", "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
        ]}),
    )
    .await;
    let user = cli
        .run(&["read", "-field=username", "pgcli/creds/mnt"])
        .await
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(pg.role_exists(&user).await);
    let disabled = cli.run(&["secrets", "disable", "pgcli"]).await.ok();
    assert!(
        disabled
            .stdout
            .contains("Success! Disabled the secrets engine (if it existed) at: pgcli/"),
        "{}",
        disabled.stdout
    );
    assert_eq!(app.get("sys/mounts/pgcli").await.0, 404);
    assert!(!pg.role_exists(&user).await, "{user} outlived its mount");

    // An unknown type is the server's refusal: exit 2.
    let bad = cli.run(&["secrets", "enable", "nosuchengine"]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[tokio::test]
async fn policy_write_read_list_delete_and_fmt() {
    let app = TestApp::spawn().await;
    let cli = Cli::root(&app);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ops.hcl");
    let text = "path \"sys/health\" { capabilities = [\"read\"] }\n";
    std::fs::write(&file, text).unwrap();

    let wrote = cli
        .run(&["policy", "write", "ops", file.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(wrote.stdout.trim(), "Success! Uploaded policy: ops");
    let (_, v) = app.get("sys/policies/acl/ops").await;
    assert_eq!(v["data"]["policy"], text);

    // From standard input.
    let stdin_text = "path \"database/creds/*\" { capabilities = [\"read\"] }";
    run_with_stdin(&cli, &["policy", "write", "dev", "-"], stdin_text)
        .await
        .ok();
    let (_, v) = app.get("sys/policies/acl/dev").await;
    assert_eq!(v["data"]["policy"], stdin_text);

    let read = cli.run(&["policy", "read", "ops"]).await.ok();
    assert_eq!(read.stdout, text);
    let missing = cli.run(&["policy", "read", "nope"]).await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("No policy named: nope"),
        "{}",
        missing.stderr
    );

    let listed = cli.run(&["policy", "list"]).await.ok();
    let names: Vec<&str> = listed.stdout.lines().collect();
    for n in ["default", "dev", "ops"] {
        assert!(names.contains(&n), "{n}: {}", listed.stdout);
    }

    cli.run(&["policy", "delete", "dev"]).await.ok();
    assert_eq!(app.get("sys/policies/acl/dev").await.0, 404);

    // fmt: rewritten in place, comments between blocks kept, and the result is a policy the
    // server takes as it is.
    let messy = dir.path().join("messy.hcl");
    std::fs::write(
        &messy,
        "# who may read\npath   \"secret/*\" {capabilities=[\"read\",\"list\"]}\n\n\n\
         path \"sys/health\"{\n capabilities=[\"read\"]\n}",
    )
    .unwrap();
    // No server needed: an address nothing listens on.
    let offline = Cli {
        addr: "http://127.0.0.1:9".into(),
        token: None,
        home: tempfile::tempdir().unwrap(),
    };
    let fmt = offline
        .run(&["policy", "fmt", messy.to_str().unwrap()])
        .await
        .ok();
    assert!(
        fmt.stdout.contains("Success! Formatted policy"),
        "{}",
        fmt.stdout
    );
    let formatted = std::fs::read_to_string(&messy).unwrap();
    assert_eq!(
        formatted,
        "# who may read\npath \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n\n\
         path \"sys/health\" {\n  capabilities = [\"read\"]\n}\n"
    );
    cli.run(&["policy", "write", "fmtd", messy.to_str().unwrap()])
        .await
        .ok();

    // An invalid policy: refused with the server parser's message, the file left alone.
    let bad = dir.path().join("bad.hcl");
    std::fs::write(&bad, "path \"x\" { capabilities = [\"reed\"] }\n").unwrap();
    let refused = offline.run(&["policy", "fmt", bad.to_str().unwrap()]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("failed to parse policy"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "path \"x\" { capabilities = [\"reed\"] }\n"
    );
}

#[tokio::test]
async fn audit_enable_writes_entries_list_and_disable() {
    let app = TestApp::spawn().await;
    let cli = Cli::root(&app);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");

    let none = cli.run(&["audit", "list"]).await.ok();
    assert_eq!(none.stdout.trim(), "No audit devices are enabled.");

    let enabled = cli
        .run(&[
            "audit",
            "enable",
            "-description=to disk",
            "file",
            &format!("file_path={}", log.display()),
        ])
        .await
        .ok();
    assert_eq!(
        enabled.stdout.trim(),
        "Success! Enabled the file audit device at: file/"
    );
    // A request through the CLI is on the record, in JSON lines.
    cli.run(&["policy", "list"]).await.ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        entries.iter().any(|e| e["type"] == "response"
            && e["request"]["path"].as_str().unwrap().trim_end_matches('/') == "sys/policies/acl"),
        "{text}"
    );

    let listed = cli.run(&["audit", "list", "-detailed"]).await.ok();
    let row = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("file/"))
        .unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(
        row.contains("file") && row.contains("to disk") && row.contains("file_path:"),
        "{row}"
    );

    let disabled = cli.run(&["audit", "disable", "file"]).await.ok();
    assert!(disabled.stdout.contains("Success! Disabled audit device"));
    let (_, v) = app.get("sys/audit").await;
    assert!(v["data"].as_object().unwrap().is_empty(), "{v}");
    // Nothing more is written.
    let before = std::fs::metadata(&log).unwrap().len();
    cli.run(&["policy", "list"]).await.ok();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), before);
}

#[tokio::test]
async fn login_stores_the_token_0600_and_the_next_command_uses_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TestApp::spawn().await;
    app.ok(
        "sys/policies/acl/reader",
        json!({"policy": "path \"sys/policies/acl\" { capabilities = [\"list\"] }"}),
    )
    .await;
    let (tok, acc) = token(&app, &["reader"]).await;
    // No VAULT_TOKEN: what login stores is what later commands use.
    let cli = Cli::with_token(&app, None);
    let file = cli.home.path().join(".vault-token");

    let login = cli.run(&["login", &tok]).await.ok();
    assert!(
        login
            .stdout
            .starts_with("Success! You are now authenticated."),
        "{}",
        login.stdout
    );
    for key in ["token ", "token_accessor", "token_duration", "policies"] {
        assert!(login.stdout.contains(key), "{key}: {}", login.stdout);
    }
    assert!(login.stdout.contains(&acc), "{}", login.stdout);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), tok);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let me = cli
        .run(&["read", "-format=json", "auth/token/lookup-self"])
        .await
        .ok()
        .json();
    assert_eq!(me["data"]["accessor"], acc.as_str());
    // The stored token's limits apply: it may list policies, not read them.
    cli.run(&["policy", "list"]).await.ok();
    assert_eq!(cli.run(&["policy", "read", "default"]).await.code, 2);

    // A bad token is refused and nothing is stored.
    let bad = cli.run(&["login", "hvs.nosuchtoken"]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), tok);

    // AppRole, with -field=token and -no-store: only the token printed, the file untouched.
    app.ok("sys/auth/approle", json!({"type": "approle"})).await;
    app.ok(
        "auth/approle/role/cli",
        json!({"token_policies": "reader", "token_ttl": "10m"}),
    )
    .await;
    let role_id = app.get("auth/approle/role/cli/role-id").await.1["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = || async {
        app.put("auth/approle/role/cli/secret-id", json!({}))
            .await
            .1["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let printed = cli
        .run(&[
            "login",
            "-method=approle",
            "-no-store",
            "-field=token",
            &format!("role_id={role_id}"),
            &format!("secret_id={}", secret_id().await),
        ])
        .await
        .ok();
    let approle_token = printed.stdout.trim().to_owned();
    assert!(approle_token.starts_with("hvs."), "{}", printed.stdout);
    assert_eq!(printed.stdout.lines().count(), 1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), tok);
    let (s, v) = app
        .call_as("GET", "auth/token/lookup-self", None, Some(&approle_token))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]["policies"]
        .as_array()
        .unwrap()
        .contains(&json!("reader")));

    // Stored this time, over the old one; the token from standard input works too.
    let stored = cli
        .run(&[
            "login",
            "-method=approle",
            &format!("role_id={role_id}"),
            &format!("secret_id={}", secret_id().await),
        ])
        .await
        .ok();
    assert!(
        stored.stdout.contains("token_policies"),
        "{}",
        stored.stdout
    );
    let now = std::fs::read_to_string(&file).unwrap();
    assert!(now.starts_with("hvs.") && now != tok);
    run_with_stdin(&cli, &["login", "-"], &format!("{tok}\n"))
        .await
        .ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), tok);

    // With VAULT_TOKEN set, login still stores, and warns that the variable wins.
    let with_env = Cli::root(&app);
    let warned = with_env.run(&["login", &tok]).await.ok();
    assert!(
        warned.stdout.starts_with("WARNING! VAULT_TOKEN"),
        "{}",
        warned.stdout
    );
    assert_eq!(
        std::fs::read_to_string(with_env.home.path().join(".vault-token")).unwrap(),
        tok
    );
}

#[tokio::test]
async fn unwrap_a_named_token_or_the_callers_own_once() {
    let app = TestApp::spawn().await;
    let wrap = |secret: &'static str| {
        let url = format!("http://{}/v1/sys/wrapping/wrap", app.addr);
        let root = app.token.clone();
        async move {
            let v: Value = reqwest::Client::new()
                .post(url)
                .header("X-Vault-Token", root)
                .header("X-Vault-Wrap-TTL", "5m")
                .json(&json!({ "secret": secret }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["wrap_info"]["token"].as_str().unwrap().to_owned()
        }
    };
    let cli = Cli::root(&app);
    let first = wrap("shh").await;
    let got = cli.run(&["unwrap", "-field=secret", &first]).await.ok();
    assert_eq!(got.stdout, "shh\n");
    let again = cli.run(&["unwrap", &first]).await;
    assert_eq!(again.code, 2, "{}", again.stderr);

    // No argument: the caller's token is the wrapping token.
    let second = wrap("quiet").await;
    let own = Cli::with_token(&app, Some(second))
        .run(&["unwrap", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(own["data"]["secret"], "quiet");
}

/// The approval flow through the CLI alone: a requester's `read` is held, two approvers
/// approve, the requester collects a credential that logs in to PostgreSQL.
#[tokio::test]
async fn approval_flow_end_to_end_through_the_cli() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "cliappr", "1h", "2h").await;
    app.ok(
        "database/roles/cliappr",
        json!({"db_name": "pg", "approval_tier": "twodbas"}),
    )
    .await;
    app.ok(
        "sys/approval/tiers/twodbas",
        json!({"factors": [{"name": "dba", "policies": ["approver"], "approvals": 2}], "approval_ttl": "10m"}),
    )
    .await;
    app.ok(
        "sys/policies/acl/requester",
        json!({"policy": "path \"database/creds/*\" { capabilities = [\"read\"] }"}),
    )
    .await;
    app.ok(
        "sys/policies/acl/approver",
        json!({"policy": "path \"sys/control-group/*\" { capabilities = [\"update\", \"list\", \"read\"] }"}),
    )
    .await;
    // The requester also holds the approver policy: still, it cannot approve its own request.
    let (req_tok, _) = token(&app, &["requester", "approver"]).await;
    let requester = Cli::with_token(&app, Some(req_tok));
    let dba1 = Cli::with_token(&app, Some(token(&app, &["approver"]).await.0));
    let dba2 = Cli::with_token(&app, Some(token(&app, &["approver"]).await.0));

    // Held: the table shows the wrap info, and no account exists.
    let held = requester
        .run(&[
            "read",
            "database/creds/cliappr",
            "ticket=CHG-42",
            "purpose=add an index",
        ])
        .await
        .ok();
    for key in [
        "wrapping_token:",
        "wrapping_accessor:",
        "wrapping_token_ttl:",
        "wrapping_token_creation_path:",
    ] {
        assert!(held.stdout.contains(key), "{key}: {}", held.stdout);
    }
    assert!(
        held.stdout.contains("database/creds/cliappr"),
        "{}",
        held.stdout
    );
    assert!(pg.roles_for("cliappr").await.is_empty());
    let field = |name: &str| {
        held.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let (wrapping, accessor) = (field("wrapping_token:"), field("wrapping_accessor:"));

    // Approvers see it; the requester's own approval is refused by the server (exit 2).
    let listed = dba1.run(&["approval", "list", "-approvable"]).await.ok();
    let row = listed
        .stdout
        .lines()
        .find(|l| l.starts_with(&accessor))
        .unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(
        row.contains("database/cliappr")
            && row.contains("pending")
            && row.contains("CHG-42")
            && row.contains("add an index"),
        "{row}"
    );
    let by_role = dba1
        .run(&[
            "approval",
            "list",
            "-format=json",
            "-role=cliappr",
            "-mount=database",
        ])
        .await
        .ok()
        .json();
    assert_eq!(by_role[&accessor]["approvals"], 0, "{by_role}");
    let other_role = dba1
        .run(&["approval", "list", "-role=someother"])
        .await
        .ok();
    assert_eq!(other_role.stdout.trim(), "No approval requests are open.");
    let own = requester.run(&["approval", "approve", &accessor]).await;
    assert_eq!(own.code, 2, "{}", own.stderr);
    assert!(own.stderr.contains("its own request"), "{}", own.stderr);

    // Collecting too early is refused, and the token stays good.
    let early = requester.run(&["approval", "collect", &wrapping]).await;
    assert_eq!(early.code, 2, "{}", early.stderr);
    assert!(pg.roles_for("cliappr").await.is_empty());

    let one = dba1
        .run(&["approval", "approve", &accessor, "-comment=reviewed"])
        .await
        .ok();
    assert!(
        one.stdout.contains("still needs more approvals"),
        "{}",
        one.stdout
    );
    let status = requester
        .run(&["approval", "status", "-format=json", &accessor])
        .await
        .ok()
        .json();
    assert_eq!(status["data"]["approved"], false, "{status}");
    let two = dba2.run(&["approval", "approve", &accessor]).await.ok();
    assert!(two.stdout.contains("is approved"), "{}", two.stdout);
    let state = requester
        .run(&["approval", "status", "-field=state", &accessor])
        .await
        .ok();
    assert_eq!(state.stdout.trim(), "approved");
    assert!(
        pg.roles_for("cliappr").await.is_empty(),
        "nothing before collection"
    );

    // Collected: a working credential, once.
    let creds = requester
        .run(&["approval", "collect", "-format=json", &wrapping])
        .await
        .ok()
        .json();
    let user = creds["data"]["username"].as_str().unwrap();
    assert!(
        pg.can_login(user, creds["data"]["password"].as_str().unwrap())
            .await,
        "{creds}"
    );
    let twice = requester.run(&["approval", "collect", &wrapping]).await;
    assert_eq!(twice.code, 2, "{}", twice.stderr);

    // deny: a second request, denied, can never be collected.
    let held = requester
        .run(&["read", "-format=json", "database/creds/cliappr"])
        .await
        .ok()
        .json();
    let (w2, a2) = (
        held["wrap_info"]["token"].as_str().unwrap().to_owned(),
        held["wrap_info"]["accessor"].as_str().unwrap().to_owned(),
    );
    let denied = dba1
        .run(&["approval", "deny", &a2, "-comment=no change window"])
        .await
        .ok();
    assert!(denied.stdout.contains("Denied"), "{}", denied.stdout);
    assert_eq!(requester.run(&["approval", "collect", &w2]).await.code, 2);
}

#[tokio::test]
async fn operator_key_status_rotate_members_and_reconcile() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, "clirecon", "1h", "2h").await;
    let cli = Cli::root(&app);

    let term = |v: &Value| v["data"]["term"].as_u64().unwrap();
    let before = term(&app.get("sys/key-status").await.1);
    let status = cli
        .run(&["operator", "key-status", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(status["Key Term"], before);
    let rotated = cli.run(&["operator", "rotate"]).await.ok();
    assert!(
        rotated.stdout.starts_with("Success! Rotated key"),
        "{}",
        rotated.stdout
    );
    let after = term(&app.get("sys/key-status").await.1);
    assert_eq!(after, before + 1);
    let shown = cli
        .run(&["operator", "key-status", "-field=Key Term"])
        .await
        .ok();
    assert_eq!(shown.stdout.trim(), after.to_string());

    let members = cli.run(&["operator", "members"]).await.ok();
    let mut lines = members.stdout.lines();
    assert!(lines.next().unwrap().starts_with("Host Name"));
    lines.next();
    let node = lines.next().unwrap_or_else(|| panic!("{}", members.stdout));
    assert!(node.contains("true"), "the one node is active: {node}");

    // An orphan: an account this mount made whose lease row was then lost.
    let json = cli
        .run(&["read", "-format=json", "database/creds/clirecon"])
        .await
        .ok()
        .json();
    let (lease, orphan) = (
        json["lease_id"].as_str().unwrap().to_owned(),
        json["data"]["username"].as_str().unwrap().to_owned(),
    );
    {
        let db = rusqlite::Connection::open(TestApp::db_path(&app.dir)).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            db.execute("DELETE FROM leases WHERE id = ?1", [&lease])
                .unwrap(),
            1
        );
    }
    let report = cli
        .run(&["operator", "reconcile", "-mount=database"])
        .await
        .ok();
    let row = report
        .stdout
        .lines()
        .find(|l| l.contains(&orphan))
        .unwrap_or_else(|| panic!("{}", report.stdout));
    assert!(row.contains("kept (ours"), "{row}");
    assert!(
        pg.role_exists(&orphan).await,
        "report-only destroys nothing"
    );
    let destroyed = cli
        .run(&["operator", "reconcile", "-mount=database", "-destroy"])
        .await
        .ok();
    let row = destroyed
        .stdout
        .lines()
        .find(|l| l.contains(&orphan))
        .unwrap_or_else(|| panic!("{}", destroyed.stdout));
    assert!(row.contains("destroyed"), "{row}");
    assert!(!pg.role_exists(&orphan).await);
    let clean = cli
        .run(&["operator", "reconcile", "-mount=database"])
        .await
        .ok();
    assert!(!clean.stdout.contains(&orphan), "{}", clean.stdout);
}
