//! Lease-row integrity: an HMAC-SHA256 tag over the columns that decide what is destroyed and
//! when, so that someone who can write to the storage database (but does not hold the seal key)
//! cannot extend a credential's life or point a destruction at another account unnoticed.
//!
//! Covered: id, mount uuid and path, kind, role, account, issue/expire/max-expire times, the
//! role's TTL, renewable, token accessor, workload, whether the row has ended (`revoked`), when,
//! and `forced`. Not covered, on purpose: the queue's bookkeeping that storage itself changes in
//! SQL without the key (claims move `creating`/`active` to `revoking`, set `due_at` and
//! `claimed_by`; `attempts`, `last_error`, `last_renewal`), the caller's free text (`purpose`,
//! `ticket`), and `internal`, which is sealed and bound to its lease id by the seal itself. An
//! edit of those can make a destruction happen sooner or be retried later, never make it hit
//! another account or move the expiry the renew math and the target's own backstop use.
//!
//! Not detected: replaying an older version of the same row with its then-valid tag (no counter
//! is bound; see the README's storage threat model), and a deleted row (reconciliation finds its
//! account as an orphan).
//!
//! The key is derived from the seal key with HMAC-SHA256 under a fixed label, so it is never the
//! encryption key itself and a tag says nothing about that key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::lease_record::{LeaseRecord, LeaseState};

type HmacSha256 = Hmac<Sha256>;

/// Domain label of the key derivation: a new label is a new, unrelated key.
const KEY_LABEL: &[u8] = b"leasehold lease-row integrity v1";
/// Domain label of the migration-complete marker's tag.
const MARKER_LABEL: &[u8] = b"leasehold lease rows tagged v1";

/// The key lease rows are tagged with. Debug prints nothing of it.
#[derive(Clone)]
pub struct RowMacKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for RowMacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowMacKey(..)")
    }
}

impl RowMacKey {
    /// Derive the row key from the seal key's bytes (HMAC-SHA256(seal key, label)).
    pub fn derive(seal_key: &[u8]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        // HMAC accepts keys of any length: new_from_slice cannot fail for it.
        if let Ok(mut mac) = HmacSha256::new_from_slice(seal_key) {
            mac.update(KEY_LABEL);
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        Self(key)
    }

    fn mac(&self) -> HmacSha256 {
        // A 32-byte key is always accepted; the fallback is unreachable but keeps panics out.
        HmacSha256::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()))
    }

    /// The tag of `lease`'s covered columns.
    pub fn tag(&self, lease: &LeaseRecord) -> Vec<u8> {
        let mut mac = self.mac();
        feed(&mut mac, lease);
        mac.finalize().into_bytes().to_vec()
    }

    /// Set `lease.row_mac` to the tag of its columns as they are now. Called on every write the
    /// engine makes, after the last change to the record.
    pub fn stamp(&self, lease: &mut LeaseRecord) {
        lease.row_mac = Some(self.tag(lease));
    }

    /// True when the row's tag matches its columns (compared in constant time). A row without a
    /// tag does not verify.
    pub fn verify(&self, lease: &LeaseRecord) -> bool {
        let Some(tag) = &lease.row_mac else {
            return false;
        };
        let mut mac = self.mac();
        feed(&mut mac, lease);
        mac.verify_slice(tag).is_ok()
    }

    /// The value of the "every row has been tagged" marker: only a key holder can write it.
    pub fn marker(&self) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(MARKER_LABEL);
        mac.finalize().into_bytes().to_vec()
    }

    /// True when `value` is this key's marker.
    pub fn is_marker(&self, value: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(MARKER_LABEL);
        mac.verify_slice(value).is_ok()
    }
}

/// Each field length-prefixed, so no two different rows feed the same bytes.
fn feed(mac: &mut HmacSha256, l: &LeaseRecord) {
    let mut text = |s: &str| {
        mac.update(&(s.len() as u64).to_be_bytes());
        mac.update(s.as_bytes());
    };
    text(&l.id);
    text(&l.mount_uuid);
    text(&l.mount_path);
    text(&l.kind);
    text(&l.role);
    text(&l.account);
    text(&l.token_accessor);
    text(&l.workload);
    let ended = l.state == LeaseState::Revoked;
    for n in [
        l.issue_time.timestamp_millis(),
        l.expire_time.timestamp_millis(),
        l.max_expire_time.timestamp_millis(),
        l.role_ttl_secs,
        i64::from(l.renewable),
        i64::from(ended),
        l.revoked_time.map_or(-1, |t| t.timestamp_millis()),
        i64::from(l.forced),
    ] {
        mac.update(&n.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Edit = Box<dyn Fn(&mut LeaseRecord)>;

    fn lease() -> LeaseRecord {
        crate::storage::suite::lease("database/creds/ro/abc", chrono::Utc::now())
    }

    #[test]
    fn an_edit_of_any_covered_column_is_detected() {
        let key = RowMacKey::derive(&[7u8; 32]);
        let mut l = lease();
        key.stamp(&mut l);
        assert!(key.verify(&l));
        let edits: Vec<Edit> = vec![
            Box::new(|l| l.account = "postgres".into()),
            Box::new(|l| l.expire_time += chrono::Duration::days(365)),
            Box::new(|l| l.max_expire_time += chrono::Duration::days(365)),
            Box::new(|l| l.mount_uuid = "other".into()),
            Box::new(|l| l.mount_path = "other/".into()),
            Box::new(|l| l.role = "admin".into()),
            Box::new(|l| l.token_accessor = "x".into()),
            Box::new(|l| l.workload = "auth/approle/role/ci".into()),
            Box::new(|l| l.renewable = !l.renewable),
            Box::new(|l| l.state = LeaseState::Revoked),
            Box::new(|l| l.forced = true),
            Box::new(|l| l.id = "database/creds/ro/abd".into()),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut t = l.clone();
            edit(&mut t);
            assert!(!key.verify(&t), "edit {i} not detected");
        }
        // Queue bookkeeping storage changes itself is not covered.
        let mut t = l.clone();
        t.state = LeaseState::Revoking;
        t.due_at = None;
        t.claimed_by = Some("n1".into());
        t.attempts = 3;
        assert!(key.verify(&t));
        // Another key, or no tag at all, does not verify.
        assert!(!RowMacKey::derive(&[8u8; 32]).verify(&l));
        t.row_mac = None;
        assert!(!key.verify(&t));
        assert!(key.is_marker(&key.marker()));
        assert!(!RowMacKey::derive(&[8u8; 32]).is_marker(&key.marker()));
        assert!(!key.is_marker(&[0u8; 32]));
    }
}
