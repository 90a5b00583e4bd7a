//! One file per command family.

pub mod kv;
pub mod lease;
pub mod status;
pub mod token;
