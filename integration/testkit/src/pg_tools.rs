//! PostgreSQL's own programs (`initdb`, `pg_ctl`): where they are and how to run them.
//!
//! PostgreSQL refuses to run as root, and we are root here and in CI, so when the effective user
//! is root every program runs through `runuser -u postgres --` and the files it needs are handed
//! to that user first.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

/// The OS user that owns the cluster's files when we run as root.
pub(crate) const PG_OS_USER: &str = "postgres";

/// Where PostgreSQL's programs are and whether they must be run as [`PG_OS_USER`].
#[derive(Debug, Clone)]
pub(crate) struct PgTools {
    bindir: PathBuf,
    as_root: bool,
}

impl PgTools {
    /// `$PG_BINDIR`, or the newest `/usr/lib/postgresql/*/bin` that has `initdb` and `pg_ctl`.
    pub(crate) async fn discover() -> Result<Self> {
        let bindir = match std::env::var_os("PG_BINDIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => newest_bindir(Path::new("/usr/lib/postgresql"))?,
        };
        let as_root = effective_uid().await? == 0;
        Ok(Self { bindir, as_root })
    }

    /// True when programs run through `runuser`.
    pub(crate) fn as_root(&self) -> bool {
        self.as_root
    }

    /// Full path of one of PostgreSQL's programs.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    /// The argument vector that runs `program` as the right user: the prefix is
    /// `runuser -u postgres --` when we are root.
    pub(crate) fn argv(&self, program: &str) -> Vec<String> {
        let mut argv = Vec::new();
        if self.as_root {
            argv.extend(["runuser", "-u", PG_OS_USER, "--"].map(String::from));
        }
        argv.push(self.program(program).to_string_lossy().into_owned());
        argv
    }

    /// Run `program args...` to completion in `cwd`; a failure carries the program's output.
    ///
    /// `cwd` matters: PostgreSQL's tools resolve their own path and must be able to read the
    /// working directory, which for root is often `/root`, closed to the postgres user.
    pub(crate) async fn run(&self, program: &str, args: &[String], cwd: &Path) -> Result<String> {
        let argv = self.argv(program);
        let (head, tail) = argv.split_first().context("empty command")?;
        let output = Command::new(head)
            .args(tail)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.program(program).display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            bail!(
                "{program} {} failed ({}):\n{text}",
                args.join(" "),
                output.status
            );
        }
        Ok(text)
    }

    /// Give `path` (recursively) to the postgres OS user when we are root; otherwise a no-op.
    pub(crate) async fn give_to_postgres(&self, path: &Path) -> Result<()> {
        if !self.as_root {
            return Ok(());
        }
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{PG_OS_USER}:"))
            .arg(path)
            .status()
            .await
            .context("cannot run chown")?;
        if !status.success() {
            bail!(
                "chown -R {PG_OS_USER}: {} failed ({status})",
                path.display()
            );
        }
        Ok(())
    }
}

/// The newest `<root>/<version>/bin` holding both `initdb` and `pg_ctl`.
fn newest_bindir(root: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(root)
        .with_context(|| format!("no PostgreSQL under {} (set PG_BINDIR)", root.display()))?;
    let mut best: Option<(Vec<u64>, PathBuf)> = None;
    for entry in entries.flatten() {
        let bin = entry.path().join("bin");
        if !(bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()) {
            continue;
        }
        // Versions are "15", "16" or "9.6": compare the numbers, not the strings ("9" > "15").
        let version: Vec<u64> = entry
            .file_name()
            .to_string_lossy()
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|part| part.parse().ok())
            .collect();
        if best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    match best {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL found under {}/*/bin (set PG_BINDIR)",
            root.display()
        ),
    }
}

/// The effective user id, from `id -u` (reading it directly would need `unsafe` libc calls).
async fn effective_uid() -> Result<u32> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .await
        .context("cannot run `id -u`")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("`id -u` printed no number")
}

/// A directory for the cluster that the postgres OS user can reach. `TMPDIR` may point into
/// root's closed home; every ancestor must be searchable by others, else we use `/tmp`.
pub(crate) fn traversable_temp_base(as_root: bool) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir();
    if !as_root {
        return base;
    }
    let searchable = base.ancestors().all(|dir| {
        std::fs::metadata(dir)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    });
    if searchable {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_version_is_compared_numerically() {
        let root = tempfile::tempdir().unwrap();
        for v in ["9.6", "15", "16", "17"] {
            let bin = root.path().join(v).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("initdb"), "").unwrap();
            if v != "17" {
                std::fs::write(bin.join("pg_ctl"), "").unwrap();
            }
        }
        // 17 lacks pg_ctl, so 16 wins; 9.6 must not beat 16 as a string would.
        assert_eq!(
            newest_bindir(root.path()).unwrap(),
            root.path().join("16/bin")
        );
    }
}
