//! The one-time migration of issue 17 (see the keyring's module header): values written by
//! earlier versions (format 1) are re-sealed bound to their place, once, under the ring's lock.

use std::sync::Arc;

use super::{err, put_batch, Place, BATCH, KEYRING_KEY};
use crate::storage::seal::{term_of, Aad, Seal, FORMAT, LEGACY_FORMAT};
use crate::storage::{Storage, StorageError};

/// The first key or lease whose value is in format 2, if any.
pub(super) async fn first_format_2(
    storage: &Arc<dyn Storage>,
) -> Result<Option<String>, StorageError> {
    let mut after = String::new();
    loop {
        let batch = storage.kv_scan(&after, BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        if let Some((key, _)) = batch
            .iter()
            .find(|(k, v)| k != KEYRING_KEY && v.first() == Some(&FORMAT))
        {
            return Ok(Some(key.clone()));
        }
        after = last.clone();
    }
    let mut after = String::new();
    loop {
        let batch = storage.lease_internal_scan(&after, BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        if let Some((id, _)) = batch.iter().find(|(_, v)| v.first() == Some(&FORMAT)) {
            return Ok(Some(format!("lease {id}")));
        }
        after = last.clone();
    }
    Ok(None)
}

/// What [`migrate_to_format_2`] rewrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Key/value entries re-sealed.
    pub kv: u64,
    /// Leases' internal data re-sealed.
    pub leases: u64,
}

/// The one-time migration of issue 17: every format-1 value (sealed under the operator's key
/// without associated data) is opened and sealed again in format 2, bound to its key or lease id.
/// Values already in format 2 are skipped (a resumed migration). A format-2 value under a term
/// the ring does not hold means the storage's own ring is not this one: refused.
pub async fn migrate_to_format_2(
    seal: &Seal,
    storage: &Arc<dyn Storage>,
) -> Result<MigrationReport, StorageError> {
    let mut report = MigrationReport::default();
    let known = |sealed: &[u8], place: &str| -> Result<(), StorageError> {
        match term_of(sealed) {
            Some(t) if seal.with_ring(|r| r.terms.contains_key(&t)) => Ok(()),
            Some(t) => Err(err(format!(
                "{place} is sealed with key term {t}, which the stored keyring does not hold: \
                 the keyring is missing or belongs to another storage"
            ))),
            None => Ok(()),
        }
    };
    let mut after = String::new();
    loop {
        let batch = storage.kv_scan(&after, BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        let next = last.clone();
        let mut writes = Vec::new();
        for (key, value) in batch {
            if key == KEYRING_KEY {
                continue;
            }
            match value.first() {
                Some(&LEGACY_FORMAT) => {
                    let Ok(plain) = seal.open_legacy(&value) else {
                        tracing::warn!(key = %key, "a stored value cannot be opened; left as it is");
                        continue;
                    };
                    let sealed = seal.seal(&plain, &Aad::kv(&key)).map_err(err)?;
                    writes.push((key, value, sealed));
                }
                Some(&FORMAT) => known(&value, &key)?,
                _ => {
                    tracing::warn!(key = %key, "a stored value is in no known format; left as it is")
                }
            }
        }
        for (key, done) in put_batch(storage, Place::Kv, writes).await? {
            if !done {
                return Err(err(format!("{key} changed during the migration")));
            }
            report.kv += 1;
        }
        after = next;
    }
    let mut after = String::new();
    loop {
        let batch = storage.lease_internal_scan(&after, BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        let next = last.clone();
        let mut writes = Vec::new();
        for (id, value) in batch {
            match value.first() {
                Some(&LEGACY_FORMAT) => {
                    let Ok(plain) = seal.open_legacy(&value) else {
                        tracing::warn!(lease.id = %id, "a lease's internal data cannot be opened; left as it is");
                        continue;
                    };
                    let sealed = seal.seal(&plain, &Aad::lease(&id)).map_err(err)?;
                    writes.push((id, value, sealed));
                }
                Some(&FORMAT) => known(&value, &format!("lease {id}"))?,
                _ => {
                    tracing::warn!(lease.id = %id, "a lease's internal data is in no known format")
                }
            }
        }
        for (id, done) in put_batch(storage, Place::Lease, writes).await? {
            if !done {
                return Err(err(format!("lease {id} changed during the migration")));
            }
            report.leases += 1;
        }
        after = next;
    }
    if report.kv + report.leases > 0 {
        tracing::info!(
            kv = report.kv,
            leases = report.leases,
            "storage migrated to sealed values bound to their keys"
        );
    }
    Ok(report)
}
