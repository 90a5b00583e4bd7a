//! A mount's marker: nine random characters from `[a-z0-9]`, made once per mount and kept in
//! its storage, that an engine puts into the names it generates. Reconciliation destroys only
//! accounts whose names carry it: a name with this mount's marker was made by this mount,
//! whereas a name prefix alone is shared with Vault's own users, static-role users and anything
//! else on the same target.
//!
//! Random rather than derived from the mount's identity: a backend is not told its mount's uuid,
//! and a marker stored with the mount moves with it (remount, backup, restore).

use crate::error::BackendError;
use crate::storage::MountStorage;

/// Characters in a marker: one more than the 8 characters Vault's default database template
/// puts between `v-` and the next `-`, so that no name Vault makes can carry one.
pub const MARKER_LEN: usize = 9;

/// Where the marker is kept in the mount's storage.
const KEY: &str = "name-marker";

/// A new random marker, the usual `make` for [`mount_marker`].
pub fn random_marker() -> String {
    crate::username::random(
        crate::username::LOWER_ALPHANUMERIC,
        MARKER_LEN,
        &mut rand::thread_rng(),
    )
}

/// This mount's marker; on first use `make` (which returns [`MARKER_LEN`] characters of
/// `[a-z0-9]`) makes it and it is stored. Servers sharing the storage agree: the mount lock
/// orders the first writers, and whoever comes second reads the first one's.
pub async fn mount_marker(
    storage: &dyn MountStorage,
    make: impl FnOnce() -> String + Send,
) -> Result<String, BackendError> {
    if let Some(marker) = read(storage).await? {
        return Ok(marker);
    }
    let _held = storage.lock(KEY).await?;
    if let Some(marker) = read(storage).await? {
        return Ok(marker);
    }
    let marker = make();
    if !is_marker(&marker) {
        return Err(BackendError::Internal(format!(
            "a new marker must be {MARKER_LEN} characters of [a-z0-9]"
        )));
    }
    storage.put(KEY, marker.as_bytes()).await?;
    Ok(marker)
}

fn is_marker(text: &str) -> bool {
    text.len() == MARKER_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The stored marker, if it is one we could have written.
async fn read(storage: &dyn MountStorage) -> Result<Option<String>, BackendError> {
    let Some(bytes) = storage.get(KEY).await? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if is_marker(&text) {
        Ok(Some(text))
    } else {
        Err(BackendError::Internal(format!(
            "the stored name marker ({KEY}) is not {MARKER_LEN} characters of [a-z0-9]"
        )))
    }
}
