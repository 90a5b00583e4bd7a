//! TTL arithmetic, as Vault's `CalculateTTL`: a role's TTL and max can only lower the mount's, a
//! renewal counts from now (not from the old expiry) and is capped at issue time + max TTL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_backend::duration::format_duration;

/// The TTLs a mount imposes (its own or the system defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountTtls {
    /// Default lease TTL.
    pub default_ttl: Duration,
    /// Maximum lease TTL.
    pub max_ttl: Duration,
}

/// The max TTL in force: the role's when set and lower, else the mount's.
pub fn effective_max(role_max: Duration, mount: MountTtls) -> Duration {
    if role_max.is_zero() {
        mount.max_ttl
    } else {
        role_max.min(mount.max_ttl)
    }
}

/// TTL and max for a new lease, plus a warning when the role's TTL had to be lowered.
pub fn issue_ttl(
    role_ttl: Duration,
    role_max: Duration,
    mount: MountTtls,
) -> (Duration, Duration, Option<String>) {
    let max = effective_max(role_max, mount);
    let wanted = if role_ttl.is_zero() {
        mount.default_ttl
    } else {
        role_ttl
    };
    if wanted > max {
        let warning = format!(
            "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
            format_duration(wanted),
            format_duration(max)
        );
        (max, max, Some(warning))
    } else {
        (wanted, max, None)
    }
}

/// The outcome of a renewal computation.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Renew to `ttl` from now; `warning` is set when capped.
    To {
        ttl: Duration,
        warning: Option<String>,
    },
    /// The lease is already at its max TTL.
    PastMax,
}

/// New TTL for a renewal at `now`: `increment` if given, else the role's TTL, else the mount
/// default; capped at `max_expire - now` with Vault's warning text.
pub fn renew_ttl(
    increment: Duration,
    role_ttl: Duration,
    mount: MountTtls,
    max_expire: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Renewal {
    let proposed = if !increment.is_zero() {
        increment
    } else if !role_ttl.is_zero() {
        role_ttl
    } else {
        mount.default_ttl
    };
    let remaining_ms = (max_expire - now).num_milliseconds();
    // Whole seconds only: a cap of 0.4 s left would renew to nothing useful.
    let remaining = Duration::from_secs(u64::try_from(remaining_ms / 1000).unwrap_or(0));
    if remaining.is_zero() {
        return Renewal::PastMax;
    }
    if proposed > remaining {
        let warning = format!(
            "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
            format_duration(proposed),
            format_duration(remaining)
        );
        Renewal::To {
            ttl: remaining,
            warning: Some(warning),
        }
    } else {
        Renewal::To {
            ttl: proposed,
            warning: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNT: MountTtls = MountTtls {
        default_ttl: Duration::from_secs(3600),
        max_ttl: Duration::from_secs(7200),
    };

    #[test]
    fn issue_uses_role_then_mount() {
        assert_eq!(
            issue_ttl(Duration::ZERO, Duration::ZERO, MOUNT).0,
            Duration::from_secs(3600)
        );
        assert_eq!(
            issue_ttl(Duration::from_secs(60), Duration::ZERO, MOUNT).0,
            Duration::from_secs(60)
        );
        let (ttl, max, warn) = issue_ttl(Duration::from_secs(9000), Duration::ZERO, MOUNT);
        assert_eq!(
            (ttl, max),
            (Duration::from_secs(7200), Duration::from_secs(7200))
        );
        assert!(warn
            .unwrap()
            .contains("exceeded the effective max_ttl of \"2h\""));
        // A role max can lower but not raise the mount's.
        assert_eq!(
            effective_max(Duration::from_secs(99_999), MOUNT),
            MOUNT.max_ttl
        );
    }

    #[test]
    fn renew_counts_from_now_and_caps() {
        let now = Utc::now();
        let max_expire = now + chrono::Duration::seconds(1800);
        assert_eq!(
            renew_ttl(
                Duration::from_secs(600),
                Duration::ZERO,
                MOUNT,
                max_expire,
                now
            ),
            Renewal::To {
                ttl: Duration::from_secs(600),
                warning: None
            }
        );
        match renew_ttl(
            Duration::from_secs(3600),
            Duration::ZERO,
            MOUNT,
            max_expire,
            now,
        ) {
            Renewal::To { ttl, warning } => {
                assert_eq!(ttl, Duration::from_secs(1800));
                assert_eq!(
                    warning.unwrap(),
                    "TTL of \"1h\" exceeded the effective max_ttl of \"30m\"; TTL value is capped accordingly"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            renew_ttl(Duration::ZERO, Duration::ZERO, MOUNT, now, now),
            Renewal::PastMax
        );
    }
}
