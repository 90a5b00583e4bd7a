//! The core's clock: [`leasehold_backend::clock`] re-exported under the paths the server has
//! always used. The one place that reads the wall clock lives in the SDK, so the engines use the
//! same clock as the lease engine.

pub use leasehold_backend::clock::{Clock, ManualClock, SharedClock, SystemClock};
