//! CPU time of processes, from `/proc/<pid>/stat` (user + system, all threads), so a window's
//! cost can be divided by the operations done in it.

use std::collections::HashMap;

/// CPU seconds per process id at one instant.
#[derive(Debug, Default, Clone)]
pub struct CpuSnapshot(HashMap<u32, f64>);

impl CpuSnapshot {
    /// Read `pids` now; a process that is gone is left out.
    pub fn take(pids: &[u32]) -> Self {
        let tick = ticks_per_second();
        Self(
            pids.iter()
                .filter_map(|&pid| cpu_ticks(pid).map(|t| (pid, t as f64 / tick)))
                .collect(),
        )
    }

    /// CPU seconds spent from `before` to `self`: a process absent from `before` (started within
    /// the window) counts from zero; one gone by `self` is lost (its last interval unseen).
    pub fn since(&self, before: &CpuSnapshot) -> f64 {
        self.0
            .iter()
            .map(|(pid, now)| (now - before.0.get(pid).copied().unwrap_or(0.0)).max(0.0))
            // Not `sum()`: over no processes it is -0.0, which reports print as "-0".
            .fold(0.0, |total, cpu| total + cpu)
    }
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The parent process id of `pid`.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The fields of `/proc/PID/stat` after the command name: the name (field 2) may hold spaces,
/// the fields after its closing parenthesis are fixed (state is field 3, so index 0 here; ppid
/// index 1, utime 11, stime 12).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// `getconf CLK_TCK`; 100, Linux's usual value, if that cannot be run.
fn ticks_per_second() -> f64 {
    static TICK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
