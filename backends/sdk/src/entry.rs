//! Typed entries: a family of values of one serde type kept as JSON under one key prefix
//! (`role/<name>`, `config/<name>`). Engines declare the family once
//! (`const ROLES: Entries<Role> = Entries::under("role/")`) instead of formatting keys and
//! calling [`get_json`]/[`put_json`] by hand at every use.

use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};

use crate::storage::{get_json, put_json, MountStorage, StorageError};

/// The entries of type `T` stored under one prefix (which ends in `/`).
pub struct Entries<T> {
    prefix: &'static str,
    entry: PhantomData<fn() -> T>,
}

impl<T> Entries<T> {
    /// The family under `prefix`.
    pub const fn under(prefix: &'static str) -> Self {
        Self {
            prefix,
            entry: PhantomData,
        }
    }

    /// The prefix, for listing and for keys built elsewhere.
    pub const fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// The storage key of entry `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Remove entry `name`; an absent entry is not an error.
    pub async fn delete(&self, storage: &dyn MountStorage, name: &str) -> Result<(), StorageError> {
        storage.delete(&self.key(name)).await
    }

    /// The names of the stored entries (sub-folders left out).
    pub async fn names(&self, storage: &dyn MountStorage) -> Result<Vec<String>, StorageError> {
        crate::list::entries(storage, self.prefix).await
    }
}

impl<T: Serialize + DeserializeOwned> Entries<T> {
    /// Entry `name`, or `None`. A stored value that does not decode is a storage error naming
    /// its key.
    pub async fn load(
        &self,
        storage: &dyn MountStorage,
        name: &str,
    ) -> Result<Option<T>, StorageError> {
        get_json(storage, &self.key(name)).await
    }

    /// Write entry `name`, replacing what was there. The encoded bytes are zeroized after the
    /// write, so an entry may hold a secret.
    pub async fn store(
        &self,
        storage: &dyn MountStorage,
        name: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        put_json(storage, &self.key(name), value).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Role {
        ttl: u64,
    }

    const ROLES: Entries<Role> = Entries::under("role/");

    #[tokio::test]
    async fn entries_round_trip_under_their_prefix() {
        let storage = MemoryStorage::default();
        assert_eq!(ROLES.load(&storage, "a").await.unwrap(), None);
        ROLES.store(&storage, "a", &Role { ttl: 60 }).await.unwrap();
        ROLES.store(&storage, "b", &Role { ttl: 5 }).await.unwrap();
        storage.put("role/b/extra", b"{}").await.unwrap();
        assert_eq!(
            ROLES.load(&storage, "a").await.unwrap(),
            Some(Role { ttl: 60 })
        );
        assert!(storage.get("role/a").await.unwrap().is_some());
        assert_eq!(ROLES.names(&storage).await.unwrap(), ["a", "b"]);
        ROLES.delete(&storage, "a").await.unwrap();
        ROLES.delete(&storage, "a").await.unwrap();
        assert_eq!(ROLES.names(&storage).await.unwrap(), ["b"]);
    }

    #[tokio::test]
    async fn a_value_that_does_not_decode_names_its_key() {
        let storage = MemoryStorage::default();
        storage.put("role/x", b"not json").await.unwrap();
        let err = ROLES.load(&storage, "x").await.unwrap_err().to_string();
        assert!(err.contains("role/x"), "{err}");
    }
}
