//! One file per command family.

pub mod kv;
pub mod status;
