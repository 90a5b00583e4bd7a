//! Rate-limit quotas: at most `rate` requests per `interval` from one client address on the
//! paths a quota covers, optionally shutting the client out for `block_interval` once it goes
//! over. As in Vault, the counters live in each node's memory: with several nodes behind a load
//! balancer a client can make up to `rate` requests per interval on each of them. A shared
//! counter would cost a storage round trip on every request, the very load a rate limit is
//! there to shed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::matching::Scope;

/// Buckets kept before stale ones are swept: bounds memory against many client addresses.
const SWEEP_AT: usize = 10_000;

/// One rate-limit quota as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitQuota {
    /// Its name.
    pub name: String,
    /// Where it applies.
    pub scope: Scope,
    /// Requests allowed per interval (> 0).
    pub rate: f64,
    /// The window.
    pub interval: Duration,
    /// How long a client that went over is refused; zero: until its window ends.
    pub block_interval: Duration,
    /// Shown back as written; without namespaces it changes nothing.
    pub inheritable: bool,
    /// Only logins naming this role (the scope is then an auth method's mount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl RateLimitQuota {
    /// Whole requests per window. Vault rounds the rate to a whole number of tokens; a rate
    /// below one still lets one request through per window rather than refusing every one.
    pub fn limit(&self) -> u64 {
        // Saturating float-to-int cast: `rate` is validated finite and positive.
        (self.rate.round() as u64).max(1)
    }
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Let it through.
    pub allowed: bool,
    /// The quota's limit per window.
    pub limit: u64,
    /// Requests left in this window.
    pub remaining: u64,
    /// Until the window resets (or the block ends).
    pub reset: Duration,
}

impl Verdict {
    /// Vault's headers (`X-Ratelimit-Limit`, `-Remaining`, `-Reset`: whole seconds, rounded up;
    /// names lowercase, as HTTP/2 sends them)
    /// and `Retry-After` on a refusal.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let reset = self.reset.as_secs() + u64::from(self.reset.subsec_nanos() > 0);
        let mut h = vec![
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", reset.to_string()),
        ];
        if !self.allowed {
            h.push(("retry-after", reset.max(1).to_string()));
        }
        h
    }
}

#[derive(Debug)]
struct Bucket {
    started: Instant,
    used: u64,
    blocked_until: Option<Instant>,
}

/// Per quota and client address, the current window's count. In memory, per node.
#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<(String, Option<IpAddr>), Bucket>>,
}

impl Limiter {
    /// Forget every count (the quotas changed).
    pub fn reset(&self) {
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Count one request by `client` under `quota` at `now`.
    pub fn take(&self, quota: &RateLimitQuota, client: Option<IpAddr>, now: Instant) -> Verdict {
        let limit = quota.limit();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| {
                b.blocked_until.is_some_and(|u| u > now)
                    || now.saturating_duration_since(b.started)
                        < quota.interval.max(Duration::from_secs(60))
            });
        }
        let bucket = buckets
            .entry((quota.name.clone(), client))
            .or_insert(Bucket {
                started: now,
                used: 0,
                blocked_until: None,
            });
        if let Some(until) = bucket.blocked_until {
            if now < until {
                return Verdict {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset: until - now,
                };
            }
            *bucket = Bucket {
                started: now,
                used: 0,
                blocked_until: None,
            };
        }
        if now.saturating_duration_since(bucket.started) >= quota.interval {
            bucket.started = now;
            bucket.used = 0;
        }
        let window_left = quota
            .interval
            .saturating_sub(now.saturating_duration_since(bucket.started));
        if bucket.used < limit {
            bucket.used += 1;
            return Verdict {
                allowed: true,
                limit,
                remaining: limit - bucket.used,
                reset: window_left,
            };
        }
        let reset = if quota.block_interval.is_zero() {
            window_left
        } else {
            bucket.blocked_until = Some(now + quota.block_interval);
            quota.block_interval
        };
        Verdict {
            allowed: false,
            limit,
            remaining: 0,
            reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(rate: f64, interval_ms: u64, block_ms: u64) -> RateLimitQuota {
        RateLimitQuota {
            name: "q".into(),
            scope: Scope::Global,
            rate,
            interval: Duration::from_millis(interval_ms),
            block_interval: Duration::from_millis(block_ms),
            inheritable: false,
            role: None,
        }
    }

    #[test]
    fn allows_rate_per_window_then_refuses_until_it_resets() {
        let l = Limiter::default();
        let q = quota(3.0, 1000, 0);
        let t0 = Instant::now();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        let got: Vec<bool> = (0..4).map(|_| l.take(&q, ip, t0).allowed).collect();
        assert_eq!(got, [true, true, true, false]);
        let refused = l.take(&q, ip, t0 + Duration::from_millis(400));
        assert_eq!((refused.allowed, refused.remaining), (false, 0));
        assert_eq!(refused.reset, Duration::from_millis(600));
        assert!(refused.headers().contains(&("retry-after", "1".into())));
        // Another client has its own window.
        assert!(l.take(&q, Some(IpAddr::from([10, 0, 0, 2])), t0).allowed);
        assert!(l.take(&q, ip, t0 + Duration::from_millis(1000)).allowed);
    }

    #[test]
    fn block_interval_outlasts_the_window() {
        let l = Limiter::default();
        let q = quota(1.0, 100, 5000);
        let t0 = Instant::now();
        assert!(l.take(&q, None, t0).allowed);
        let refused = l.take(&q, None, t0);
        assert_eq!(refused.reset, Duration::from_secs(5));
        assert!(!l.take(&q, None, t0 + Duration::from_secs(2)).allowed);
        assert!(l.take(&q, None, t0 + Duration::from_secs(5)).allowed);
    }

    #[test]
    fn a_fractional_rate_still_admits_one_per_window() {
        assert_eq!(quota(0.2, 1000, 0).limit(), 1);
        assert_eq!(quota(2.6, 1000, 0).limit(), 3);
    }
}
