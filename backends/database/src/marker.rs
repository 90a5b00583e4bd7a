//! The mount's marker: nine random characters, made once per mount and kept in its storage,
//! that the default user-name templates put after `v-` (see `username.rs`). Reconciliation
//! destroys only users whose names carry it: a name with this mount's marker was made by this
//! mount, whereas the `v-` prefix alone is shared with Vault's own users, static-role users and
//! anything else on the same database.
//!
//! Random rather than derived from the mount's identity: the backend is not told its mount's
//! uuid, and a random marker stored with the mount moves with it (remount, backup, restore).

use leasehold_backend::{BackendError, MountStorage};
use rand::Rng;

use crate::username::MARKER_LEN;

/// Where the marker is kept in the mount's storage.
const KEY: &str = "name-marker";
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// This mount's marker, made and stored on first use. Servers sharing the storage agree: the
/// mount lock orders the first writers, and whoever comes second reads the first one's.
pub(crate) async fn mount_marker(storage: &dyn MountStorage) -> Result<String, BackendError> {
    if let Some(marker) = read(storage).await? {
        return Ok(marker);
    }
    let _held = storage.lock(KEY).await?;
    if let Some(marker) = read(storage).await? {
        return Ok(marker);
    }
    let marker = generate(&mut rand::thread_rng());
    storage.put(KEY, marker.as_bytes()).await?;
    tracing::info!(db.marker = %marker, "made user-name marker {marker} for this mount");
    Ok(marker)
}

/// A new marker.
fn generate(rng: &mut impl Rng) -> String {
    (0..MARKER_LEN)
        .map(|_| {
            let i = rng.gen_range(0..ALPHABET.len());
            ALPHABET.get(i).map_or('0', |&b| char::from(b))
        })
        .collect()
}

/// The stored marker, if it is one we could have written.
async fn read(storage: &dyn MountStorage) -> Result<Option<String>, BackendError> {
    let Some(bytes) = storage.get(KEY).await? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let valid = text.len() == MARKER_LEN && text.bytes().all(|b| ALPHABET.contains(&b));
    if valid {
        Ok(Some(text))
    } else {
        Err(BackendError::Internal(format!(
            "the stored user-name marker ({KEY}) is not {MARKER_LEN} characters of [a-z0-9]"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn made_once_then_the_same() {
        let storage = crate::harness::MemoryStorage::default();
        let first = mount_marker(&storage).await.unwrap();
        assert_eq!(first.len(), MARKER_LEN);
        assert!(crate::username::is_safe_username(&first));
        assert_eq!(mount_marker(&storage).await.unwrap(), first);
    }
}
