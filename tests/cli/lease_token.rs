//! `lease ...` and `token ...` against a real server and PostgreSQL: every revocation is proved
//! on the target (the role is gone from pg_roles and cannot log in), not only in what is printed.

use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{approle_login, issue, rand_suffix, PgTarget, TestApp};
use crate::support::Cli;

/// A server with a PostgreSQL role `role` configured.
async fn setup(ttl: &str) -> (TestApp, PgTarget, String) {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    let role = format!("cl{}", &rand_suffix()[..6]);
    pg.role(&app, &role, ttl, "4h").await;
    (app, pg, role)
}

async fn gone(pg: &PgTarget, user: &str, password: &str) -> bool {
    !pg.role_exists(user).await && !pg.can_login(user, password).await
}

/// An AppRole role `name` whose tokens may read `role`'s credentials; a fresh login's token.
async fn approle_workload(app: &TestApp, role: &str, name: &str) -> String {
    app.ok(
        "sys/policies/acl/creds",
        json!({"policy": format!("path \"database/creds/{role}\" {{ capabilities = [\"read\"] }}")}),
    )
    .await;
    let (s, v) = app
        .put("sys/auth/approle", json!({"type": "approle"}))
        .await;
    assert!(s.is_success(), "{v}");
    app.ok(
        &format!("auth/approle/role/{name}"),
        json!({"token_policies": "creds", "token_ttl": "1h"}),
    )
    .await;
    approle_login(app, name).await
}

#[tokio::test]
async fn lease_lookup_renew_list_and_revoke_each_way() {
    let (app, pg, role) = setup("1h").await;
    let cli = Cli::root(&app);
    let mut leases = Vec::new();
    for _ in 0..5 {
        let (id, user, pass, _) = issue(&app, &role).await;
        assert!(pg.can_login(&user, &pass).await);
        leases.push((id, user, pass));
    }

    // lookup: Vault's fields and ours.
    let looked = cli
        .run(&["lease", "lookup", "-format=json", &leases[0].0])
        .await
        .ok()
        .json();
    assert_eq!(looked["data"]["account"], leases[0].1.as_str());
    assert_eq!(looked["data"]["state"], "active");
    let table = cli.run(&["lease", "lookup", &leases[0].0]).await.ok();
    assert!(table.stdout.contains("expire_time"), "{}", table.stdout);

    // renew: Vault's three rows; the increment is honoured.
    let renewed = cli
        .run(&["lease", "renew", "-increment=2h", &leases[0].0])
        .await
        .ok();
    assert!(renewed.stdout.contains("lease_id"), "{}", renewed.stdout);
    assert!(renewed.stdout.contains(" 2h\n"), "{}", renewed.stdout);

    // list: by mount and role, paged.
    let listed = cli
        .run(&[
            "lease",
            "list",
            "-mount=database",
            &format!("-role={role}"),
            "-format=json",
        ])
        .await
        .ok()
        .json();
    let keys: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for (id, user, _) in &leases {
        assert!(keys.contains(&id.as_str()), "{id} not in {keys:?}");
        assert_eq!(listed["key_info"][id]["account"], user.as_str());
    }
    let page = cli
        .run(&[
            "lease",
            "list",
            &format!("-role={role}"),
            "-limit=2",
            "-format=json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(page["keys"].as_array().unwrap().len(), 2);
    assert!(page["next_after"].is_string(), "{page}");
    let all = cli
        .run(&[
            "lease",
            "list",
            &format!("-role={role}"),
            "-limit=2",
            "-all",
            "-format=json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(all["keys"].as_array().unwrap().len(), 5, "{all}");
    let table = cli
        .run(&["lease", "list", &format!("-role={role}"), "-limit=2"])
        .await
        .ok();
    assert!(table.stdout.starts_with("Lease ID"), "{}", table.stdout);
    assert!(table.stderr.contains("-after="), "{}", table.stderr);

    // revoke -sync: the account is gone when the command returns.
    let (id, user, pass) = &leases[0];
    let out = cli.run(&["lease", "revoke", "-sync", id]).await.ok();
    assert!(
        out.stdout.contains("Success! Revoked lease"),
        "{}",
        out.stdout
    );
    assert!(gone(&pg, user, pass).await);
    assert_eq!(cli.run(&["lease", "lookup", id]).await.code, 2);

    // revoke (queued, Vault's default): gone soon after.
    let (id, user, pass) = &leases[1];
    let out = cli.run(&["lease", "revoke", id]).await.ok();
    assert!(out.stdout.contains("queued"), "{}", out.stdout);
    pg.wait_gone(user, Duration::from_secs(20)).await;
    assert!(!pg.can_login(user, pass).await);

    // -force without -prefix is refused locally (exit 1), as Vault's CLI does; nothing happens.
    let (id, user, _) = &leases[2];
    let refused = cli.run(&["lease", "revoke", "-force", id]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(pg.role_exists(user).await);

    // -force -prefix on one lease id: the lease leaves the table (lookup fails, exit 2).
    let out = cli
        .run(&["lease", "revoke", "-force", "-prefix", id])
        .await
        .ok();
    assert!(out.stdout.contains("Force revoked"), "{}", out.stdout);
    assert!(out.stderr.contains("Warning!"), "{}", out.stderr);
    assert_eq!(cli.run(&["lease", "lookup", id]).await.code, 2);
    assert!(gone(&pg, user, &leases[2].2).await);

    // -prefix -sync: every remaining lease of the role at once.
    let out = cli
        .run(&[
            "lease",
            "revoke",
            "-prefix",
            "-sync",
            &format!("database/creds/{role}/"),
        ])
        .await
        .ok();
    assert!(out.stdout.contains("with prefix"), "{}", out.stdout);
    for (_, user, pass) in &leases[3..] {
        assert!(
            gone(&pg, user, pass).await,
            "{user} survived revoke -prefix"
        );
    }
    assert!(pg.roles_for(&role).await.is_empty());
    let empty = cli
        .run(&["lease", "list", &format!("-role={role}")])
        .await
        .ok();
    assert!(empty.stdout.contains("No leases found"), "{}", empty.stdout);

    // A server refusal is exit 2; a bad filter too (the server judges it).
    assert_eq!(
        cli.run(&["lease", "lookup", "database/creds/nope/x"])
            .await
            .code,
        2
    );
    assert_eq!(cli.run(&["lease", "list", "-state=zombie"]).await.code, 2);
}

#[tokio::test]
async fn revoke_workload_prints_each_account_and_destroys_it() {
    let (app, pg, role) = setup("1h").await;
    let cli = Cli::root(&app);
    // The incident's workload: an AppRole role, whose login token obtains the accounts.
    let token = approle_workload(&app, &role, "etl").await;
    let workload = cli
        .run(&["token", "lookup", "-field=workload", &token])
        .await
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(workload, "auth/approle/role/etl");
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let (s, v) = app
            .call_as("GET", &format!("database/creds/{role}"), None, Some(&token))
            .await;
        assert_eq!(s, 200, "{v}");
        accounts.push((
            v["lease_id"].as_str().unwrap().to_owned(),
            v["data"]["username"].as_str().unwrap().to_owned(),
            v["data"]["password"].as_str().unwrap().to_owned(),
        ));
    }
    let listed = cli
        .run(&[
            "lease",
            "list",
            &format!("-workload={workload}"),
            "-format=json",
        ])
        .await
        .ok()
        .json();
    let secret_keys: Vec<&Value> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k.as_str().unwrap().starts_with("database/"))
        .collect();
    assert_eq!(secret_keys.len(), 2, "{listed}");

    let out = cli.run(&["lease", "revoke-workload", &workload]).await.ok();
    assert!(out.stdout.contains("still being retried"), "{}", out.stdout);
    for (id, user, pass) in &accounts {
        assert!(out.stdout.contains(id.as_str()), "{}", out.stdout);
        assert!(out.stdout.contains(user.as_str()), "{}", out.stdout);
        assert!(gone(&pg, user, pass).await, "{user} survived");
    }
    assert!(out.stdout.contains("destroyed"), "{}", out.stdout);
    // The workload's token went too.
    let dead = Cli::with_token(&app, Some(token))
        .run(&["token", "lookup"])
        .await;
    assert_eq!(dead.code, 2, "{}", dead.stdout);

    // JSON gives the server's report.
    let again = cli
        .run(&["lease", "revoke-workload", "-format=json", &workload])
        .await
        .ok()
        .json();
    assert_eq!(again["data"]["revoked_leases"], 0, "{again}");
}

#[tokio::test]
async fn token_create_lookup_renew_capabilities_and_revoke() {
    let (app, pg, role) = setup("1h").await;
    let root = Cli::root(&app);
    app.ok(
        "sys/policies/acl/creds",
        json!({"policy": format!("path \"database/creds/{role}\" {{ capabilities = [\"read\"] }}\npath \"auth/token/create\" {{ capabilities = [\"update\"] }}")}),
    )
    .await;

    let created = root
        .run(&[
            "token",
            "create",
            "-policy=creds",
            "-ttl=1h",
            "-explicit-max-ttl=3h",
            "-display-name=ci",
            "-use-limit=0",
            "-metadata",
            "team=db",
            "-format=json",
        ])
        .await
        .ok()
        .json();
    let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let accessor = created["auth"]["accessor"].as_str().unwrap().to_owned();
    let mut policies: Vec<&str> = created["auth"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    policies.sort_unstable();
    assert_eq!(policies, ["creds", "default"]);
    let table = root
        .run(&["token", "create", "-policy=creds", "-ttl=10m"])
        .await
        .ok();
    assert!(table.stdout.contains("token_accessor"), "{}", table.stdout);

    // The token works (lookup-self with it) and carries what was asked.
    let me = Cli::with_token(&app, Some(token.clone()));
    let looked = me
        .run(&["token", "lookup", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(looked["data"]["accessor"], accessor.as_str());
    assert_eq!(looked["data"]["meta"]["team"], "db");
    assert!(looked["data"]["display_name"]
        .as_str()
        .unwrap()
        .contains("ci"));
    let by_accessor = root
        .run(&["token", "lookup", "-accessor", "-format=json", &accessor])
        .await
        .ok()
        .json();
    assert_eq!(by_accessor["data"]["accessor"], accessor.as_str());
    assert_eq!(
        root.run(&["token", "lookup", "-accessor"]).await.code,
        1,
        "-accessor without an argument is a local error"
    );

    // renew: self and by token.
    let renewed = me
        .run(&["token", "renew", "-increment=30m", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(renewed["auth"]["lease_duration"], 1800);
    root.run(&["token", "renew", &token]).await.ok();

    // capabilities: the caller's (one argument) and another token's (two), as its ACL says.
    let creds_path = format!("database/creds/{role}");
    let mine = me.run(&["token", "capabilities", &creds_path]).await.ok();
    assert_eq!(mine.stdout.trim(), "read");
    let theirs = root
        .run(&["token", "capabilities", &token, &creds_path])
        .await
        .ok();
    assert_eq!(theirs.stdout.trim(), "read");
    let by_accessor = root
        .run(&["token", "capabilities", "-accessor", &accessor, &creds_path])
        .await
        .ok();
    assert_eq!(by_accessor.stdout.trim(), "read");
    assert_eq!(
        root.run(&["token", "capabilities", "-accessor", &creds_path])
            .await
            .code,
        1
    );
    let denied = me
        .run(&["token", "capabilities", "sys/leases/list"])
        .await
        .ok();
    assert_eq!(denied.stdout.trim(), "deny");
    let json = me
        .run(&[
            "token",
            "capabilities",
            "-format=json",
            "auth/token/lookup-self",
        ])
        .await
        .ok()
        .json();
    assert_eq!(json, json!(["read"]));
    // The caller may not ask about another token without update on sys/capabilities (exit 2).
    assert_eq!(
        me.run(&["token", "capabilities", &token, &creds_path])
            .await
            .code,
        2
    );
    assert_eq!(
        root.run(&["token", "capabilities", "root"])
            .await
            .stdout
            .trim(),
        "root"
    );

    // The token obtains an account; revoking the token destroys it and the CLI says so.
    let (s, v) = app.call_as("GET", &creds_path, None, Some(&token)).await;
    assert_eq!(s, 200, "{v}");
    let user = v["data"]["username"].as_str().unwrap().to_owned();
    let pass = v["data"]["password"].as_str().unwrap().to_owned();
    assert!(pg.can_login(&user, &pass).await);
    let out = root.run(&["token", "revoke", &token]).await.ok();
    assert!(
        out.stdout.contains("Success! Revoked token"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&user), "{}", out.stdout);
    assert!(!pg.role_exists(&user).await && !pg.can_login(&user, &pass).await);
    assert_eq!(me.run(&["token", "lookup"]).await.code, 2);

    // -self.
    let t2 = root
        .run(&["token", "create", "-policy=creds", "-field=token"])
        .await
        .ok()
        .stdout
        .trim()
        .to_owned();
    let c2 = Cli::with_token(&app, Some(t2.clone()));
    c2.run(&["token", "revoke", "-self"]).await.ok();
    assert_eq!(c2.run(&["token", "lookup"]).await.code, 2);

    // -accessor.
    let t3 = root
        .run(&["token", "create", "-format=json"])
        .await
        .ok()
        .json();
    let a3 = t3["auth"]["accessor"].as_str().unwrap();
    root.run(&["token", "revoke", "-accessor", a3]).await.ok();
    assert_eq!(
        Cli::with_token(
            &app,
            Some(t3["auth"]["client_token"].as_str().unwrap().into())
        )
        .run(&["token", "lookup"])
        .await
        .code,
        2
    );

    // -mode=orphan keeps the children; the default mode takes them along.
    let parent = root
        .run(&["token", "create", "-policy=creds", "-field=token"])
        .await
        .ok()
        .stdout
        .trim()
        .to_owned();
    let pc = Cli::with_token(&app, Some(parent.clone()));
    let child = pc
        .run(&["token", "create", "-policy=creds", "-field=token"])
        .await
        .ok()
        .stdout
        .trim()
        .to_owned();
    root.run(&["token", "revoke", "-mode=orphan", &parent])
        .await
        .ok();
    assert_eq!(pc.run(&["token", "lookup"]).await.code, 2);
    let cc = Cli::with_token(&app, Some(child));
    let orphaned = cc
        .run(&["token", "lookup", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(orphaned["data"]["orphan"], true);

    // -orphan at creation.
    let orphan = root
        .run(&["token", "create", "-orphan", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(orphan["auth"]["orphan"], true, "{orphan}");

    // -period and -role.
    let periodic = root
        .run(&["token", "create", "-period=24h", "-format=json"])
        .await
        .ok()
        .json();
    assert_eq!(periodic["auth"]["lease_duration"], 86400, "{periodic}");
    app.ok(
        "auth/token/roles/deployer",
        json!({"allowed_policies": ["creds"], "orphan": true}),
    )
    .await;
    let by_role = root
        .run(&[
            "token",
            "create",
            "-role=deployer",
            "-policy=creds",
            "-format=json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(by_role["auth"]["orphan"], true, "{by_role}");
    let t = by_role["auth"]["client_token"].as_str().unwrap();
    let path = root
        .run(&["token", "lookup", "-field=path", t])
        .await
        .ok()
        .stdout;
    assert_eq!(path.trim(), "auth/token/create/deployer");

    // -mode=path: every token created at a path.
    let at_path = root
        .run(&["token", "create", "-ttl=1h", "-field=token"])
        .await
        .ok()
        .stdout
        .trim()
        .to_owned();
    root.run(&["token", "revoke", "-mode=path", "auth/token/create"])
        .await
        .ok();
    assert_eq!(
        Cli::with_token(&app, Some(at_path))
            .run(&["token", "lookup"])
            .await
            .code,
        2
    );
    // The orphaned child was created there too.
    assert_eq!(cc.run(&["token", "lookup"]).await.code, 2);

    // Local errors are exit 1.
    assert_eq!(root.run(&["token", "revoke"]).await.code, 1);
    assert_eq!(root.run(&["token", "revoke", "-self", "x"]).await.code, 1);
}

#[tokio::test]
async fn revoke_workload_says_which_accounts_are_still_being_retried() {
    let (app, pg, role) = setup("1h").await;
    let cli = Cli::root(&app);
    // The incident's workload: an AppRole role, whose login token obtains the accounts.
    let token = approle_workload(&app, &role, "batch").await;
    let (s, v) = app
        .call_as("GET", &format!("database/creds/{role}"), None, Some(&token))
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["lease_id"].as_str().unwrap().to_owned();
    let user = v["data"]["username"].as_str().unwrap().to_owned();
    let pass = v["data"]["password"].as_str().unwrap().to_owned();

    // The target becomes unreachable (nothing listens on port 1): destruction fails.
    pg.configure(&app, 1).await;
    let out = cli
        .run(&["lease", "revoke-workload", "auth/approle/role/batch"])
        .await
        .ok();
    assert!(
        out.stdout.contains("1 still being retried"),
        "{}",
        out.stdout
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.starts_with("retrying"), "{line}");
    assert!(line.contains(&user), "{line}");
    assert!(out.stderr.contains("will be retried"), "{}", out.stderr);
    assert!(
        pg.can_login(&user, &pass).await,
        "nothing could have dropped it"
    );
    let listed = cli
        .run(&[
            "lease",
            "list",
            "-workload=auth/approle/role/batch",
            "-state=revoking",
            "-format=json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(listed["keys"], json!([id]), "{listed}");
    assert!(
        listed["key_info"][&id]["last_error"].is_string(),
        "{listed}"
    );

    // The target is back: the lease can be finished at once, and the account goes.
    pg.configure(&app, pg.cluster.port()).await;
    cli.run(&["lease", "revoke", "-sync", &id]).await.ok();
    assert!(gone(&pg, &user, &pass).await);
}

#[tokio::test]
async fn lease_history_and_report_read_the_access_history() {
    let (app, pg, role) = setup("1h").await;
    let cli = Cli::root(&app);
    let (ended, user, pass, _) = issue(&app, &role).await;
    let (live, _, _, _) = issue(&app, &role).await;
    cli.run(&["lease", "revoke", "-sync", &ended]).await.ok();
    assert!(gone(&pg, &user, &pass).await);

    let table = cli
        .run(&["lease", "history", &format!("-role={role}")])
        .await
        .ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("Lease ID"), "{}", table.stdout);
    assert_eq!(
        lines.len(),
        4,
        "header, dashes, two leases: {}",
        table.stdout
    );
    // (Issued in the same second, the two come in lease id order.)
    let line = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
    assert!(line(&ended).ends_with("revoked"), "{}", table.stdout);
    assert!(line(&live).ends_with("active"), "{}", table.stdout);

    // One page at a time, then -all; JSON lines and CSV.
    let page = cli
        .run(&[
            "lease",
            "history",
            "-limit=1",
            "-format=json",
            &format!("-role={role}"),
        ])
        .await
        .ok();
    let v = page.json();
    assert_eq!(v["leases"].as_array().unwrap().len(), 1);
    assert!(v["next_after"].is_string());
    let jsonl = cli
        .run(&[
            "lease",
            "history",
            "-all",
            "-limit=1",
            "-export=jsonl",
            &format!("-role={role}"),
        ])
        .await
        .ok();
    let rows: Vec<Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let ended_row = rows
        .iter()
        .find(|r| r["lease_id"] == ended.as_str())
        .unwrap();
    assert_eq!(ended_row["account"], user.as_str());
    assert_eq!(ended_row["ending"], "revoked");
    let csv = cli
        .run(&[
            "lease",
            "history",
            "-export=csv",
            "-state=ended",
            &format!("-role={role}"),
        ])
        .await
        .ok();
    let mut csv_lines = csv.stdout.split("\r\n");
    assert!(csv_lines
        .next()
        .unwrap()
        .starts_with("lease_id,mount,role,"));
    assert!(csv_lines
        .next()
        .unwrap()
        .starts_with(&format!("{ended},database/,{role},")));

    let report = cli
        .run(&[
            "lease",
            "report",
            "-by=role",
            "-period=week",
            &format!("-role={role}"),
        ])
        .await
        .ok();
    assert!(
        report.stdout.contains(&format!("database/{role}")),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("Total: 2 leases"),
        "{}",
        report.stdout
    );
    // Bad input is the server's 400, naming the field.
    let bad = cli.run(&["lease", "history", "-since=yesterday"]).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("\"since\""), "{}", bad.stderr);
}
