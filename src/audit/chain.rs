//! The hash chain through a device's entries. Every line a device writes starts with
//! `{"chain":{"hash":H,"node":N,"prev":P,"seq":S},` and goes on with the entry's own fields (keys
//! sorted, as serde_json writes them), so a consumer that ignores unknown fields reads Vault's
//! shape. `H` is the SHA-256 of the line with `"hash":H,` taken out — the exact bytes the server
//! wrote, so the verifier never re-serializes (no float or escaping round-trip to trust).
//! `P` is the previous entry's `H` in this node's chain; `S` counts from 1.
//!
//! Each node (each server process) writes its own chain, named by its node id. A process that
//! continues the chain of an earlier one (a restart) writes `"after":<that node>` in its first
//! entry, with `P` and `S` following on from that chain's last recorded entry.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of a chain's first entry when it continues nothing.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What opens every line; the verifier splits a line here.
const LINE_START: &str = "{\"chain\":{\"hash\":\"";

/// Where a chain stands: the last entry written, or where it starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The node whose chain this is.
    pub node: String,
    /// The last entry's `seq` (0: nothing written yet).
    pub seq: u64,
    /// The last entry's hash ([`GENESIS`] before the first).
    pub hash: String,
    /// The last entry written was a closing checkpoint (a clean stop).
    #[serde(default)]
    pub closed: bool,
    /// The node whose chain this one continues, until this chain's first entry names it.
    #[serde(default)]
    pub after: Option<String>,
}

impl ChainHead {
    /// A chain for `node` that continues nothing.
    pub fn genesis(node: &str) -> Self {
        Self {
            node: node.to_owned(),
            seq: 0,
            hash: GENESIS.to_owned(),
            closed: false,
            after: None,
        }
    }

    /// A chain for `node` that continues `from` (another node's recorded head). A chain that
    /// never wrote a line passes on the name of the one it continued, if any.
    pub fn after(node: &str, from: &ChainHead) -> Self {
        let after = if from.seq == 0 {
            None
        } else {
            Some(from.after.clone().unwrap_or_else(|| from.node.clone()))
        };
        Self {
            node: node.to_owned(),
            seq: from.seq,
            hash: from.hash.clone(),
            closed: false,
            after,
        }
    }

    /// Link `entry` (a JSON object without `chain`) after this head: the line to write and the
    /// head once it is written. `closing`: the entry is a closing checkpoint.
    pub fn link(&self, entry: &Value, closing: bool) -> Result<(String, ChainHead), String> {
        let body = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        let rest = body
            .strip_prefix('{')
            .filter(|_| entry.is_object())
            .ok_or("an audit entry must be a JSON object")?;
        let seq = self.seq + 1;
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut fields = format!(
            "\"node\":{},\"prev\":{},\"seq\":{seq}",
            q(&self.node),
            q(&self.hash)
        );
        if let Some(after) = &self.after {
            fields = format!("\"after\":{},{fields}", q(after));
        }
        let sep = if rest == "}" { "" } else { "," };
        let hashed = format!("{{\"chain\":{{{fields}}}{sep}{rest}");
        let hash = hex::encode(Sha256::digest(hashed.as_bytes()));
        let line = format!("{LINE_START}{hash}\",{fields}}}{sep}{rest}");
        let next = ChainHead {
            node: self.node.clone(),
            seq,
            hash,
            closed: closing,
            after: None,
        };
        Ok((line, next))
    }
}

/// A written line taken apart: the hash it claims and the hash of its bytes without that claim.
/// `None` when the line does not open with a chain hash where the server puts it.
pub fn split_line(line: &str) -> Option<(&str, String)> {
    let rest = line.strip_prefix(LINE_START)?;
    let claimed = rest.get(..64)?;
    let after = rest.get(64..)?.strip_prefix("\",")?;
    let hashed = format!("{{\"chain\":{{{after}");
    Some((claimed, hex::encode(Sha256::digest(hashed.as_bytes()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_line_carries_the_hash_of_its_own_bytes_and_links_to_the_last() {
        let head = ChainHead::genesis("node-a");
        let (one, head1) = head
            .link(&json!({"type": "request", "time": "t"}), false)
            .unwrap();
        assert!(one.starts_with("{\"chain\":{\"hash\":\""), "{one}");
        let v: Value = serde_json::from_str(&one).unwrap();
        assert_eq!(v["chain"]["seq"], 1);
        assert_eq!(v["chain"]["prev"], GENESIS);
        assert_eq!(v["chain"]["node"], "node-a");
        assert_eq!(v["type"], "request");
        let (claimed, actual) = split_line(&one).unwrap();
        assert_eq!(claimed, actual);
        assert_eq!(head1.hash, actual);

        let (two, head2) = head1.link(&json!({}), true).unwrap();
        let v: Value = serde_json::from_str(&two).unwrap();
        assert_eq!(
            (v["chain"]["seq"].as_u64(), v["chain"]["prev"].as_str()),
            (Some(2), Some(head1.hash.as_str()))
        );
        assert!(head2.closed);

        // One byte changed anywhere after the hash, and the hash no longer matches.
        let edited = one.replace("\"request\"", "\"requesT\"");
        let (claimed, actual) = split_line(&edited).unwrap();
        assert_ne!(claimed, actual);
    }

    #[test]
    fn a_continued_chain_names_its_predecessor_in_its_first_entry_only() {
        let before = ChainHead {
            seq: 7,
            hash: "ab".repeat(32),
            ..ChainHead::genesis("node-a")
        };
        let head = ChainHead::after("node-b", &before);
        let (line, next) = head.link(&json!({"x": 1}), false).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["chain"]["after"], "node-a");
        assert_eq!(v["chain"]["seq"], 8);
        assert_eq!(v["chain"]["prev"], before.hash);
        let (claimed, actual) = split_line(&line).unwrap();
        assert_eq!(claimed, actual);
        let (line, _) = next.link(&json!({"x": 2}), false).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert!(v["chain"].get("after").is_none());
    }

    #[test]
    fn a_line_without_a_chain_at_its_start_is_not_split() {
        assert!(split_line("{\"type\":\"request\"}").is_none());
        assert!(split_line("{\"chain\":{\"hash\":\"short\",").is_none());
    }
}
