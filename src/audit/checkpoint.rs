//! Checkpoints: entries in the chain that a device signs with its own Ed25519 key, so that an
//! auditor holding only the public key can tell the entries up to a checkpoint are the ones the
//! server wrote. A checkpoint signs its own place (node, seq, time, whether it closes the chain)
//! and `prev`, the hash of the entry before it — which covers every entry before that.
//!
//! Ed25519 comes from `ring`, already compiled for rustls: nothing new is built. The private
//! half (a 32-byte seed) is sealed in storage like the device's HMAC key and never leaves the
//! server; the public half is listed at `sys/audit` as `chain_key`.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

/// How a public key is written: `ed25519:` and its 32 bytes in base64.
const KEY_PREFIX: &str = "ed25519:";
/// Separates checkpoint signatures from anything else the key could be made to sign.
const DOMAIN: &str = "leasehold-audit-checkpoint-v1";

/// A device's signing key.
pub struct ChainKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainKey({})", self.public())
    }
}

impl ChainKey {
    /// A new random seed, to be sealed in storage.
    pub fn generate_seed() -> Zeroizing<Vec<u8>> {
        let mut seed = Zeroizing::new(vec![0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut seed);
        seed
    }

    /// The key whose seed is `seed` (32 bytes).
    pub fn from_seed(seed: &[u8]) -> Result<Self, String> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(|pair| Self { pair })
            .map_err(|_| "the audit chain key is not a 32-byte Ed25519 seed".to_owned())
    }

    /// The public key as auditors are given it (`ed25519:<base64>`).
    pub fn public(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "{KEY_PREFIX}{}",
            b64.encode(self.pair.public_key().as_ref())
        )
    }

    /// The checkpoint entry (without `chain`) that would follow `head`, signed.
    pub fn checkpoint(
        &self,
        head: &super::chain::ChainHead,
        at: DateTime<Utc>,
        closing: bool,
    ) -> Value {
        let time = at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let msg = message(&head.node, head.seq + 1, &head.hash, closing, &time);
        let b64 = base64::engine::general_purpose::STANDARD;
        let signature = b64.encode(self.pair.sign(&msg).as_ref());
        json!({
            "time": time,
            "type": "checkpoint",
            "checkpoint": {"closing": closing, "signature": signature},
        })
    }
}

/// What a checkpoint at `seq` in `node`'s chain, after the entry hashed `prev`, signs.
pub fn message(node: &str, seq: u64, prev: &str, closing: bool, time: &str) -> Vec<u8> {
    format!("{DOMAIN}\n{node}\n{seq}\n{prev}\n{closing}\n{time}").into_bytes()
}

/// A public key as written by [`ChainKey::public`], decoded.
pub fn parse_public(text: &str) -> Result<Vec<u8>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    text.trim()
        .strip_prefix(KEY_PREFIX)
        .and_then(|k| b64.decode(k).ok())
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            format!("not an audit chain key (expected {KEY_PREFIX}<base64 of 32 bytes>)")
        })
}

/// True when `signature` (base64) is `public`'s signature of `msg`.
pub fn signature_holds(public: &[u8], msg: &[u8], signature: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    b64.decode(signature).is_ok_and(|sig| {
        UnparsedPublicKey::new(&ED25519, public)
            .verify(msg, &sig)
            .is_ok()
    })
}

/// When a device writes a checkpoint: after this many entries, or this long after an entry
/// no checkpoint covers yet; and always when the server stops cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Entries between checkpoints (`checkpoint_entries`, default 1000).
    pub entries: u64,
    /// Longest time an entry waits for a checkpoint (`checkpoint_interval`, default 60s).
    pub interval: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            entries: 1000,
            interval: Duration::from_secs(60),
        }
    }
}

impl CheckpointPolicy {
    /// Read from a device's options; errors name the option.
    pub fn from_options(options: &Map<String, Value>) -> Result<Self, String> {
        let mut policy = Self::default();
        if let Some(v) = options.get("checkpoint_entries") {
            let n = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| *n > 0)
                .ok_or("checkpoint_entries must be a positive whole number")?;
            policy.entries = n;
        }
        if let Some(v) = options.get("checkpoint_interval") {
            let d = leasehold_backend::duration::parse_duration_value(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or("checkpoint_interval must be a positive duration (e.g. 60s)")?;
            policy.interval = d;
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::ChainHead;

    #[test]
    fn a_checkpoint_verifies_under_the_public_key_and_nothing_else() {
        let key = ChainKey::from_seed(&ChainKey::generate_seed()).unwrap();
        let other = ChainKey::from_seed(&ChainKey::generate_seed()).unwrap();
        let head = ChainHead {
            seq: 4,
            hash: "cd".repeat(32),
            ..ChainHead::genesis("node-a")
        };
        let at = Utc::now();
        let cp = key.checkpoint(&head, at, true);
        let sig = cp["checkpoint"]["signature"].as_str().unwrap();
        let time = cp["time"].as_str().unwrap();
        let public = parse_public(&key.public()).unwrap();
        assert!(signature_holds(
            &public,
            &message("node-a", 5, &head.hash, true, time),
            sig
        ));
        assert!(!signature_holds(
            &public,
            &message("node-a", 5, &head.hash, false, time),
            sig
        ));
        assert!(!signature_holds(
            &public,
            &message("node-a", 6, &head.hash, true, time),
            sig
        ));
        let other = parse_public(&other.public()).unwrap();
        assert!(!signature_holds(
            &other,
            &message("node-a", 5, &head.hash, true, time),
            sig
        ));
        assert!(!format!("{key:?}").is_empty());
    }

    #[test]
    fn options_set_the_policy_and_bad_values_name_the_option() {
        let opts = |v: Value| v.as_object().unwrap().clone();
        let p = CheckpointPolicy::from_options(&opts(
            json!({"checkpoint_entries": "50", "checkpoint_interval": "2s"}),
        ))
        .unwrap();
        assert_eq!((p.entries, p.interval), (50, Duration::from_secs(2)));
        let e =
            CheckpointPolicy::from_options(&opts(json!({"checkpoint_entries": 0}))).unwrap_err();
        assert!(e.contains("checkpoint_entries"), "{e}");
        let e = CheckpointPolicy::from_options(&opts(json!({"checkpoint_interval": "soon"})))
            .unwrap_err();
        assert!(e.contains("checkpoint_interval"), "{e}");
        assert!(parse_public("ed25519:abc").is_err());
    }
}
