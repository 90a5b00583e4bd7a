//! One file per command family.

pub mod approval;
pub mod audit;
pub mod columns;
pub mod kv;
pub mod lease;
pub mod lease_history;
pub mod login;
pub mod operator;
pub mod policy;
pub mod run;
pub mod secrets;
pub mod status;
pub mod token;
pub mod unwrap;
