//! The core's clock: [`leasehold_backend::clock`] re-exported under the paths the server has
//! always used. The one place that reads the wall clock lives in the SDK, so the engines use the
//! same clock as the lease engine.

pub use leasehold_backend::clock::{Clock, ManualClock, SharedClock, SystemClock};

/// The wall clock, for the storage layer's few timestamps that have no core to ask: a storage
/// lock's lease (`storage::lock`), which other servers on the same storage compare against
/// their own wall clocks, so a test's hand-moved clock must not set it; and the placeholder term
/// of a freshly generated seal (`Seal::generate`), which the stored keyring replaces at load.
/// Everything that has the core's [`Clock`] reads that instead.
pub fn wall_now() -> chrono::DateTime<chrono::Utc> {
    SystemClock.now()
}
