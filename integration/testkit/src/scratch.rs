//! Throwaway servers' leftovers: [`ScratchDir`] and [`KillOnDrop`]. A test that starts a server
//! of its own holds both (the process first, so it is gone before its directory is).

use std::path::{Path, PathBuf};
use std::process::Child;

use anyhow::{Context, Result};
use rand::distributions::{Alphanumeric, DistString};

/// A new directory under the system's temporary directory, removed with everything in it when
/// dropped (also when a test's set-up fails half-way).
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// `<tmp>/<prefix>-<random>`.
    pub fn new(prefix: &str) -> Result<ScratchDir> {
        let suffix = Alphanumeric
            .sample_string(&mut rand::thread_rng(), 10)
            .to_lowercase();
        let path = std::env::temp_dir().join(format!("{prefix}-{suffix}"));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ScratchDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed and reaped when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
