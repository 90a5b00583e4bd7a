//! Approval before privilege: credential requests that wait for an approver.

pub mod notify;
