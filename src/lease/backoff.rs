//! Retry delays for failed destructions: exponential from `base`, capped at `max`, with jitter so a
//! target that comes back is not hit by every lease at the same instant.

use std::time::Duration;

use rand::Rng;

/// The delay before retry number `attempts` (1 = after the first failure): a random point in
/// `[d/2, d]` where `d = min(base * 2^(attempts-1), max)`.
pub fn retry_delay(attempts: i64, base: Duration, max: Duration) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    let jitter = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for _ in 0..100 {
            let d1 = retry_delay(1, base, max);
            assert!(d1 >= Duration::from_millis(500) && d1 <= base);
            let d4 = retry_delay(4, base, max);
            assert!(d4 >= Duration::from_secs(4) && d4 <= Duration::from_secs(8));
            let d99 = retry_delay(99, base, max);
            assert!(d99 >= Duration::from_secs(30) && d99 <= max);
        }
    }
}
