//! The one place that reads the wall clock. The core and the engines take a [`Clock`] instead of
//! calling `Utc::now()`, so that a lease, a rotation schedule and a generated name all agree on
//! what "now" is, and tests can move time by hand ([`ManualClock`]). `clippy.toml` bans the direct
//! calls everywhere else.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Shared clock handle, as the core hands it to engines.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock as a [`SharedClock`].
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock a test moves by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Mutex::new(t))
    }

    /// A clock stopped at the real time of the call.
    pub fn at_system_now() -> Self {
        Self::at(SystemClock.now())
    }

    /// Move the clock forward.
    pub fn advance(&self, d: chrono::Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += d;
    }

    /// Set the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_714_557_600, 0).unwrap();
        let clock = ManualClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::seconds(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn the_system_clock_is_shared_as_a_trait_object() {
        let clock = system();
        let before = SystemClock.now();
        assert!(clock.now() >= before);
    }
}
