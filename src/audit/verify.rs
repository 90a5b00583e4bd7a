//! The offline verifier behind `leasehold audit verify`: it reads a device's lines in the order
//! given (rotated files oldest first) with nothing but the device's public key, and finds the
//! first broken link — a line whose bytes do not match its hash, a checkpoint the key did not
//! sign, a missing, repeated or reordered entry in a node's chain, a chain that continues from
//! entries that are not there. Each node's chain is followed on its own, so chains of several
//! nodes interleaved in one file verify as they are.
//!
//! Intact links are not the whole answer: entries after a chain's last checkpoint are linked but
//! signed by nothing, and a chain that does not end with a closing checkpoint may have had its
//! tail cut. Those are reported as [`Unsealed`], separately from a broken link.
//!
//! Memory: one index entry per line (its hash, node and seq), about 60 bytes; a file of a
//! million entries needs some 60 MB.

mod report;

use std::collections::HashMap;

use serde_json::Value;

pub use report::{Broken, ChainEnd, ChainSummary, Location, Report, Unsealed};

use super::chain::{split_line, GENESIS};
use super::checkpoint::{message, parse_public, signature_holds};

/// One node's chain while reading.
struct Track {
    node: String,
    first_seq: u64,
    last_seq: u64,
    last_hash: String,
    /// Location of each entry, by `seq - first_seq`.
    lines: Vec<Location>,
    checkpoints: u64,
    last_checkpoint: Option<u64>,
    closed: bool,
    continued: Option<(String, u64)>,
}

impl Track {
    fn at(&self, seq: u64) -> Option<Location> {
        let i = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.lines.get(i).copied()
    }
}

/// Reads lines one at a time; [`Verifier::finish`] gives the report.
pub struct Verifier {
    key: Vec<u8>,
    report: Report,
    tracks: Vec<Track>,
    by_node: HashMap<String, usize>,
    by_hash: HashMap<[u8; 32], (usize, u64)>,
}

/// The fields of a chained line that linking needs.
struct Link {
    node: String,
    seq: u64,
    prev: String,
    after: Option<String>,
    hash: String,
}

impl Verifier {
    /// A verifier for lines of the device whose public key is `public_key` (`ed25519:...`).
    pub fn new(public_key: &str, files: Vec<String>) -> Result<Self, String> {
        Ok(Self {
            key: parse_public(public_key)?,
            report: Report {
                files,
                ..Report::default()
            },
            tracks: Vec::new(),
            by_node: HashMap::new(),
            by_hash: HashMap::new(),
        })
    }

    /// Check one line. False once a link is broken: nothing after it is read.
    pub fn line(&mut self, at: Location, text: &str) -> bool {
        if self.report.broken.is_some() {
            return false;
        }
        self.report.entries += 1;
        if let Err(what) = self.check(at, text) {
            self.report.broken = Some(Broken {
                at,
                what,
                entry: summary(text),
            });
            return false;
        }
        true
    }

    fn check(&mut self, at: Location, text: &str) -> Result<(), String> {
        let (claimed, actual) = split_line(text).ok_or_else(|| {
            "not a chained audit entry (no chain hash at the start of the line): added, \
             damaged, or written before chains"
                .to_owned()
        })?;
        if claimed != actual {
            return Err("the entry does not match its hash: edited".into());
        }
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let link = parse_link(&v, actual)?;
        let checkpoint = v.pointer("/type").and_then(Value::as_str) == Some("checkpoint");
        let closing = checkpoint && v.pointer("/checkpoint/closing") == Some(&Value::Bool(true));
        if checkpoint {
            self.check_signature(&v, &link, closing)?;
        }
        let index = self.attach(at, &link)?;
        let track = self.tracks.get_mut(index).ok_or("internal: lost a chain")?;
        track.last_seq = link.seq;
        track.last_hash = link.hash.clone();
        track.lines.push(at);
        track.closed = closing;
        if checkpoint {
            track.checkpoints += 1;
            track.last_checkpoint = Some(link.seq);
        }
        if let Some(h) = decode(&link.hash) {
            self.by_hash.insert(h, (index, link.seq));
        }
        Ok(())
    }

    fn check_signature(&self, v: &Value, link: &Link, closing: bool) -> Result<(), String> {
        let text = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let (time, signature) = (text("/time"), text("/checkpoint/signature"));
        let msg = message(&link.node, link.seq, &link.prev, closing, time);
        if signature_holds(&self.key, &msg, signature) {
            Ok(())
        } else {
            Err(
                "the checkpoint's signature does not verify under the given key: forged, \
                 or another device's key"
                    .into(),
            )
        }
    }

    /// Link `link` to its chain, returning that chain's index (a new one for a new node).
    fn attach(&mut self, at: Location, link: &Link) -> Result<usize, String> {
        if let Some(&i) = self.by_node.get(&link.node) {
            let t = self.tracks.get(i).ok_or("internal: lost a chain")?;
            let last = self.report.place(t.at(t.last_seq).unwrap_or(at));
            if link.seq == t.last_seq + 1 && link.prev == t.last_hash {
                return Ok(i);
            }
            return Err(if link.seq <= t.last_seq {
                format!(
                    "out of order: seq {} of {} comes after seq {} ({last})",
                    link.seq, link.node, t.last_seq
                )
            } else if link.seq > t.last_seq + 1 {
                format!(
                    "{} entr{} of {} missing between seq {} ({last}) and seq {}: deleted or \
                     moved",
                    link.seq - t.last_seq - 1,
                    if link.seq - t.last_seq == 2 {
                        "y"
                    } else {
                        "ies"
                    },
                    link.node,
                    t.last_seq,
                    link.seq
                )
            } else {
                format!(
                    "does not link to the entry before it in {}'s chain ({last}): one of \
                     them was replaced",
                    link.node
                )
            });
        }
        let first_seq = link.seq;
        if link.prev == GENESIS {
            if link.seq != 1 {
                return Err(format!("a chain's first entry has seq {}, not 1", link.seq));
            }
        } else if let Some(&(p, p_seq)) = decode(&link.prev).and_then(|h| self.by_hash.get(&h)) {
            self.continue_chain(p, p_seq, link)?;
        } else if let Some(after) = link
            .after
            .as_ref()
            .filter(|a| self.by_node.contains_key(*a))
        {
            return Err(format!(
                "continues {after}'s chain at seq {}, but that entry is not in the files: \
                 {after}'s entries after its last one here were removed (or the files are \
                 not in order)",
                link.seq - 1
            ));
        } else {
            self.report.notes.push(format!(
                "{}'s chain begins at {} with seq {}: it continues entries that are not in \
                 the files given (an earlier, rotated file)",
                link.node,
                self.report.place(at),
                link.seq
            ));
        }
        self.tracks.push(Track {
            node: link.node.clone(),
            first_seq,
            last_seq: first_seq - 1,
            last_hash: link.prev.clone(),
            lines: Vec::new(),
            checkpoints: 0,
            last_checkpoint: None,
            closed: false,
            continued: None,
        });
        let index = self.tracks.len() - 1;
        self.by_node.insert(link.node.clone(), index);
        Ok(index)
    }

    /// `link` starts a new node's chain after entry `p_seq` of chain `p` (a restart).
    fn continue_chain(&mut self, p: usize, p_seq: u64, link: &Link) -> Result<(), String> {
        let t = self.tracks.get_mut(p).ok_or("internal: lost a chain")?;
        if link.seq != p_seq + 1 {
            return Err(format!(
                "continues seq {p_seq} of {}'s chain but has seq {}",
                t.node, link.seq
            ));
        }
        if let Some((by, _)) = &t.continued {
            return Err(format!(
                "{}'s chain was already continued by {by}: two chains cannot \
                 continue one",
                t.node
            ));
        }
        t.continued = Some((link.node.clone(), p_seq));
        Ok(())
    }

    /// The report: the chains found and, when nothing is broken, what is not sealed.
    pub fn finish(mut self) -> Report {
        // Through which seq each chain is vouched for by a checkpoint, its own or one later on
        // the chain that continued it (a successor always appears after its predecessor).
        let mut sealed: Vec<u64> = vec![0; self.tracks.len()];
        for i in (0..self.tracks.len()).rev() {
            let Some(t) = self.tracks.get(i) else {
                continue;
            };
            let own = t.last_checkpoint.unwrap_or(0);
            let via = t.continued.as_ref().and_then(|(by, at)| {
                let s = *self.by_node.get(by)?;
                let successor = self.tracks.get(s)?;
                (*sealed.get(s)? >= successor.first_seq).then_some(*at)
            });
            if let Some(slot) = sealed.get_mut(i) {
                *slot = own.max(via.unwrap_or(0));
            }
        }
        for (t, sealed_through) in self.tracks.iter().zip(sealed) {
            let end = match (&t.continued, t.closed) {
                (Some((by, at_seq)), _) => ChainEnd::Continued {
                    by: by.clone(),
                    at_seq: *at_seq,
                },
                (None, true) => ChainEnd::Closed,
                (None, false) => ChainEnd::Open,
            };
            let (Some(first), Some(last)) = (t.at(t.first_seq), t.at(t.last_seq)) else {
                continue;
            };
            if self.report.broken.is_none() {
                if let Some(u) = unsealed(t, &end, sealed_through, &self.report) {
                    self.report.unsealed.push(u);
                }
            }
            self.report.chains.push(ChainSummary {
                node: t.node.clone(),
                first,
                last,
                first_seq: t.first_seq,
                last_seq: t.last_seq,
                checkpoints: t.checkpoints,
                end,
            });
        }
        self.report
    }
}

/// What of chain `t` no checkpoint vouches for, and why.
fn unsealed(t: &Track, end: &ChainEnd, sealed_through: u64, report: &Report) -> Option<Unsealed> {
    let from_seq = sealed_through.max(t.first_seq - 1) + 1;
    let entries = t.last_seq.saturating_sub(from_seq - 1);
    let last = t.at(t.last_seq)?;
    let why = match end {
        ChainEnd::Closed if entries == 0 => return None,
        ChainEnd::Continued { at_seq, .. } if entries == 0 || *at_seq >= t.last_seq => {
            if entries == 0 {
                return None;
            }
            "no checkpoint after them, on this chain or the one that continued it".to_owned()
        }
        ChainEnd::Continued { by, at_seq } => format!(
            "written after seq {at_seq}, the head recorded before this run stopped (a crash); \
             {by}'s chain continues from seq {at_seq}, and no checkpoint covers them"
        ),
        ChainEnd::Closed => "after the last checkpoint".into(),
        ChainEnd::Open => format!(
            "the chain ends at {} without a closing checkpoint: the server is still writing, \
             stopped without closing (a crash), or the entries after that line were cut",
            report.place(last)
        ),
    };
    Some(Unsealed {
        node: t.node.clone(),
        from: t.at(from_seq).unwrap_or(last),
        to: last,
        entries,
        why,
    })
}

fn parse_link(v: &Value, hash: String) -> Result<Link, String> {
    let field = |k: &str| v.pointer(&format!("/chain/{k}"));
    let text = |k: &str| field(k).and_then(Value::as_str).map(str::to_owned);
    let node = text("node").ok_or("the chain names no node")?;
    let seq = field("seq")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .ok_or("the chain has no seq")?;
    let prev = text("prev")
        .filter(|p| decode(p).is_some())
        .ok_or("the chain has no prev hash")?;
    Ok(Link {
        node,
        seq,
        prev,
        after: text("after"),
        hash,
    })
}

fn decode(hash: &str) -> Option<[u8; 32]> {
    hex::decode(hash).ok()?.try_into().ok()
}

/// An entry in a few words, for the report: its type, time and what it was about.
fn summary(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        let head: String = text.chars().take(120).collect();
        return format!("(not JSON) {head}");
    };
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
    let about = [
        s("/request/operation"),
        s("/request/path"),
        s("/event"),
        s("/lease/lease_id"),
    ]
    .into_iter()
    .filter(|x| !x.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let seq = v
        .pointer("/chain/seq")
        .map(Value::to_string)
        .unwrap_or_default();
    format!(
        "{} {} seq {seq} {} {about}",
        s("/type"),
        s("/chain/node"),
        s("/time")
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ")
}

#[cfg(test)]
mod tests;
