//! Lease ids keep the request path as a prefix (`database/creds/ro/<24 base62>`), as Vault's do,
//! so revoke-prefix and lookup listing work by path.

use rand::distributions::{Alphanumeric, DistString};

/// A new lease id under `request_path` (no trailing slash).
pub fn new_lease_id(request_path: &str) -> String {
    // ThreadRng is a CSPRNG seeded (and reseeded) from the OS: as unguessable as OsRng, without
    // one getrandom syscall per character (24 of the ~26 an issue made).
    let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 24);
    format!("{}/{suffix}", request_path.trim_end_matches('/'))
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
        let id = new_lease_id("database/creds/ro/");
        assert!(id.starts_with("database/creds/ro/"));
        assert_eq!(id.len(), "database/creds/ro/".len() + 24);
        assert_eq!(child_key("database/", &id).unwrap(), "creds/");
        assert_eq!(
            child_key("database/creds/ro/", "database/creds/ro/abc").unwrap(),
            "abc"
        );
        assert!(child_key("aws/", &id).is_none());
    }
}
