//! A newcomer's first hour, with the built binary as the server: dev mode as Vault's (nothing
//! mounted, the banner, a dev storage file that survives a restart), a server configured from the
//! environment alone, readable logs (no colour in a pipe, the start-up line, no warnings on a
//! clean stop, JSON mode all JSON), errors without backtraces, completions, `--help`, `--version`
//! and the systemd unit.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Cli;

/// A port free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `leasehold` with only PATH, HOME and `env` in its environment; output to files in `dir`.
fn leasehold(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(Cli::bin());
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// A server process, its address and where its output goes.
struct Running {
    child: Child,
    addr: String,
    dir: std::path::PathBuf,
}

impl Running {
    async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)], port: u16) -> Running {
        let child = leasehold(dir, args, env).spawn().unwrap();
        let mut r = Running {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            dir: dir.into(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = reqwest::get(format!("{}/v1/sys/health", r.addr)).await {
                if resp.status() == 200 {
                    return r;
                }
            }
            if let Some(status) = r.child.try_wait().unwrap() {
                panic!("server exited ({status}) during start-up:\n{}", r.stderr());
            }
            assert!(Instant::now() < deadline, "no health:\n{}", r.stderr());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap()
    }

    /// SIGTERM, as systemd and Ctrl-C stop it; the exit code.
    async fn stop(mut self) -> (i32, String, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = tokio::task::spawn_blocking(move || {
            let s = self.child.wait().unwrap();
            (s, self)
        })
        .await
        .unwrap();
        let (s, r) = status;
        (s.code().unwrap_or(-1), r.stdout(), r.stderr())
    }

    async fn get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::Client::new()
            .get(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }
}

/// The value after `Root Token: ` in a banner.
fn root_token(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root Token: "))
        .unwrap_or_else(|| panic!("no root token in:\n{stdout}"))
        .trim()
        .to_owned()
}

/// A dev server (in-memory storage) on a free port with the root token `token`, and the port.
async fn dev_server(dir: &Path, token: &str) -> (Running, u16) {
    let port = free_port();
    let listen = format!("-dev-listen-address=127.0.0.1:{port}");
    let root = format!("-dev-root-token-id={token}");
    let args = ["server", "-dev", &listen, &root];
    (Running::start(dir, &args, &[], port).await, port)
}

#[tokio::test]
async fn dev_mode_mounts_nothing_prints_vault_addr_and_the_tutorials_first_step_works() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = dev_server(dir.path(), "first-hour").await;
    let banner = server.stdout();
    assert!(
        banner.contains(&format!("export VAULT_ADDR='http://127.0.0.1:{port}'")),
        "{banner}"
    );
    assert_eq!(root_token(&banner), "first-hour");
    let (s, mounts) = server.get("first-hour", "sys/mounts").await;
    assert_eq!(s, 200);
    assert!(mounts["data"].get("database/").is_none(), "{mounts}");
    // `vault secrets enable database`, as HashiCorp's tutorials begin, now succeeds.
    let cli = Cli {
        addr: server.addr.clone(),
        token: Some("first-hour".into()),
        home: tempfile::tempdir().unwrap(),
    };
    cli.run(&["secrets", "enable", "database"]).await.ok();
    let (_, mounts) = server.get("first-hour", "sys/mounts").await;
    assert_eq!(mounts["data"]["database/"]["type"], "database");
    let (code, _, stderr) = server.stop().await;
    assert_eq!(code, 0, "{stderr}");
    // A pipe gets no colour; a single node's clean stop gets no warning.
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in a pipe:\n{stderr}"
    );
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains("leader"), "{stderr}");
}

/// The server log at its default level leaves out answered requests (the audit devices record
/// every request) and shows refused ones, with the canonical path and the status.
#[tokio::test]
async fn the_default_log_shows_refused_requests_and_not_answered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = dev_server(dir.path(), "first-hour").await;
    assert_eq!(server.get("first-hour", "sys/mounts").await.0, 200);
    assert_eq!(server.get("not-a-token", "sys/policies/acl").await.0, 403);
    let (code, _, stderr) = server.stop().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("GET sys/policies/acl 403"), "{stderr}");
    assert!(!stderr.contains("GET sys/mounts"), "{stderr}");
    assert!(!stderr.contains("sys/health"), "{stderr}");
}

#[tokio::test]
async fn a_dev_storage_file_survives_a_restart_with_its_root_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dev.db");
    let env = [("LEASEHOLD_DEV_STORAGE", db.to_str().unwrap())];
    let port = free_port();
    let listen = format!("-dev-listen-address=127.0.0.1:{port}");
    let first = Running::start(dir.path(), &["server", "-dev", &listen], &env, port).await;
    let token = root_token(&first.stdout());
    let mount = reqwest::Client::new()
        .post(format!("{}/v1/sys/mounts/kept", first.addr))
        .header("X-Vault-Token", &token)
        .json(&serde_json::json!({"type": "database"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status(), 204);
    assert_eq!(first.stop().await.0, 0);
    let second = Running::start(dir.path(), &["server", "-dev", &listen], &env, port).await;
    assert_eq!(root_token(&second.stdout()), token);
    let (s, mounts) = second.get(&token, "sys/mounts").await;
    assert_eq!(s, 200);
    assert_eq!(mounts["data"]["kept/"]["type"], "database", "{mounts}");
    assert_eq!(second.stop().await.0, 0);
}

#[tokio::test]
async fn the_environment_alone_configures_a_server_and_the_start_up_line_says_what_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("seal.key");
    std::fs::write(&key, crate::app::hex_key()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let db = dir.path().join("env.db");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let env = [
        ("LEASEHOLD_SEAL_KEY_FILE", key.to_str().unwrap()),
        ("LEASEHOLD_STORAGE_PATH", db.to_str().unwrap()),
        ("LEASEHOLD_LISTENER_ADDRESS", address.as_str()),
    ];
    let server = Running::start(dir.path(), &["server"], &env, port).await;
    let token = root_token(&server.stdout());
    let (s, mounts) = server.get(&token, "sys/mounts").await;
    assert_eq!(s, 200, "{mounts}");
    let (code, _, stderr) = server.stop().await;
    assert_eq!(code, 0);
    assert!(db.exists());
    let version = env!("CARGO_PKG_VERSION");
    let line = format!(
        "leasehold {version} listening on http://{address} (TLS off), storage sqlite {}",
        db.display()
    );
    assert!(stderr.contains(&line), "{line}\nnot in:\n{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(!stderr.contains("WARN"), "{stderr}");
    // The same environment is enough for generate-root too.
    let status = leasehold(dir.path(), &["operator", "generate-root"], &env)
        .status()
        .unwrap();
    let stdout = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert_ne!(root_token(&stdout), token);
}

#[tokio::test]
async fn json_logs_are_all_json_even_for_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("seal.key");
    std::fs::write(&key, crate::app::hex_key()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The port is taken, so the start fails after logging has begun.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let env = [
        ("LEASEHOLD_SEAL_KEY_FILE", key.to_str().unwrap()),
        ("LEASEHOLD_STORAGE_PATH", "json.db"),
        ("LEASEHOLD_LISTENER_ADDRESS", address.as_str()),
        ("LEASEHOLD_LOG_FORMAT", "json"),
    ];
    let status = leasehold(dir.path(), &["server"], &env).status().unwrap();
    assert_eq!(status.code(), Some(1));
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(!stderr.trim().is_empty());
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\nin:\n{stderr}"));
        if v["level"] == "ERROR" {
            assert!(v["fields"]["error"]
                .as_str()
                .unwrap()
                .contains(&format!("cannot listen on {address}")));
        }
    }
    assert!(stderr.contains("\"ERROR\""), "{stderr}");
}

#[test]
fn a_user_error_prints_its_cause_once_and_no_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let status = leasehold(dir.path(), &["server"], &[("RUST_BACKTRACE", "1")])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("Error: no seal key"), "{stderr}");
    assert!(stderr.contains("LEASEHOLD_SEAL_KEY_FILE"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    // A bad value names its variable.
    let status = leasehold(
        dir.path(),
        &["server", "-dev"],
        &[("LEASEHOLD_LISTENER_MAX_CONNECTIONS", "lots")],
    )
    .status()
    .unwrap();
    assert_eq!(status.code(), Some(1));
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("LEASEHOLD_LISTENER_MAX_CONNECTIONS"),
        "{stderr}"
    );
}

/// Run the binary to completion; (exit code, stdout).
fn output(args: &[&str]) -> (i32, String) {
    let out = Command::new(Cli::bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn completion_scripts_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, script) = output(&["completion", shell]);
        assert_eq!(code, 0, "{shell}");
        for sub in ["server", "read", "write", "status", "completion"] {
            assert!(script.contains(sub), "{shell} script lacks {sub}");
        }
    }
}

#[test]
fn version_and_server_help_list_what_an_operator_needs() {
    let (code, version) = output(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        version.trim(),
        format!("leasehold {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, help) = output(&["server", "--help"]);
    assert_eq!(code, 0);
    for (key, var, _) in leasehold::config::ENV_KEYS {
        assert!(help.contains(key), "{key} not in server --help");
        assert!(help.contains(var), "{var} not in server --help");
    }
    assert!(help.contains("LEASEHOLD_DEV_STORAGE"));
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        println!("SKIPPED: systemd-analyze is not installed; the unit was not verified");
        return;
    };
    if !probe.status.success() {
        println!("SKIPPED: systemd-analyze does not run here; the unit was not verified");
        return;
    }
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/leasehold.service"),
    )
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/leasehold server\n"));
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leasehold.service");
    let bin = Cli::bin();
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/leasehold", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Unknown or misspelt keys are only warnings: the unit must draw none.
    let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains("leasehold")).collect();
    assert!(about_unit.is_empty(), "{stderr}");
}

#[test]
fn the_readme_config_example_is_valid_as_printed() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```toml\n# leasehold.toml")
        .expect("the config example");
    let block = &readme[start + "```toml\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leasehold.toml");
    std::fs::write(&path, block).unwrap();
    let file = leasehold::config::Settings::load_file(&path).unwrap();
    let settings = leasehold::config::Settings::resolve(file).unwrap();
    // As printed, TLS is off (its lines are commented) and the key file is named.
    assert!(settings.tls.is_none());
    assert!(settings.key_file.is_some());
}

/// The README block that follows `marker` (a fenced `sh` block).
fn readme_block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let at = readme.find(marker).expect("the marker");
    let rest = &readme[at..];
    let start = rest.find("```sh\n").unwrap() + "```sh\n".len();
    let rest = &rest[start..];
    rest[..rest.find("```").unwrap()].to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_printed() {
    use crate::app::{PgTarget, TestApp};
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    let Some(psql_dir) = ["/usr/bin"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .chain(
            std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|d| d.path().join("bin")),
        )
        .find(|d| d.join("psql").exists())
    else {
        println!("SKIPPED: no psql on this machine; the walkthrough was not run");
        return;
    };
    // The walkthrough as printed; only where the server and the database are differs.
    let cli = readme_block("## A five-minute walkthrough");
    let curl = readme_block("The same with curl");
    let script = format!("{cli}\n{curl}")
        .replace(
            "export VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root",
            // `make run` enables database/ before the walkthrough begins; here the README's
            // own instruction for any other server does.
            &format!(
                "export VAULT_ADDR=http://{} VAULT_TOKEN={}\nleasehold secrets enable database",
                app.addr, app.token
            ),
        )
        .replace(
            "PG_HOST=127.0.0.1:5432 PG_USER=postgres PG_PASSWORD=secret",
            &format!(
                "PG_HOST=127.0.0.1:{} PG_USER=postgres PG_PASSWORD='{}'",
                pg.cluster.port(),
                pg.cluster.superuser_password()
            ),
        );
    assert!(script.contains(&app.addr) && script.contains(&pg.cluster.port().to_string()));
    let have_jq = Command::new("jq").arg("--version").output().is_ok();
    let script = if have_jq {
        script
    } else {
        println!("jq is missing: only the CLI part of the walkthrough runs");
        script[..script.find(&curl).unwrap_or(script.len())].to_owned()
    };
    assert!(cli.contains("#   leasehold secrets enable database\n"));
    let bin_dir = Cli::bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        psql_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env_clear()
            .env("PATH", path)
            .env("HOME", home.path())
            .current_dir(home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // The role the psql check found, and the count after the revoke.
    let role = stdout
        .lines()
        .find_map(|l| l.split_once(" is role ").map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| panic!("no `is role` line:\n{stdout}"));
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!("{role}|"))),
        "psql did not find {role} before the revoke:\n{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.trim() == "0"),
        "psql still counted {role} after the revoke:\n{stdout}"
    );
    // Every account the walkthrough made is gone at its end.
    let made: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("username"))
        .map(|u| u.trim().to_owned())
        .chain(std::iter::once(role))
        .collect();
    assert!(made.len() >= 2, "{stdout}");
    for user in made {
        assert!(!pg.role_exists(&user).await, "{user} is still there");
    }
    let (_, leases) = app
        .call("LIST", "sys/leases/lookup/database/creds/migrate/", None)
        .await;
    assert!(
        leases["data"]["keys"]
            .as_array()
            .is_none_or(|k| k.is_empty())
            || leases["errors"].is_array(),
        "{leases}"
    );
}
