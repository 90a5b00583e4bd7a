//! The clean-up watcher of one cluster.
//!
//! A destructor alone cannot clean up: the process-wide cluster lives in a `static`, which Rust
//! never drops, and a test binary may also die by panic or signal. So each cluster starts a small
//! shell whose standard input is a pipe that only this process writes to. The shell blocks reading
//! it; when the pipe closes, because [`Reaper`] was dropped or because this process ended in any
//! way, the kernel delivers end-of-file and the shell stops the server and deletes the directory.
//!
//! The pipe is not inherited by anything else: Rust creates its pipes close-on-exec, so the
//! PostgreSQL processes started later cannot keep it open. The shell runs in its own process
//! group, so a Ctrl-C aimed at the test run does not kill it before it has cleaned up.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context, Result};

use crate::pg_tools::PgTools;

/// `$1` = data directory, `$2` = directory to delete, the rest = the `pg_ctl` command (possibly
/// behind `runuser`). Errors are ignored: the server may already be stopped.
const SCRIPT: &str = r#"
cat >/dev/null 2>&1
data="$1"; dir="$2"; shift 2
"$@" -D "$data" -m immediate stop >/dev/null 2>&1
rm -rf -- "$dir"
"#;

/// Holds the write end of the watcher's pipe; dropping it runs the clean-up and waits for it.
#[derive(Debug)]
pub(crate) struct Reaper {
    pipe: Option<ChildStdin>,
    child: Option<Child>,
}

impl Reaper {
    /// Start watching: from now on `dir` is deleted (after stopping any server on `data_dir`)
    /// when this value is dropped or the process exits.
    pub(crate) fn spawn(tools: &PgTools, data_dir: &Path, dir: &Path) -> Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("leasehold-pg-reaper")
            .arg(data_dir)
            .arg(dir)
            .args(tools.argv("pg_ctl"))
            // "/" rather than the doomed directory: pg_ctl must be able to read its cwd.
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start the clean-up watcher (sh)")?;
        let pipe = child.stdin.take();
        Ok(Self {
            pipe,
            child: Some(child),
        })
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // Closing our end is what tells the watcher to act; then wait so that the files are gone
        // when the cluster's drop returns.
        drop(self.pipe.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}
