//! What is stored about one secret id, and the storage operations on it: insert, load, take a
//! use, remove, and remove all of a role's. The paths that use them are in `secret_id.rs`, and
//! login in `login.rs`.
//!
//! Layout: `secret-id/<role>/<hmac(secret id)>` holds a [`SecretIdEntry`];
//! `accessor/<role>/<accessor>` holds the hash the accessor names. The secret id itself is never
//! stored.
//!
//! Use counts are taken with the storage's compare-and-put ([`take_use`]), never a read then a
//! write: every server sharing the storage may be logging in with the same secret id at once,
//! and a per-process lock cannot see the others. The last use first marks the entry used up
//! (by compare-and-put too, so exactly one login wins it) and only then deletes it; a marked
//! entry reads as absent. The administrative paths still hold the role's (per-process) lock
//! around their read-then-write; they change entries only by creating or deleting them, which a
//! racing login's compare-and-put notices.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use leasehold_backend::storage::{get_json, put_json};
use leasehold_backend::{BackendError, MountStorage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::error::AppRoleError;

/// Storage folder of secret ids.
const SECRET_PREFIX: &str = "secret-id/";
/// Storage folder of accessors.
const ACCESSOR_PREFIX: &str = "accessor/";

/// What is stored about one secret id (never the secret id itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct SecretIdEntry {
    /// Public handle.
    pub accessor: String,
    /// Caller-chosen key/value pairs, copied into the login's token metadata.
    pub metadata: BTreeMap<String, String>,
    /// Where logins with this secret id may come from; empty for anywhere.
    pub cidr_list: Vec<String>,
    /// Overrides the role's `token_bound_cidrs` for tokens from this secret id, when not empty.
    pub token_bound_cidrs: Vec<String>,
    /// Logins left; zero is unlimited. An entry is deleted when its last use is taken.
    pub num_uses: u64,
    /// Life at creation in seconds; zero for no expiry.
    pub ttl_secs: u64,
    /// When created.
    pub creation_time: DateTime<Utc>,
    /// When last used or changed.
    pub last_updated_time: DateTime<Utc>,
    /// When it stops working; `None` for never.
    pub expiration_time: Option<DateTime<Utc>>,
    /// Its last use was taken and the entry is about to be deleted: it reads as absent. Only
    /// seen in storage between the two steps of [`take_use`] (or after a crash between them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub used_up: bool,
}

impl SecretIdEntry {
    /// True once the secret id's life is over.
    pub(super) fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration_time.is_some_and(|t| t <= now)
    }

    /// The `data` of a lookup, in Vault's shape.
    pub(super) fn to_lookup_data(&self) -> Map<String, Value> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let mut data = Map::new();
        data.insert("secret_id_accessor".into(), json!(self.accessor));
        data.insert("metadata".into(), json!(self.metadata));
        data.insert("cidr_list".into(), json!(self.cidr_list));
        data.insert("token_bound_cidrs".into(), json!(self.token_bound_cidrs));
        data.insert("secret_id_num_uses".into(), json!(self.num_uses));
        data.insert("secret_id_ttl".into(), json!(self.ttl_secs));
        data.insert("creation_time".into(), json!(time(&self.creation_time)));
        data.insert(
            "last_updated_time".into(),
            json!(time(&self.last_updated_time)),
        );
        // Vault reports "no expiry" as Go's zero time.
        data.insert(
            "expiration_time".into(),
            json!(self
                .expiration_time
                .as_ref()
                .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), time)),
        );
        data
    }
}

/// Which hash an accessor names.
#[derive(Debug, Serialize, Deserialize)]
struct AccessorEntry {
    hash: String,
}

fn secret_key(role: &str, hash: &str) -> String {
    format!("{SECRET_PREFIX}{role}/{hash}")
}

fn accessor_key(role: &str, accessor: &str) -> String {
    format!("{ACCESSOR_PREFIX}{role}/{accessor}")
}

/// Store a new entry under `hash`.
pub(super) async fn insert(
    storage: &dyn MountStorage,
    role: &str,
    hash: &str,
    entry: &SecretIdEntry,
) -> Result<(), BackendError> {
    // The accessor first, so a secret id that exists can always be found and destroyed by it.
    let index = AccessorEntry {
        hash: hash.to_owned(),
    };
    put_json(storage, &accessor_key(role, &entry.accessor), &index).await?;
    put_json(storage, &secret_key(role, hash), entry).await?;
    Ok(())
}

/// An entry as read, with the exact bytes it was read as: what a compare-and-put compares.
pub(super) struct StoredEntry {
    /// The entry.
    pub entry: SecretIdEntry,
    /// The stored JSON. Zeroized on drop: it is not secret, but costs nothing to wipe.
    bytes: Zeroizing<Vec<u8>>,
}

/// The entry stored under `hash` for `role`, with the bytes it was read as. A used-up entry is
/// `None`.
pub(super) async fn load_stored(
    storage: &dyn MountStorage,
    role: &str,
    hash: &str,
) -> Result<Option<StoredEntry>, BackendError> {
    let key = secret_key(role, hash);
    let Some(bytes) = storage.get(&key).await? else {
        return Ok(None);
    };
    let entry: SecretIdEntry = serde_json::from_slice(&bytes)
        .map_err(|e| AppRoleError::Internal(format!("stored entry {key} is not valid: {e}")))?;
    Ok((!entry.used_up).then_some(StoredEntry { entry, bytes }))
}

/// The entry stored under `hash` for `role`; a used-up entry is `None`.
pub(super) async fn load(
    storage: &dyn MountStorage,
    role: &str,
    hash: &str,
) -> Result<Option<SecretIdEntry>, BackendError> {
    Ok(load_stored(storage, role, hash).await?.map(|s| s.entry))
}

/// The hash `accessor` names on `role`, if any.
pub(super) async fn hash_for_accessor(
    storage: &dyn MountStorage,
    role: &str,
    accessor: &str,
) -> Result<Option<String>, BackendError> {
    // An accessor is a UUID; text with a `/` cannot be one and must not reach a storage key.
    if accessor.contains('/') {
        return Ok(None);
    }
    let index: Option<AccessorEntry> = get_json(storage, &accessor_key(role, accessor)).await?;
    Ok(index.map(|i| i.hash))
}

/// The accessors stored for `role`.
pub(super) async fn accessors(
    storage: &dyn MountStorage,
    role: &str,
) -> Result<Vec<String>, BackendError> {
    Ok(storage.list(&format!("{ACCESSOR_PREFIX}{role}/")).await?)
}

/// Delete an accessor whose secret id is already gone (a crash between the two deletes).
pub(super) async fn remove_accessor(
    storage: &dyn MountStorage,
    role: &str,
    accessor: &str,
) -> Result<(), BackendError> {
    Ok(storage.delete(&accessor_key(role, accessor)).await?)
}

/// Delete one secret id and its accessor. Absent keys are fine.
pub(super) async fn remove(
    storage: &dyn MountStorage,
    role: &str,
    hash: &str,
    accessor: &str,
) -> Result<(), BackendError> {
    // The secret id first: once it is gone nothing can log in with it, and a crash before the
    // accessor is removed leaves an accessor that lookups report as not found.
    storage.delete(&secret_key(role, hash)).await?;
    remove_accessor(storage, role, accessor).await
}

/// What [`take_use`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UseTaken {
    /// The use is this login's: it may proceed.
    Taken,
    /// Another writer changed or removed the entry since `stored` was read (on this server or
    /// another); nothing was written. Read it again and decide again.
    LostRace,
}

/// Take one use of the secret id `stored` (as a login read it): the entry loses a use, or is
/// used up and deleted with its last one. Atomic across servers: the write is a compare-and-put
/// against the bytes the login read, so of any number of logins that read the same count,
/// exactly one takes it and the others get [`UseTaken::LostRace`]. An unlimited secret id
/// (`num_uses` 0) is not written at all: a write per login would make every pod starting with
/// one shared secret id fight over it. The cost is that a login which read such an entry just
/// before it was destroyed may finish just after, as a login that had begun before would.
pub(super) async fn take_use(
    storage: &dyn MountStorage,
    role: &str,
    hash: &str,
    stored: &StoredEntry,
    now: DateTime<Utc>,
) -> Result<UseTaken, BackendError> {
    let mut next = stored.entry.clone();
    match next.num_uses {
        0 => return Ok(UseTaken::Taken),
        1 => next.used_up = true,
        n => next.num_uses = n - 1,
    }
    next.last_updated_time = now;
    let key = secret_key(role, hash);
    let bytes = Zeroizing::new(
        serde_json::to_vec(&next)
            .map_err(|e| AppRoleError::Internal(format!("cannot encode {key}: {e}")))?,
    );
    if !storage.compare_and_put(&key, &stored.bytes, &bytes).await? {
        return Ok(UseTaken::LostRace);
    }
    if next.used_up {
        // Only the login that marked it gets here. A crash before the delete leaves a marked
        // entry, which reads as absent and is deleted whenever it is next come across.
        remove(storage, role, hash, &next.accessor).await?;
    }
    Ok(UseTaken::Taken)
}

/// Delete every secret id of `role` (the role is being deleted); returns how many there were.
pub(super) async fn delete_all(
    storage: &dyn MountStorage,
    role: &str,
) -> Result<usize, BackendError> {
    let hashes = storage.list(&format!("{SECRET_PREFIX}{role}/")).await?;
    for hash in &hashes {
        storage.delete(&secret_key(role, hash)).await?;
    }
    for accessor in accessors(storage, role).await? {
        remove_accessor(storage, role, &accessor).await?;
    }
    Ok(hashes.len())
}
