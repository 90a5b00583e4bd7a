//! `--split-cores`: the target cluster on the first CPU, the harness and every server it starts
//! on the others. On one machine this stands in for a target on a machine of its own: the
//! server's CPU no longer takes the target's, so a ratio shows what the target's own extra work
//! allows (BENCHMARKS.md, "ninth round"). Affinity is set with util-linux's `taskset`.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cpu::parent_of;
use crate::target::Target;

/// Pin the target's processes (its postmaster, so that backends it forks later follow, and the
/// backends already running) to CPU 0, and this process's threads to the rest. Children
/// started afterwards (the servers) inherit this process's CPUs.
pub async fn split(target: &Target) -> Result<String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        bail!("--split-cores needs at least two CPUs; this machine has {cores}");
    }
    let mut pids = target.process_ids(None).await?;
    let backend = pids
        .first()
        .copied()
        .context("the target lists no process")?;
    pids.push(parent_of(backend).context("cannot find the target's postmaster")?);
    for pid in &pids {
        pin(*pid, "0")?;
    }
    let rest = format!("1-{}", cores - 1);
    pin(std::process::id(), &rest)?;
    Ok(format!(
        "target on CPU 0, harness and servers on CPUs {rest}"
    ))
}

/// `taskset -a -p -c CPUS PID`: every thread of `pid`.
fn pin(pid: u32, cpus: &str) -> Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run taskset (util-linux)")?;
    if !status.success() {
        bail!("taskset could not pin process {pid} to CPUs {cpus}");
    }
    Ok(())
}
