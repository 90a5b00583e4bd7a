//! `audit verify`: check audit files offline against a device's public key, and say what was
//! found — the first broken link with its file, line and entry; the chains and how each ends;
//! what no checkpoint vouches for. Needs no server and no token.
//!
//! Exit codes: 0 every entry is linked and vouched for by a signed checkpoint and every chain
//! ends with a closing one; 3 a broken link (tampering, or files out of order); 4 the links hold
//! but some entries or a chain's end are not vouched for (a live file, a crash, or a cut tail);
//! 1 a local error (unreadable file, bad key).

use std::io::BufRead;
use std::path::PathBuf;

use crate::audit::verify::{Location, Report, Verifier};
use crate::cli::error::CliError;

/// `audit verify (--key KEY | --key-file FILE) FILE...`.
#[derive(Debug, clap::Args)]
pub struct Verify {
    /// The device's public key (`ed25519:...`, from `leasehold audit key PATH`).
    #[arg(
        long,
        conflicts_with = "key_file",
        required_unless_present = "key_file"
    )]
    pub key: Option<String>,
    /// A file holding the device's public key.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// The audit files, oldest first (a rotated set in the order it was written).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

impl Verify {
    /// Run (locally).
    pub fn run(self) -> Result<(), CliError> {
        let key = match (&self.key, &self.key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| CliError::local(format!("cannot read {}: {e}", f.display())))?,
            (None, None) => return Err(CliError::local("give --key or --key-file")),
        };
        let names = self.files.iter().map(|f| f.display().to_string()).collect();
        let mut verifier = Verifier::new(&key, names).map_err(CliError::local)?;
        'files: for (file, path) in self.files.iter().enumerate() {
            let open = std::fs::File::open(path)
                .map_err(|e| CliError::local(format!("cannot read {}: {e}", path.display())))?;
            let mut reader = std::io::BufReader::new(open);
            let mut buf = Vec::new();
            for line in 1.. {
                buf.clear();
                let read = reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| CliError::local(format!("cannot read {}: {e}", path.display())))?;
                if read == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf);
                if !verifier.line(Location { file, line }, text.trim_end_matches('\n')) {
                    break 'files;
                }
            }
        }
        let report = verifier.finish();
        print_report(&report);
        verdict(&report)
    }
}

fn print_report(r: &Report) {
    println!("Read {} entries from {} file(s).", r.entries, r.files.len());
    for c in &r.chains {
        println!(
            "Chain of {}: {} to {}, seq {} to {}, {} checkpoint(s), {}",
            c.node,
            r.place(c.first),
            r.place(c.last),
            c.first_seq,
            c.last_seq,
            c.checkpoints,
            c.end
        );
    }
    for n in &r.notes {
        println!("Note: {n}");
    }
    if let Some(b) = &r.broken {
        println!("BROKEN at {}: {}", r.place(b.at), b.what);
        println!("  entry: {}", b.entry);
        return;
    }
    for u in &r.unsealed {
        if u.entries == 0 {
            println!("NOT SEALED: {}: {}", u.node, u.why);
        } else {
            println!(
                "NOT SEALED: {}: {} entr{} at {} to {}: {}",
                u.node,
                u.entries,
                if u.entries == 1 { "y" } else { "ies" },
                r.place(u.from),
                r.place(u.to),
                u.why
            );
        }
    }
    if r.unsealed.is_empty() {
        println!("Verified: every entry is linked and covered by a signed checkpoint.");
    }
}

fn verdict(r: &Report) -> Result<(), CliError> {
    if r.broken.is_some() {
        Err(CliError::Verdict(3))
    } else if !r.unsealed.is_empty() {
        Err(CliError::Verdict(4))
    } else {
        Ok(())
    }
}
