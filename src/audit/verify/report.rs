//! What the verifier found: the first broken link, each node's chain and how it ends, what no
//! checkpoint vouches for, and notes; places are file and line.

use std::fmt;

/// A line in the files given: which file (by position) and which line (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Index into [`Report::files`].
    pub file: usize,
    /// Line number, from 1.
    pub line: usize,
}

/// The first broken link.
#[derive(Debug, Clone)]
pub struct Broken {
    /// The line where the chain breaks.
    pub at: Location,
    /// What is wrong.
    pub what: String,
    /// The entry there, shortly.
    pub entry: String,
}

/// Entries (or a chain's end) that no signed checkpoint vouches for.
#[derive(Debug, Clone)]
pub struct Unsealed {
    /// Whose chain.
    pub node: String,
    /// The first and last line concerned, and how many entries (0: only the end is open).
    pub from: Location,
    /// The last line concerned.
    pub to: Location,
    /// Entries after the last checkpoint that covers them.
    pub entries: u64,
    /// Why, and what it may mean.
    pub why: String,
}

/// How one node's chain ends in the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEnd {
    /// With a closing checkpoint (a clean stop).
    Closed,
    /// Taken over by another node's chain (a restart) after this seq.
    Continued {
        /// The node that continued it.
        by: String,
        /// The last seq of this chain that the next one links to.
        at_seq: u64,
    },
    /// Neither: still being written, crashed, or cut.
    Open,
}

/// One node's chain as found.
#[derive(Debug, Clone)]
pub struct ChainSummary {
    /// The node.
    pub node: String,
    /// First and last line, first and last seq.
    pub first: Location,
    /// Its last line.
    pub last: Location,
    /// Its first seq (1 unless it continues entries not given).
    pub first_seq: u64,
    /// Its last seq.
    pub last_seq: u64,
    /// Checkpoints in it.
    pub checkpoints: u64,
    /// How it ends.
    pub end: ChainEnd,
}

/// What verification found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The files, in the order given.
    pub files: Vec<String>,
    /// Lines read.
    pub entries: u64,
    /// Each node's chain, in order of first appearance.
    pub chains: Vec<ChainSummary>,
    /// The first broken link, if any (reading stops there).
    pub broken: Option<Broken>,
    /// What no checkpoint vouches for (only computed when nothing is broken).
    pub unsealed: Vec<Unsealed>,
    /// Things worth knowing that prove nothing wrong (a chain beginning in an earlier file).
    pub notes: Vec<String>,
}

impl Report {
    /// `file:line` for a location.
    pub fn place(&self, at: Location) -> String {
        let file = self.files.get(at.file).map_or("?", String::as_str);
        format!("{file}:{}", at.line)
    }
}

impl fmt::Display for ChainEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainEnd::Closed => write!(f, "closed"),
            ChainEnd::Continued { by, at_seq } => write!(f, "continued by {by} after seq {at_seq}"),
            ChainEnd::Open => write!(f, "open"),
        }
    }
}
