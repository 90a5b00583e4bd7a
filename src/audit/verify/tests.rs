//! The verifier on chains made by the writer's own linking code: restarts, crashes between
//! writing and recording the head, and several nodes in one file — the cases a test server
//! cannot easily be made to produce. Tampering with a real server's file is in tests/cli/audit_chain.rs.

use serde_json::json;

use super::*;
use crate::audit::chain::ChainHead;
use crate::audit::chained::{Chained, Item};
use crate::audit::checkpoint::{ChainKey, CheckpointPolicy};

struct Node {
    chained: Chained,
    follow: tokio::sync::watch::Receiver<ChainHead>,
}

fn node(seed: &[u8], head: ChainHead) -> Node {
    let key = ChainKey::from_seed(seed).unwrap();
    let (chained, follow) = Chained::new(head, key, CheckpointPolicy::default());
    Node { chained, follow }
}

impl Node {
    fn write(&mut self, out: &mut Vec<String>, item: Item) {
        let p = self.chained.prepare(item).unwrap();
        out.push(
            String::from_utf8(p.line.clone())
                .unwrap()
                .trim_end()
                .to_owned(),
        );
        self.chained.written(p);
    }
    fn entries(&mut self, out: &mut Vec<String>, n: usize) {
        for i in 0..n {
            self.write(out, Item::Entry(json!({"type": "request", "n": i})));
        }
    }
    fn checkpoint(&mut self, out: &mut Vec<String>, closing: bool) {
        self.write(out, Item::Checkpoint { closing });
    }
    fn head(&self) -> ChainHead {
        self.follow.borrow().clone()
    }
}

/// An empty file and node-a starting a new chain on it.
fn fresh(seed: &[u8]) -> (Vec<String>, Node) {
    (Vec::new(), node(seed, ChainHead::genesis("node-a")))
}

fn verify(seed: &[u8], lines: &[String]) -> Report {
    let key = ChainKey::from_seed(seed).unwrap().public();
    let mut v = Verifier::new(&key, vec!["audit.log".into()]).unwrap();
    for (i, l) in lines.iter().enumerate() {
        if !v.line(
            Location {
                file: 0,
                line: i + 1,
            },
            l,
        ) {
            break;
        }
    }
    v.finish()
}

#[test]
fn a_restart_continues_the_chain_and_verifies_whole() {
    let seed = ChainKey::generate_seed();
    let (mut out, mut a) = fresh(&seed);
    a.entries(&mut out, 3);
    a.checkpoint(&mut out, true);
    let mut b = node(&seed, ChainHead::after("node-b", &a.head()));
    b.entries(&mut out, 2);
    b.checkpoint(&mut out, true);
    let r = verify(&seed, &out);
    assert!(r.broken.is_none() && r.unsealed.is_empty(), "{r:?}");
    assert_eq!(r.chains.len(), 2);
    assert_eq!(
        r.chains[0].end,
        ChainEnd::Continued {
            by: "node-b".into(),
            at_seq: 4
        }
    );
    assert_eq!(
        (r.chains[1].first_seq, r.chains[1].end.clone()),
        (5, ChainEnd::Closed)
    );
}

#[test]
fn lines_written_after_the_recorded_head_before_a_crash_are_reported_unsealed_not_broken() {
    let seed = ChainKey::generate_seed();
    let (mut out, mut a) = fresh(&seed);
    a.entries(&mut out, 2);
    a.checkpoint(&mut out, false);
    let recorded = a.head();
    a.entries(&mut out, 2); // lines 4 and 5: written, head not recorded, then the crash
    let mut b = node(&seed, ChainHead::after("node-b", &recorded));
    b.entries(&mut out, 1);
    b.checkpoint(&mut out, true);
    let r = verify(&seed, &out);
    assert!(r.broken.is_none(), "{r:?}");
    assert_eq!(r.unsealed.len(), 1, "{r:?}");
    let u = &r.unsealed[0];
    assert_eq!(
        (u.node.as_str(), u.from.line, u.to.line, u.entries),
        ("node-a", 4, 5, 2)
    );
    assert!(u.why.contains("crash"), "{}", u.why);
}

#[test]
fn a_tail_cut_before_a_restart_breaks_the_link_where_the_next_run_begins() {
    let seed = ChainKey::generate_seed();
    let (mut out, mut a) = fresh(&seed);
    a.entries(&mut out, 2);
    a.checkpoint(&mut out, false);
    a.entries(&mut out, 2);
    a.checkpoint(&mut out, true);
    let mut b = node(&seed, ChainHead::after("node-b", &a.head()));
    b.entries(&mut out, 2);
    b.checkpoint(&mut out, true);
    // Lines 4-6 (node-a's last entries and its closing checkpoint) removed.
    let cut: Vec<String> = out
        .iter()
        .enumerate()
        .filter(|(i, _)| !(3..6).contains(i))
        .map(|(_, l)| l.clone())
        .collect();
    let r = verify(&seed, &cut);
    let broken = r.broken.expect("the cut tail was not noticed");
    assert_eq!(broken.at.line, 4, "{}", broken.what);
    assert!(broken.what.contains("node-a"), "{}", broken.what);
}

#[test]
fn two_nodes_interleaved_in_one_file_verify_each_on_its_own_and_a_swap_within_one_breaks() {
    let seed = ChainKey::generate_seed();
    let (mut out, mut a) = fresh(&seed);
    let mut b = node(&seed, ChainHead::genesis("node-b"));
    for _ in 0..3 {
        a.entries(&mut out, 1);
        b.entries(&mut out, 1);
    }
    a.checkpoint(&mut out, true);
    b.checkpoint(&mut out, true);
    let r = verify(&seed, &out);
    assert!(r.broken.is_none() && r.unsealed.is_empty(), "{r:?}");
    assert_eq!(r.chains.len(), 2);
    // Lines 3 and 5 are node-a's second and third entries.
    let mut swapped = out.clone();
    swapped.swap(2, 4);
    let broken = verify(&seed, &swapped).broken.expect("swap not noticed");
    assert_eq!(broken.at.line, 3, "{}", broken.what);
    assert!(broken.what.contains("missing"), "{}", broken.what);
}

#[test]
fn a_checkpoint_signed_by_another_key_is_the_broken_link() {
    let seed = ChainKey::generate_seed();
    let mut out = Vec::new();
    let mut a = node(&ChainKey::generate_seed(), ChainHead::genesis("node-a"));
    a.entries(&mut out, 2);
    a.checkpoint(&mut out, true);
    let broken = verify(&seed, &out)
        .broken
        .expect("foreign signature accepted");
    assert_eq!(broken.at.line, 3);
    assert!(broken.what.contains("signature"), "{}", broken.what);
    assert!(
        broken.entry.starts_with("checkpoint node-a seq 3"),
        "{}",
        broken.entry
    );
}

#[test]
fn a_file_that_begins_mid_chain_is_noted_and_its_end_still_checked() {
    let seed = ChainKey::generate_seed();
    let (mut out, mut a) = fresh(&seed);
    a.entries(&mut out, 3);
    a.checkpoint(&mut out, false);
    let r = verify(&seed, &out[2..]);
    assert!(r.broken.is_none(), "{r:?}");
    assert_eq!(r.notes.len(), 1, "{r:?}");
    assert_eq!(r.chains[0].first_seq, 3);
    assert_eq!(
        r.unsealed.len(),
        1,
        "an end without a closing checkpoint is open: {r:?}"
    );
    assert_eq!(r.unsealed[0].entries, 0);
}
