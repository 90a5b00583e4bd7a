//! Secret values in audit entries are replaced by `hmac-sha256:<hex>` under the device's own key:
//! an operator holding a value can check whether it appears (`sys/audit-hash`), but the log
//! itself gives nothing away.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// HMAC-SHA256 of `input` under `key`, in the form written to the log.
pub fn hash(key: &[u8], input: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(input.as_bytes());
            format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
        }
        // HMAC takes keys of any length; this arm cannot be reached, and never leaks the input.
        Err(_) => "hmac-sha256:unavailable".to_owned(),
    }
}

/// Replace every string inside `value` (recursively) by its hash, except the object keys in
/// `keep` (plain fields such as `lease_id` that make entries joinable).
pub fn hash_strings(key: &[u8], value: &mut Value, keep: &[&str]) {
    match value {
        Value::String(s) => *s = hash(key, s),
        Value::Array(items) => items.iter_mut().for_each(|v| hash_strings(key, v, keep)),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if !keep.contains(&k.as_str()) {
                    hash_strings(key, v, keep);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_strings_but_kept_keys() {
        let mut v = json!({"password": "hunter2", "nested": ["a", 1], "lease_id": "db/creds/x/1"});
        hash_strings(b"k", &mut v, &["lease_id"]);
        assert!(v["password"].as_str().unwrap().starts_with("hmac-sha256:"));
        assert_ne!(v["password"], "hunter2");
        assert_eq!(v["nested"][1], 1);
        assert_eq!(v["lease_id"], "db/creds/x/1");
        assert_eq!(hash(b"k", "hunter2"), v["password"].as_str().unwrap());
    }
}
