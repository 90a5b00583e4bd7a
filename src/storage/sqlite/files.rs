//! The database files' modes: the lease table names accounts and accessors, so its files are
//! the server user's alone.

use std::path::Path;

use crate::storage::StorageError;

/// Create the database file 0600 before SQLite opens it. SQLite gives the `-wal` and `-shm` files
/// it creates later the mode of the database file, so this one choice covers all three; a process
/// umask is not relied on (it is the operator's, and would also narrow files that are not ours).
pub(super) fn create_private(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StorageError(format!(
            "sqlite: cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Narrow the database, `-wal` and `-shm` files to 0600 when they are wider: files an older
/// version created 0644 are fixed on the first start of this one. The sealed values were never
/// readable, but lease rows (accounts, accessors, workloads) and token-hash rows were.
pub(super) fn restrict_files(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    StorageError(format!(
                        "sqlite: cannot make {} private: {e}",
                        file.display()
                    ))
                },
            )?;
        }
    }
    Ok(())
}
