//! Test support for the aws engine: a moto IAM/STS server with authentication enforced
//! ([`moto::Moto`]), an in-memory mount storage ([`storage::MemoryStorage`]) and a harness that
//! plays the core's part, driving the backend through the `Backend` trait ([`engine::Engine`]).

pub mod engine;
pub mod moto;
pub mod storage;
