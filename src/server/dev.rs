//! Dev mode (`leasehold server -dev`), as Vault's: one process, started unsealed, a root token
//! printed in a banner, no secrets engine mounted (a tutorial begins with `secrets enable`).
//!
//! Storage is in memory, so a restart starts afresh. With `LEASEHOLD_DEV_STORAGE=FILE` the data
//! goes to that SQLite file instead, and the seal key and root token go to `FILE.dev.json`
//! (mode 0600) beside it: a restart on the same file reopens what the last start wrote, with the
//! same root token. A dev key on disk in the clear is what dev mode is: never use it for real.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// Dev-mode choices (`-dev`), resolved by [`DevOptions::prepare`].
#[derive(Debug, Default)]
pub struct DevOptions {
    /// Root token value (`-dev-root-token-id`, or the one kept beside a storage file);
    /// generated when absent.
    pub root_token: Option<SecretString>,
    /// SQLite file to use instead of memory (`LEASEHOLD_DEV_STORAGE`).
    pub storage_path: Option<PathBuf>,
    /// The seal key kept beside `storage_path`; a key is generated when absent.
    pub seal_key: Option<Zeroizing<String>>,
}

/// What `FILE.dev.json` holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    /// Hex, as a `seal.key_file` may hold it.
    seal_key: String,
    root_token: String,
}

impl Drop for Kept {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.seal_key);
        zeroize::Zeroize::zeroize(&mut self.root_token);
    }
}

/// Where a dev storage file's key and root token are kept.
pub fn kept_path(storage: &Path) -> PathBuf {
    let mut name = storage.as_os_str().to_owned();
    name.push(".dev.json");
    PathBuf::from(name)
}

impl DevOptions {
    /// Dev options for a start with `root_token` (`-dev-root-token-id`) and `storage_path`
    /// (`LEASEHOLD_DEV_STORAGE`). With a storage file, its kept key and token are read, or
    /// created (before the storage is, so no start can write data under a key it then loses).
    /// A root token given on the command line wins over the kept one, and is kept from then on.
    pub fn prepare(
        root_token: Option<SecretString>,
        storage_path: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let Some(storage) = storage_path else {
            return Ok(Self {
                root_token,
                ..Self::default()
            });
        };
        let kept_at = kept_path(&storage);
        let kept = match std::fs::read(&kept_at) {
            Ok(bytes) => Some(
                serde_json::from_slice::<Kept>(&bytes)
                    .with_context(|| format!("reading the dev key file {}", kept_at.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", kept_at.display()));
            }
        };
        if kept.is_none() && std::fs::metadata(&storage).is_ok_and(|m| m.len() > 0) {
            anyhow::bail!(
                "LEASEHOLD_DEV_STORAGE {} holds data but its key file {} is missing, so it \
                 cannot be opened; delete the storage file to start afresh",
                storage.display(),
                kept_at.display()
            );
        }
        let seal_key = match &kept {
            Some(k) => k.seal_key.clone(),
            None => {
                let mut key = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(key.as_mut());
                hex::encode(key.as_ref())
            }
        };
        let token = root_token
            .or_else(|| {
                kept.as_ref()
                    .map(|k| SecretString::from(k.root_token.clone()))
            })
            .unwrap_or_else(crate::auth::token::generate_token);
        let unchanged = kept
            .as_ref()
            .is_some_and(|k| k.root_token == token.expose_secret() && k.seal_key == seal_key);
        if !unchanged {
            write_private(
                &kept_at,
                &Kept {
                    seal_key: seal_key.clone(),
                    root_token: token.expose_secret().to_owned(),
                },
            )?;
        }
        Ok(Self {
            root_token: Some(token),
            storage_path: Some(storage),
            seal_key: Some(Zeroizing::new(seal_key)),
        })
    }
}

/// Write `kept` to `path`, readable by its owner only, replacing the file whole.
fn write_private(path: &Path, kept: &Kept) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let text = Zeroizing::new(serde_json::to_vec_pretty(kept)?);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing the dev key file {}", tmp.display()))?;
    f.write_all(&text)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("writing the dev key file {}", path.display()))?;
    Ok(())
}

/// The dev banner on stdout, as `vault server -dev` prints one: where the server listens (as the
/// `export` line a shell needs), the root token, and what dev mode gives up.
pub fn banner(token: &SecretString, address: &str, storage: Option<&Path>) {
    let storage = match storage {
        None => "Storage is in memory: everything is gone when this process stops.".to_owned(),
        Some(p) => format!(
            "Storage is the file {} (key and root token kept in {}): a restart resumes it.",
            p.display(),
            kept_path(p).display()
        ),
    };
    println!(
        "WARNING! dev mode is enabled! The server starts unsealed with one root token and the \
         seal key is not protected.\n{storage}\n\n\
         To talk to it from a shell, set:\n\n    \
         $ export VAULT_ADDR='http://{address}'\n\n\
         The root token (a client uses it as VAULT_TOKEN):\n\n\
         Root Token: {}\n\n\
         No secrets engine is mounted; enable one with `leasehold secrets enable database`.\n\n\
         Dev mode is for trying leasehold out: never run it in production.\n",
        token.expose_secret()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_file_keeps_its_key_and_token_and_a_given_token_wins() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("dev.db");
        let first = DevOptions::prepare(None, Some(db.clone())).unwrap();
        let token = first.root_token.unwrap().expose_secret().to_owned();
        let key = first.seal_key.unwrap().to_string();
        std::fs::write(&db, b"data").unwrap();
        let again = DevOptions::prepare(None, Some(db.clone())).unwrap();
        assert_eq!(again.root_token.unwrap().expose_secret(), token);
        assert_eq!(again.seal_key.unwrap().as_str(), key);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(kept_path(&db))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let given = DevOptions::prepare(Some("mine".to_owned().into()), Some(db.clone())).unwrap();
        assert_eq!(given.root_token.unwrap().expose_secret(), "mine");
        assert_eq!(given.seal_key.unwrap().as_str(), key);
        // Data without its key cannot be opened: refused, not silently replaced.
        std::fs::remove_file(kept_path(&db)).unwrap();
        let e = DevOptions::prepare(None, Some(db)).unwrap_err().to_string();
        assert!(e.contains("key file"), "{e}");
    }
}
