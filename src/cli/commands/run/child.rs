//! The command `run` starts: its environment, the signals passed on to it, and what happens
//! when a credential's end is fixed (a warning, and with `-on-max-ttl=kill` SIGTERM, then
//! SIGKILL after the grace period, both before the credential dies).

use std::future::Future;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};
use secrecy::{ExposeSecret, SecretString};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::renew::Ending;
use crate::cli::error::CliError;

/// What to do when a credential will die before the command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnMaxTtl {
    /// Say so on stderr, and let the command run on.
    #[default]
    Warn,
    /// Say so, then SIGTERM the command (SIGKILL after the grace period) before it dies.
    Kill,
}

/// When to stop the command, once a credential's end is known.
struct Stop {
    term_at: Instant,
    kill_at: Instant,
    termed: bool,
}

impl Stop {
    /// SIGTERM two grace periods before `dies` (now if that is past), SIGKILL one grace period
    /// after that — or halfway to `dies` if less time is left.
    fn before(dies: Instant, grace: Duration) -> Stop {
        let now = Instant::now();
        let term_at = dies.checked_sub(grace * 2).map_or(now, |t| t.max(now));
        let left = dies.saturating_duration_since(term_at);
        Stop {
            term_at,
            kill_at: term_at + grace.min(left / 2),
            termed: false,
        }
    }
}

/// Start `argv` with `env` added to ours; pass signals on; follow `endings` (from `renewals`)
/// under `policy`; the command's exit status.
pub async fn supervise(
    argv: &[String],
    env: &[(String, SecretString)],
    renewals: impl Future<Output = ()>,
    mut endings: UnboundedReceiver<Ending>,
    policy: OnMaxTtl,
    grace: Duration,
) -> Result<ExitStatus, CliError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| CliError::local("no command given after --"))?;
    // Before the child exists, so that a signal arriving the moment it starts is ours to pass on
    // rather than the default action (which would kill `run` and skip the revocation).
    let mut sigint = listen(SignalKind::interrupt())?;
    let mut sigterm = listen(SignalKind::terminate())?;
    let mut sighup = listen(SignalKind::hangup())?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v.expose_secret());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::local(format!("cannot start {program}: {e}")))?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    let send = |sig: Signal, name: &str| {
        if let Some(pid) = pid {
            if let Err(e) = kill_process(pid, sig) {
                eprintln!("Warning: could not send {name} to the command: {e}");
            }
        }
    };

    tokio::pin!(renewals);
    let mut renewing = true;
    let mut stop: Option<Stop> = None;
    let far = Instant::now() + Duration::from_secs(86400 * 365);
    loop {
        let (term_at, kill_at) = match &stop {
            Some(s) if !s.termed => (s.term_at, far),
            Some(s) => (far, s.kill_at),
            None => (far, far),
        };
        tokio::select! {
            status = child.wait() => {
                return status.map_err(|e| CliError::local(format!("waiting for {program}: {e}")));
            }
            _ = sigint.recv() => send(Signal::INT, "SIGINT"),
            _ = sigterm.recv() => send(Signal::TERM, "SIGTERM"),
            _ = sighup.recv() => send(Signal::HUP, "SIGHUP"),
            () = &mut renewals, if renewing => renewing = false,
            Some(ending) = endings.recv() => {
                let left = ending.at.saturating_duration_since(Instant::now());
                eprintln!(
                    "Warning: the credential from {} (lease {}) {}; it ends in {}s and cannot be extended.",
                    ending.path, ending.lease_id, ending.why, left.as_secs()
                );
                if policy == OnMaxTtl::Kill {
                    let planned = Stop::before(ending.at, grace);
                    if stop.as_ref().is_none_or(|s| !s.termed && planned.term_at < s.term_at) {
                        eprintln!(
                            "Stopping the command before then (-on-max-ttl=kill): SIGTERM in {}s, SIGKILL {}s later if it is still running.",
                            planned.term_at.saturating_duration_since(Instant::now()).as_secs(),
                            planned.kill_at.saturating_duration_since(planned.term_at).as_secs()
                        );
                        stop = Some(planned);
                    }
                }
            }
            () = tokio::time::sleep_until(term_at) => {
                eprintln!("Sending SIGTERM to the command: its credential is about to end.");
                send(Signal::TERM, "SIGTERM");
                if let Some(s) = stop.as_mut() {
                    s.termed = true;
                }
            }
            () = tokio::time::sleep_until(kill_at) => {
                eprintln!("Sending SIGKILL to the command: it did not stop after SIGTERM.");
                if let Err(e) = child.start_kill() {
                    eprintln!("Warning: could not kill the command: {e}");
                }
                stop = None;
            }
        }
    }
}

fn listen(kind: SignalKind) -> Result<tokio::signal::unix::Signal, CliError> {
    signal(kind).map_err(|e| CliError::local(format!("cannot handle signals: {e}")))
}

/// The shell's convention: the exit code, or 128 + the signal that ended the command.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + (sig & 0x7f)).unwrap_or(1),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_leaves_room_for_both_signals() {
        let now = Instant::now();
        // Plenty of time: SIGTERM two graces before the end, SIGKILL one grace before.
        let s = Stop::before(now + Duration::from_secs(100), Duration::from_secs(10));
        assert!(
            s.term_at >= now + Duration::from_secs(79)
                && s.term_at <= now + Duration::from_secs(80)
        );
        assert_eq!(s.kill_at - s.term_at, Duration::from_secs(10));
        // Little time: SIGTERM now, SIGKILL halfway to the end.
        let s = Stop::before(now + Duration::from_secs(2), Duration::from_secs(10));
        assert!(s.term_at < now + Duration::from_millis(100));
        assert!(s.kill_at < now + Duration::from_secs(2));
    }

    #[test]
    fn codes_as_a_shell_gives_them() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}
