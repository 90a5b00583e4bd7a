//! `leasehold run`: the credential works while the command runs and is gone from pg_roles when
//! `run` exits — whether the command succeeds, fails, outlives a short TTL, or `run` is told to
//! stop; and when `run` is SIGKILLed, the lease's own TTL ends it.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::app::{PgTarget, TestApp};
use crate::support::Cli;

/// `run` started in the background, in a directory of its own (the command's working
/// directory too), its stderr in a file there so the test can read it while it runs.
struct Running {
    child: Option<Child>,
    dir: tempfile::TempDir,
    started: Instant,
}

impl Running {
    fn start(cli: &Cli, args: &[&str], extra_env: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cli.command(args);
        c.current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("run.stderr")).unwrap());
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let started = Instant::now();
        Running {
            child: Some(c.spawn().unwrap()),
            dir,
            started,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.path("run.stderr")).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Wait for the command to write `name` (it writes to a temporary name and renames, so
    /// the file is complete once seen).
    async fn wait_file(&self, name: &str, within: Duration) -> String {
        let path = self.path(name);
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text;
            }
            assert!(
                start.elapsed() < within,
                "{name} not written within {within:?}; run's stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for stderr to contain `text`.
    async fn wait_stderr(&self, text: &str, within: Duration) {
        let start = Instant::now();
        while !self.stderr().contains(text) {
            assert!(
                start.elapsed() < within,
                "stderr never said {text:?}:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Let the command finish (it waits for a file named `go`).
    fn go(&self) {
        std::fs::write(self.path("go"), "").unwrap();
    }

    /// `run`'s exit code (-1 if killed by a signal).
    async fn finish(&mut self, within: Duration) -> i32 {
        let mut child = self.child.take().unwrap();
        let status = tokio::time::timeout(
            within,
            tokio::task::spawn_blocking(move || child.wait().unwrap()),
        )
        .await
        .unwrap_or_else(|_| panic!("run did not exit within {within:?}:\n{}", self.stderr()))
        .unwrap();
        status.code().unwrap_or(-1)
    }
}

/// A shell script that saves PGUSER and PGPASSWORD to `creds` first.
fn save_creds(rest: &str) -> String {
    format!(
        r#"printf '%s\n%s\n' "$PGUSER" "$PGPASSWORD" > creds.tmp && mv creds.tmp creds; {rest}"#
    )
}

const WAIT_FOR_GO: &str =
    "i=0; while [ ! -f go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done";

/// `run -secret=database/creds/ROLE FLAGS -env PGUSER=username -env PGPASSWORD=password -- sh -c
/// SCRIPT`, once the command has written the credential it got: (the run, user, password).
async fn start_with_pg_env(
    cli: &Cli,
    role: &str,
    flags: &[&str],
    script: &str,
) -> (Running, String, String) {
    let secret = format!("-secret=database/creds/{role}");
    let mut args = vec!["run", secret.as_str()];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[
        "-env=PGUSER=username",
        "-env=PGPASSWORD=password",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let run = Running::start(cli, &args, &[]);
    let (user, password) =
        user_and_password(&run.wait_file("creds", Duration::from_secs(20)).await);
    (run, user, password)
}

fn user_and_password(creds: &str) -> (String, String) {
    let mut lines = creds.lines();
    let user = lines.next().unwrap().to_owned();
    let password = lines.next().unwrap().to_owned();
    assert!(user.starts_with("v-"), "{creds}");
    (user, password)
}

/// The live lease of `role` (there is one).
async fn only_lease(app: &TestApp, role: &str) -> Value {
    let (s, v) = app
        .call(
            "LIST",
            &format!("sys/leases/lookup/database/creds/{role}/"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let keys = v["data"]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{v}");
    let id = format!("database/creds/{role}/{}", keys[0].as_str().unwrap());
    let (s, v) = app.lookup(&id).await;
    assert_eq!(s, 200, "{v}");
    v["data"].clone()
}

async fn setup(role: &str, ttl: &str, max: &str) -> (TestApp, PgTarget) {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    pg.configure(&app, pg.cluster.port()).await;
    pg.role(&app, role, ttl, max).await;
    (app, pg)
}

#[tokio::test]
async fn the_credential_works_during_the_run_and_is_gone_when_run_exits() {
    let (app, pg) = setup("runok", "1h", "2h").await;
    let cli = Cli::root(&app);
    let script = save_creds(&format!(
        "stat -c %a pw > mode.tmp && mv mode.tmp mode; cp all.json seen.json; {WAIT_FOR_GO}"
    ));
    let mut run = Running::start(
        &cli,
        &[
            "run",
            "-secret=database/creds/runok",
            "-purpose=nightly migration",
            "-ticket=CHG-7",
            "-env",
            "PGUSER=username",
            "-env",
            "PGPASSWORD=password",
            "-file=pw=password",
            "-file=all.json",
            "--",
            "sh",
            "-c",
            &script,
        ],
        &[],
    );
    let (user, password) =
        user_and_password(&run.wait_file("creds", Duration::from_secs(20)).await);
    assert!(pg.can_login(&user, &password).await);
    // The files: 0600, one raw value, one JSON of every field.
    assert_eq!(
        run.wait_file("mode", Duration::from_secs(5)).await.trim(),
        "600"
    );
    let seen: Value =
        serde_json::from_str(&run.wait_file("seen.json", Duration::from_secs(5)).await).unwrap();
    assert_eq!(seen["username"], user.as_str());
    assert_eq!(std::fs::read_to_string(run.path("pw")).unwrap(), password);
    // The lease says why it exists.
    let lease = only_lease(&app, "runok").await;
    assert_eq!(lease["purpose"], "nightly migration");
    assert_eq!(lease["ticket"], "CHG-7");

    run.go();
    assert_eq!(
        run.finish(Duration::from_secs(20)).await,
        0,
        "{}",
        run.stderr()
    );
    // Synchronous revocation: gone the moment run has exited, not at the next expiry sweep.
    assert!(!pg.role_exists(&user).await, "{user} outlived run");
    assert!(!run.path("pw").exists() && !run.path("all.json").exists());
}

#[tokio::test]
async fn a_failing_command_gives_its_exit_code_and_default_names_and_ci_purpose() {
    let (app, pg) = setup("runfail", "1h", "2h").await;
    let cli = Cli::root(&app);
    // No -env/-file: <ROLE>_<FIELD>. No -purpose: GitHub Actions' run URL.
    let script = format!(
        r#"printf '%s\n%s\n' "$RUNFAIL_USERNAME" "$RUNFAIL_PASSWORD" > creds.tmp && mv creds.tmp creds; {WAIT_FOR_GO}; exit 3"#
    );
    let mut run = Running::start(
        &cli,
        &[
            "run",
            "-secret",
            "database/creds/runfail",
            "--",
            "sh",
            "-c",
            &script,
        ],
        &[
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "4242"),
        ],
    );
    let (user, password) =
        user_and_password(&run.wait_file("creds", Duration::from_secs(20)).await);
    assert!(pg.can_login(&user, &password).await);
    let lease = only_lease(&app, "runfail").await;
    assert_eq!(
        lease["purpose"],
        "https://github.com/acme/shop/actions/runs/4242"
    );
    run.go();
    assert_eq!(
        run.finish(Duration::from_secs(20)).await,
        3,
        "{}",
        run.stderr()
    );
    assert!(!pg.role_exists(&user).await, "{user} outlived a failed run");
}

#[tokio::test]
async fn a_role_that_requires_a_purpose_refuses_and_nothing_runs() {
    let (app, pg) = setup("runwhy", "1h", "2h").await;
    app.ok(
        "database/roles/runwhy",
        json!({
            "db_name": "pg",
            "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
            "default_ttl": "1h",
            "require_purpose": true,
        }),
    )
    .await;
    let cli = Cli::root(&app);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let ran = cli
        .run(&[
            "run",
            "-secret=database/creds/runwhy",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ])
        .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("requires a purpose"), "{}", ran.stderr);
    assert!(ran.stderr.contains("CI_JOB_URL"), "{}", ran.stderr);
    assert!(!marker.exists(), "the command ran without its credential");
    assert!(pg.roles_for("runwhy").await.is_empty());

    // With a purpose it runs.
    cli.run(&[
        "run",
        "-secret=database/creds/runwhy",
        "-purpose=audit export",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ])
    .await
    .ok();
    assert!(marker.exists());
    assert!(pg.roles_for("runwhy").await.is_empty());
}

#[tokio::test]
async fn a_short_ttl_is_renewed_and_the_max_ttl_warned_about() {
    let (app, pg) = setup("runwarn", "3s", "10s").await;
    let cli = Cli::root(&app);
    let script = save_creds(WAIT_FOR_GO);
    let (mut run, user, password) = start_with_pg_env(&cli, "runwarn", &[], &script).await;
    // Twice the TTL later, the credential still works: it was renewed.
    tokio::time::sleep_until(run.started + Duration::from_secs(6)).await;
    assert!(pg.can_login(&user, &password).await, "{}", run.stderr());
    // Before the 10 s max TTL, run says it cannot be extended.
    run.wait_stderr("max TTL", Duration::from_secs(6)).await;
    assert!(
        run.started.elapsed() < Duration::from_secs(10),
        "warned too late: {:?}",
        run.started.elapsed()
    );
    run.go();
    assert_eq!(
        run.finish(Duration::from_secs(20)).await,
        0,
        "{}",
        run.stderr()
    );
    assert!(!pg.role_exists(&user).await);
}

#[tokio::test]
async fn on_max_ttl_kill_stops_the_command_before_its_credential_dies() {
    let (app, pg) = setup("runkill", "3s", "10s").await;
    let cli = Cli::root(&app);
    // `exec`: the shell becomes sleep, so SIGTERM reaches the process that would outlive it.
    let script = save_creds("exec sleep 60");
    let (mut run, user, password) =
        start_with_pg_env(&cli, "runkill", &["-on-max-ttl=kill"], &script).await;
    tokio::time::sleep_until(run.started + Duration::from_secs(6)).await;
    assert!(pg.can_login(&user, &password).await, "{}", run.stderr());
    // sleep dies of SIGTERM: 128 + 15, before the lease (issued after run started) reaches 10 s.
    let code = run.finish(Duration::from_secs(20)).await;
    let took = run.started.elapsed();
    assert_eq!(code, 143, "{}", run.stderr());
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    let stderr = run.stderr();
    assert!(
        stderr.contains("max TTL") && stderr.contains("SIGTERM"),
        "{stderr}"
    );
    assert!(!pg.role_exists(&user).await);
}

#[tokio::test]
async fn sigterm_to_run_reaches_the_command_and_the_credential_is_revoked() {
    let (app, pg) = setup("runterm", "1h", "2h").await;
    let cli = Cli::root(&app);
    let script = save_creds(
        "trap 'echo term > got.tmp && mv got.tmp got; exit 7' TERM; while :; do sleep 0.1; done",
    );
    let (mut run, user, password) = start_with_pg_env(&cli, "runterm", &[], &script).await;
    assert!(pg.can_login(&user, &password).await);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(run.pid()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    // The command's trap ran, and its exit code is run's.
    assert_eq!(
        run.finish(Duration::from_secs(20)).await,
        7,
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(run.path("got")).unwrap().trim(),
        "term"
    );
    assert!(!pg.role_exists(&user).await);
}

#[tokio::test]
async fn sigkill_to_run_leaves_the_credential_to_its_ttl() {
    let (app, pg) = setup("runkill9", "3s", "1h").await;
    let cli = Cli::root(&app);
    let script = save_creds(WAIT_FOR_GO);
    let (mut run, user, password) = start_with_pg_env(&cli, "runkill9", &[], &script).await;
    // Past the first renewal (at 2 s), then nothing can revoke it.
    tokio::time::sleep_until(run.started + Duration::from_secs(3)).await;
    assert!(pg.can_login(&user, &password).await, "{}", run.stderr());
    run.child.as_mut().unwrap().kill().unwrap();
    assert_eq!(run.finish(Duration::from_secs(5)).await, -1);
    assert!(
        pg.role_exists(&user).await,
        "nothing should have revoked {user}"
    );
    assert!(pg.can_login(&user, &password).await);
    // The TTL (3 s from the last renewal) ends it, through the server's expiry.
    pg.wait_gone(&user, Duration::from_secs(15)).await;
    run.go(); // the orphaned command ends too
}

/// A token of `policies` (plus `default`), made by root.
async fn token(app: &TestApp, policies: &[&str]) -> String {
    let v = app
        .ok("auth/token/create", json!({"policies": policies}))
        .await;
    v["auth"]["client_token"].as_str().unwrap().to_owned()
}

async fn policy(app: &TestApp, name: &str, hcl: &str) {
    app.ok(&format!("sys/policies/acl/{name}"), json!({"policy": hcl}))
        .await;
}

#[tokio::test]
async fn a_credential_that_needs_approval_exits_2_or_is_waited_for() {
    let (app, pg) = setup("runcg", "1h", "2h").await;
    app.ok(
        "database/roles/runcg",
        json!({"db_name": "pg", "approval_tier": "ops"}),
    )
    .await;
    app.ok(
        "sys/approval/tiers/ops",
        json!({"factors": [{"name": "ops", "policies": ["approver"], "approvals": 1}], "approval_ttl": "10m"}),
    )
    .await;
    policy(
        &app,
        "runner",
        "path \"database/creds/*\" { capabilities = [\"read\"] }\npath \"sys/leases/revoke\" { capabilities = [\"update\"] }",
    )
    .await;
    policy(
        &app,
        "approver",
        "path \"sys/control-group/*\" { capabilities = [\"update\", \"list\", \"read\"] }",
    )
    .await;
    let cli = Cli::with_token(&app, Some(token(&app, &["runner"]).await));
    let approver = token(&app, &["approver"]).await;

    // Without -wait-approval: the accessor, exit 2, nothing created, nothing run.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let held = cli
        .run(&[
            "run",
            "-secret=database/creds/runcg",
            "-purpose=hotfix",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ])
        .await;
    assert_eq!(held.code, 2, "{}", held.stderr);
    assert!(held.stderr.contains("needs approval"), "{}", held.stderr);
    assert!(
        held.stderr.contains("Request accessor: "),
        "{}",
        held.stderr
    );
    assert!(!marker.exists());
    assert!(pg.roles_for("runcg").await.is_empty());

    // With it: run waits, an approver approves, the command gets a working credential.
    let script = save_creds(WAIT_FOR_GO);
    let mut run = Running::start(
        &cli,
        &[
            "run",
            "-secret=database/creds/runcg",
            "-purpose=hotfix",
            "-wait-approval",
            "-env=PGUSER=username",
            "-env=PGPASSWORD=password",
            "--",
            "sh",
            "-c",
            &script,
        ],
        &[],
    );
    run.wait_stderr("to be approved", Duration::from_secs(20))
        .await;
    let stderr = run.stderr();
    let accessor = stderr
        .split("waiting for request ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(
        pg.roles_for("runcg").await.is_empty(),
        "issued before approval"
    );
    let (s, v) = app
        .call_as(
            "POST",
            "sys/control-group/authorize",
            Some(json!({"accessor": accessor})),
            Some(&approver),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (user, password) =
        user_and_password(&run.wait_file("creds", Duration::from_secs(20)).await);
    assert!(pg.can_login(&user, &password).await);
    run.go();
    assert_eq!(
        run.finish(Duration::from_secs(20)).await,
        0,
        "{}",
        run.stderr()
    );
    assert!(!pg.role_exists(&user).await);
}

#[tokio::test]
async fn a_revocation_refused_is_reported_and_the_exit_is_not_0() {
    let (app, pg) = setup("runrvk", "1h", "2h").await;
    policy(
        &app,
        "reader",
        "path \"database/creds/*\" { capabilities = [\"read\"] }",
    )
    .await;
    let cli = Cli::with_token(&app, Some(token(&app, &["reader"]).await));
    let ran = cli
        .run(&[
            "run",
            "-secret=database/creds/runrvk",
            "-purpose=report",
            "--",
            "true",
        ])
        .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("still ends when its TTL runs out")
            && ran.stderr.contains("sys/leases/revoke"),
        "{}",
        ran.stderr
    );
    // The role is still there (its lease runs to its TTL); clean up as root.
    let roles = pg.roles_for("runrvk").await;
    assert_eq!(roles.len(), 1, "{roles:?}");
    let (s, _) = app
        .put(
            "sys/leases/revoke-prefix/database/creds/runrvk",
            json!({"sync": true}),
        )
        .await;
    assert!(s.is_success());
    assert!(pg.roles_for("runrvk").await.is_empty());
}
