//! The tamper-evident audit trail, end to end: a real server writes a file audit device's
//! chain, and `leasehold audit verify` (the built binary, with only the public key printed by
//! `leasehold audit key`) verifies it — and finds each kind of tampering at the line where it
//! is: an edited field, a deleted line, a swapped pair, a tail cut after or before the last
//! checkpoint. The chain continues across a restart and a rotated file; servers on one storage
//! writing one file each keep a chain of their own, and a node started later continues the
//! chain of one that stopped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{SharedStorage, TestApp};
use crate::support::{Cli, Ran};

/// Turn on a file device at `file/` writing `audit.log` in the app's directory, with a
/// checkpoint every `every` entries.
async fn chained_file(app: &TestApp, every: u64) -> PathBuf {
    let log = app.dir.path().join("audit.log");
    let (s, v) = app
        .put(
            "sys/audit/file",
            json!({"type": "file", "options": {
                "file_path": log.to_str().unwrap(), "checkpoint_entries": every.to_string()}}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    log
}

/// Requests that each write a request and a response entry.
async fn traffic(app: &TestApp, n: usize) {
    for _ in 0..n {
        let (s, _) = app.get("sys/mounts").await;
        assert_eq!(s, 200);
    }
}

/// The device's public key, as `leasehold audit key file` prints it.
async fn chain_key(app: &TestApp) -> String {
    let ran = Cli::root(app).run(&["audit", "key", "file"]).await.ok();
    ran.stdout.trim().to_owned()
}

async fn verify(cli: &Cli, key: &str, files: &[&Path]) -> Ran {
    let mut args = vec!["audit", "verify", "--key", key];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    cli.run(&args).await
}

/// Insist that `ran` printed `text`.
fn says(ran: &Ran, text: &str) {
    assert!(
        ran.stdout.contains(text),
        "expected {text:?} in:\n{}",
        ran.stdout
    );
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn entry(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// The 1-based line numbers of the non-closing checkpoints.
fn checkpoints(lines: &[String]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let e = entry(l);
            e["type"] == "checkpoint" && e["checkpoint"]["closing"] == false
        })
        .map(|(i, _)| i + 1)
        .collect()
}

fn assert_broken_at(ran: &Ran, place: &str, what: &str) {
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let line = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("BROKEN at "))
        .unwrap_or_else(|| panic!("no broken link reported: {}", ran.stdout));
    assert!(line.starts_with(&format!("BROKEN at {place}: ")), "{line}");
    assert!(line.contains(what), "{line}");
}

#[tokio::test]
async fn a_real_servers_file_verifies_and_each_kind_of_tampering_is_found_at_its_line() {
    let app = TestApp::spawn().await;
    // A checkpoint setting that cannot work is refused, naming it, and enables nothing.
    for (option, value) in [("checkpoint_entries", "0"), ("checkpoint_interval", "soon")] {
        let (s, v) = app
            .put(
                "sys/audit/bad",
                json!({"type": "file", "options": {"file_path": "/tmp/never", option: value}}),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        assert!(v["errors"][0].as_str().unwrap().contains(option), "{v}");
    }
    let (_, listing) = app.get("sys/audit").await;
    assert!(listing["data"].as_object().unwrap().is_empty(), "{listing}");
    let log = chained_file(&app, 6).await;
    traffic(&app, 10).await;
    let cli = Cli::root(&app);
    let key = chain_key(&app).await;
    assert!(key.starts_with("ed25519:"), "{key}");
    let (_, listing) = app.get("sys/audit").await;
    assert_eq!(listing["file/"]["chain_key"], key.as_str());
    // The directory (and the file) go with the last handle on it.
    let (_dir, _) = app.stop().await;

    let all = lines(&log);
    let node = entry(&all[0])["chain"]["node"].as_str().unwrap().to_owned();
    let last = entry(all.last().unwrap());
    assert_eq!(
        (
            last["type"].as_str(),
            last["checkpoint"]["closing"].as_bool()
        ),
        (Some("checkpoint"), Some(true)),
        "a clean stop closes the chain"
    );
    let cps = checkpoints(&all);
    assert!(cps.len() >= 3, "a checkpoint every 6 entries: {cps:?}");

    let ok = verify(&cli, &key, &[&log]).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    says(&ok, "Verified");
    says(&ok, &format!("Chain of {node}"));

    let work = app_dir_file(&log, "tampered.log");
    let place = |n: usize| format!("{}:{n}", work.display());

    // An edited field: a request's path, in line 9.
    let mut edited = all.clone();
    assert!(edited[8].contains("sys/mounts"), "{}", edited[8]);
    edited[8] = edited[8].replacen("sys/mounts", "sys/policy", 1);
    write_lines(&work, &edited);
    assert_broken_at(&verify(&cli, &key, &[&work]).await, &place(9), "edited");

    // A deleted line: line 9 gone, so what is now line 9 follows line 8 with a gap.
    let mut deleted = all.clone();
    deleted.remove(8);
    write_lines(&work, &deleted);
    assert_broken_at(&verify(&cli, &key, &[&work]).await, &place(9), "missing");

    // A swapped pair: lines 9 and 10.
    let mut swapped = all.clone();
    swapped.swap(8, 9);
    write_lines(&work, &swapped);
    assert_broken_at(&verify(&cli, &key, &[&work]).await, &place(9), "missing");

    // The tail cut right after the last periodic checkpoint: every link holds, but the chain
    // no longer ends with its closing checkpoint, and the report names where it now ends.
    let cut_at = *cps.last().unwrap();
    write_lines(&work, &all[..cut_at]);
    let ran = verify(&cli, &key, &[&work]).await;
    assert_eq!(ran.code, 4, "{}", ran.stdout);
    says(
        &ran,
        &format!("ends at {} without a closing checkpoint", place(cut_at)),
    );

    // Cut two lines before that checkpoint: the entries after the one before it are unsealed.
    let before = cps[cps.len() - 2];
    write_lines(&work, &all[..cut_at - 2]);
    let ran = verify(&cli, &key, &[&work]).await;
    assert_eq!(ran.code, 4, "{}", ran.stdout);
    let expected = format!(
        "NOT SEALED: {node}: {} entries at {} to {}",
        cut_at - 2 - before,
        place(before + 1),
        place(cut_at - 2)
    );
    says(&ran, &expected);

    // Another device's key vouches for nothing: the first checkpoint is the broken link.
    let other = TestApp::spawn().await;
    chained_file(&other, 6).await;
    let other_key = chain_key(&other).await;
    let ran = verify(&cli, &other_key, &[&log]).await;
    assert_broken_at(&ran, &format!("{}:{}", log.display(), cps[0]), "signature");
}

fn app_dir_file(log: &Path, name: &str) -> PathBuf {
    log.parent().unwrap().join(name)
}

#[tokio::test]
async fn the_chain_continues_across_rotation_and_a_restart() {
    let app = TestApp::spawn().await;
    let log = chained_file(&app, 5).await;
    traffic(&app, 4).await;
    let key = chain_key(&app).await;
    // Rotated while running: the device follows the path to a new file.
    let rotated = app_dir_file(&log, "audit.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    traffic(&app, 2).await;
    let first_node = app.core.cluster.node_id().to_owned();
    let (dir, token) = app.stop().await;
    let last_before = lines(&log).last().unwrap().clone();

    let app = TestApp::spawn_in(dir, Some(token)).await;
    traffic(&app, 3).await;
    let second_node = app.core.cluster.node_id().to_owned();
    assert_ne!(first_node, second_node);
    let cli = Cli::root(&app);
    let (_dir, _) = app.stop().await;

    // The restarted server's first entry links to the last line the first one wrote.
    let all = lines(&log);
    let at = all.iter().position(|l| *l == last_before).unwrap();
    let next = entry(&all[at + 1]);
    let before = entry(&last_before);
    assert_eq!(next["chain"]["node"], second_node.as_str());
    assert_eq!(next["chain"]["after"], first_node.as_str());
    assert_eq!(next["chain"]["prev"], before["chain"]["hash"]);
    assert_eq!(
        next["chain"]["seq"].as_u64(),
        before["chain"]["seq"].as_u64().map(|s| s + 1)
    );

    let ran = verify(&cli, &key, &[&rotated, &log]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    says(&ran, &format!("continued by {second_node}"));
    // Out of order, the files do not link.
    let ran = verify(&cli, &key, &[&log, &rotated]).await;
    assert_eq!(ran.code, 3, "{}", ran.stdout);
    // The current file alone verifies, noting that its chain began in an earlier file.
    let ran = verify(&cli, &key, &[&log]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    says(&ran, "Note: ");
}

#[tokio::test]
async fn servers_on_one_storage_write_a_chain_each_into_one_file_and_a_later_node_continues_a_stopped_ones(
) {
    let storage = SharedStorage::new().await;
    let a = storage.spawn(None).await;
    let b = storage.spawn(Some(a.token.clone())).await;
    let log = chained_file(&a, 4).await;
    // b opens the device when the change feed tells it.
    let mut seen = false;
    for _ in 0..100 {
        let (_, v) = b.get("sys/audit").await;
        if v["file/"]["chain_key"].is_string() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the second server never opened the audit device");
    for _ in 0..5 {
        traffic(&a, 1).await;
        traffic(&b, 1).await;
    }
    let key = chain_key(&a).await;
    let cli = Cli::root(&a);
    let (na, nb) = (
        a.core.cluster.node_id().to_owned(),
        b.core.cluster.node_id().to_owned(),
    );
    let (_, token) = a.stop().await;
    // A third node, started while b still writes: it continues a's closed chain, not b's.
    let c = storage.spawn(Some(token)).await;
    traffic(&c, 2).await;
    traffic(&b, 1).await;
    let nc = c.core.cluster.node_id().to_owned();
    c.stop().await;
    b.stop().await;

    let all = lines(&log);
    let nodes: std::collections::BTreeSet<String> = all
        .iter()
        .map(|l| entry(l)["chain"]["node"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(nodes, [&na, &nb, &nc].into_iter().cloned().collect());
    let first_of_c = all
        .iter()
        .map(|l| entry(l))
        .find(|e| e["chain"]["node"] == nc.as_str())
        .unwrap();
    assert_eq!(first_of_c["chain"]["after"], na.as_str());
    let ran = verify(&cli, &key, &[&log]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    for n in [&na, &nb, &nc] {
        says(&ran, &format!("Chain of {n}"));
    }
    says(&ran, &format!("continued by {nc}"));
}
