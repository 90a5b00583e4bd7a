//! The `file` device's sink: the file stays open between entries, and is reopened when its path
//! no longer names the open file (rotated, deleted, replaced) or after a failed write, so a
//! rotated log is followed and a path made unwritable is noticed at the next entry (fail closed).
//! `stdout` is the same kind of sink without a path.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::writer::{BlockingSink, Written};

/// Appends entries to a file; runs on the device's own thread.
pub struct FileSink {
    path: PathBuf,
    open: Option<OpenFile>,
}

/// The open handle and the identity (device, inode) of the file it is.
struct OpenFile {
    file: File,
    id: (u64, u64),
}

impl FileSink {
    /// A sink for `path`; the file is opened at the first entry.
    pub fn new(path: PathBuf) -> Self {
        Self { path, open: None }
    }

    /// The open file, if the path still names it; else the path opened afresh.
    fn current(&mut self) -> Result<&mut File, String> {
        let still_there = match (&self.open, std::fs::metadata(&self.path)) {
            (Some(open), Ok(meta)) => open.id == (meta.dev(), meta.ino()),
            _ => false,
        };
        if !still_there {
            let file = open_append(&self.path)?;
            let meta = file
                .metadata()
                .map_err(|e| format!("cannot stat audit file {}: {e}", self.path.display()))?;
            self.open = Some(OpenFile {
                file,
                id: (meta.dev(), meta.ino()),
            });
        }
        self.open
            .as_mut()
            .map(|o| &mut o.file)
            .ok_or_else(|| format!("audit file {} is not open", self.path.display()))
    }
}

impl BlockingSink for FileSink {
    fn write_entry(&mut self, entry: &[u8]) -> Written {
        let path = self.path.display().to_string();
        // One write per entry: O_APPEND keeps it whole even when several servers on one host
        // append to the same file.
        let written = self
            .current()?
            .write_all(entry)
            .map_err(|e| format!("cannot write audit file {path}: {e}"));
        if written.is_err() {
            self.open = None;
        }
        written
    }
}

/// Writes entries to this process's standard output.
pub struct StdoutSink;

impl BlockingSink for StdoutSink {
    fn write_entry(&mut self, entry: &[u8]) -> Written {
        let mut out = std::io::stdout().lock();
        out.write_all(entry)
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write audit entry to stdout: {e}"))
    }
}

/// A file we create is 0600 from its first byte: the audit trail names accounts, accessors and
/// request paths, which no other local user should read (an existing file keeps the mode its
/// operator gave it).
pub fn open_append(path: &Path) -> Result<File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open audit file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_file_is_followed_and_a_deleted_one_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut sink = FileSink::new(path.clone());
        sink.write_entry(b"one\n").unwrap();
        std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
        sink.write_entry(b"two\n").unwrap();
        sink.write_entry(b"three\n").unwrap();
        let rotated = std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap();
        assert_eq!(rotated, "one\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\nthree\n");
        std::fs::remove_file(&path).unwrap();
        sink.write_entry(b"four\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "four\n");
    }
}
