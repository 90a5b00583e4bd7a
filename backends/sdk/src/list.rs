//! Vault's answer to a LIST: `{"keys": [...]}`, built here and nowhere else.

use serde_json::{Map, Value};

use crate::response::Response;
use crate::storage::{MountStorage, StorageError};

/// The LIST answer naming `keys`, in the order given.
pub fn keys(keys: Vec<String>) -> Response {
    Response::data(data(keys))
}

/// The `data` object of that answer, for a caller that writes the envelope itself (the core's
/// own `sys/` and `auth/token/` lists).
pub fn data(keys: Vec<String>) -> Map<String, Value> {
    Map::from_iter([("keys".to_owned(), Value::from(keys))])
}

/// The entries directly under `prefix` (which ends in `/`), leaving out sub-folders: what a LIST
/// of a family of named entries shows when some names have data kept below them.
pub async fn entries(
    storage: &dyn MountStorage,
    prefix: &str,
) -> Result<Vec<String>, StorageError> {
    let mut names = storage.list(prefix).await?;
    names.retain(|name| !name.ends_with('/'));
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_vaults_list_shape() {
        let response = keys(vec!["b".into(), "a".into()]);
        assert_eq!(
            Value::Object(response.data.unwrap()),
            serde_json::json!({"keys": ["b", "a"]})
        );
        assert!(response.secret.is_none() && response.warnings.is_empty());
        let empty = keys(Vec::new());
        assert_eq!(
            Value::Object(empty.data.unwrap()),
            serde_json::json!({"keys": []})
        );
    }

    #[tokio::test]
    async fn entries_leave_out_folders() {
        let storage = crate::memory::MemoryStorage::default();
        for key in ["role/a", "role/b/secret-id/x", "role/c", "other/d"] {
            storage.put(key, b"{}").await.unwrap();
        }
        assert_eq!(storage.list("role/").await.unwrap(), ["a", "b/", "c"]);
        assert_eq!(entries(&storage, "role/").await.unwrap(), ["a", "c"]);
    }
}
