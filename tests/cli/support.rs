//! Running the built `leasehold` binary as a client of a test server.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::app::TestApp;

/// A CLI environment: the server's address, a token (or none), and a HOME of its own (for
/// `~/.vault-token`).
pub struct Cli {
    pub addr: String,
    pub token: Option<String>,
    pub home: tempfile::TempDir,
}

/// What a run printed and how it ended.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Insist on exit 0.
    pub fn ok(self) -> Ran {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Cli {
    /// As `app`'s root token.
    pub fn root(app: &TestApp) -> Cli {
        Cli::with_token(app, Some(app.token.clone()))
    }

    /// As `token` (or none).
    pub fn with_token(app: &TestApp, token: Option<String>) -> Cli {
        Cli {
            addr: format!("http://{}", app.addr),
            token,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The binary.
    pub fn bin() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_leasehold"))
    }

    /// The command, with the environment set and nothing inherited that could change it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(Self::bin());
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("VAULT_ADDR", &self.addr)
            .stdin(Stdio::null());
        if let Some(t) = &self.token {
            c.env("VAULT_TOKEN", t);
        }
        c
    }

    /// Run to completion (off the async runtime's threads).
    pub async fn run(&self, args: &[&str]) -> Ran {
        let mut c = self.command(args);
        let out: Output = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
