//! The one place that reads the wall clock. Lease code takes a [`Clock`] so tests can control time.

use std::sync::Arc;

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
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// A clock a test moves by hand.
#[cfg(test)]
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

#[cfg(test)]
impl ManualClock {
    /// A clock stopped at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(t))
    }
    /// Move the clock forward.
    pub fn advance(&self, d: chrono::Duration) {
        let mut t = self.0.lock().unwrap();
        *t += d;
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}
