//! This mount's marker for generated user names (see [`leasehold_backend::marker`]): the
//! default templates put it after `v-` (see `username.rs`), and reconciliation destroys only
//! users carrying it.

use leasehold_backend::{BackendError, MountStorage};
use rand::Rng;

use crate::username::MARKER_LEN;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// This mount's marker, made and stored on first use.
pub(crate) async fn mount_marker(storage: &dyn MountStorage) -> Result<String, BackendError> {
    leasehold_backend::marker::mount_marker(storage, || generate(&mut rand::thread_rng())).await
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
