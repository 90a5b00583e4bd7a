//! This mount's marker for generated user names (see [`leasehold_backend::marker`]): the
//! default templates put it after `v-` (see `username.rs`), and reconciliation destroys only
//! users carrying it.

use leasehold_backend::marker::random_marker;
use leasehold_backend::{BackendError, MountStorage};

/// This mount's marker, made and stored on first use.
pub(crate) async fn mount_marker(storage: &dyn MountStorage) -> Result<String, BackendError> {
    leasehold_backend::marker::mount_marker(storage, random_marker).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::username::MARKER_LEN;

    #[tokio::test]
    async fn made_once_then_the_same() {
        let storage = crate::harness::MemoryStorage::default();
        let first = mount_marker(&storage).await.unwrap();
        assert_eq!(first.len(), MARKER_LEN);
        assert!(crate::username::is_safe_username(&first));
        assert_eq!(mount_marker(&storage).await.unwrap(), first);
    }
}
