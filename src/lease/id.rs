//! Lease ids keep the request path as a prefix (`database/creds/ro/<24 base62>`), as Vault's do,
//! so revoke-prefix and lookup listing work by path.
//!
//! The 24 characters are the issue time (milliseconds, 8 base62 digits, so that ids sort by it)
//! and 16 random ones (95 bits, from a CSPRNG). Why the time: an index keyed by the id (the
//! lease table's key, on both storages) then takes a new lease at the end of its role's range
//! and a burst of leases issued together in a few neighbouring pages, instead of one random page
//! of each index per lease; a group commit of many issues, or of many destructions of leases
//! issued together, writes those pages once. The id tells no more than the lease's own
//! `issue_time`, and it is no less unguessable.

use chrono::{DateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};

/// Base62 digits in ASCII order, so that the text of equal-length numbers sorts as the numbers.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Digits of the time part: 62^8 ms is about 6,900 years after 1970.
const TIME_DIGITS: usize = 8;
/// Random characters after the time.
const RANDOM_CHARS: usize = 16;

/// A new lease id under `request_path` (no trailing slash), issued at `now`.
pub fn new_lease_id(request_path: &str, now: DateTime<Utc>) -> String {
    let mut suffix = time_digits(now.timestamp_millis());
    // ThreadRng is a CSPRNG seeded (and reseeded) from the OS: as unguessable as OsRng, without
    // one getrandom syscall per character.
    Alphanumeric.append_string(&mut rand::thread_rng(), &mut suffix, RANDOM_CHARS);
    format!("{}/{suffix}", request_path.trim_end_matches('/'))
}

/// `ms` as [`TIME_DIGITS`] base62 digits, most significant first (0 before 1970).
fn time_digits(ms: i64) -> String {
    let mut n = u64::try_from(ms).unwrap_or(0);
    let mut digits = [b'0'; TIME_DIGITS];
    for d in digits.iter_mut().rev() {
        let digit = usize::try_from(n % 62).ok().and_then(|i| BASE62.get(i));
        *d = digit.copied().unwrap_or(b'0');
        n /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// A new node id: `node-` and 12 base62 characters, random per process start.
pub fn new_node_id() -> String {
    format!(
        "node-{}",
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, 12)
    )
}

/// Normalise a prefix given by a client: hvac strips trailing slashes, so `database/creds/ro`
/// means the folder. A full lease id stays as it is (it is its own prefix).
pub fn normalize_prefix(prefix: &str) -> String {
    prefix.trim_start_matches('/').to_owned()
}

/// The key one level below `prefix` for listing (`ro/` for a folder, the suffix for a lease).
pub fn child_key(prefix: &str, id: &str) -> Option<String> {
    let rest = id.strip_prefix(prefix)?;
    Some(match rest.find('/') {
        Some(i) => rest.get(..=i)?.to_owned(),
        None => rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_children() {
        let id = new_lease_id("database/creds/ro/", Utc::now());
        assert!(id.starts_with("database/creds/ro/"));
        assert_eq!(id.len(), "database/creds/ro/".len() + 24);
        assert_eq!(child_key("database/", &id).unwrap(), "creds/");
        assert_eq!(
            child_key("database/creds/ro/", "database/creds/ro/abc").unwrap(),
            "abc"
        );
        assert!(child_key("aws/", &id).is_none());
    }

    #[test]
    fn ids_sort_by_issue_time_and_differ_within_a_millisecond() {
        let t = |ms| DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
        // Across digit carries (61 → 62, 3843 → 3844) and today's values, text order is time order.
        let times = [
            0,
            1,
            61,
            62,
            3_843,
            3_844,
            1_796_620_586_000,
            1_796_620_586_001,
        ];
        let ids: Vec<String> = times
            .iter()
            .map(|&ms| new_lease_id("db/creds/r", t(ms)))
            .collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} sorts after {}", pair[0], pair[1]);
        }
        assert_eq!(time_digits(0), "00000000");
        assert_eq!(time_digits(62), "00000010");
        // Before 1970 clamps to zero rather than wrapping.
        assert_eq!(time_digits(-5), "00000000");
        let now = Utc::now();
        let (a, b) = (
            new_lease_id("db/creds/r", now),
            new_lease_id("db/creds/r", now),
        );
        assert_ne!(a, b);
        assert_eq!(a.get(..19), b.get(..19), "same millisecond, same time part");
        let suffix = a.rsplit('/').next().unwrap();
        assert_eq!(suffix.len(), TIME_DIGITS + RANDOM_CHARS);
        assert!(suffix.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
