//! Test support for the aws engine: a moto IAM/STS server with authentication enforced
//! ([`moto::Moto`]), the SDK's in-memory mount storage and a harness that
//! plays the core's part, driving the backend through the `Backend` trait ([`engine::Engine`]).

pub mod engine;
pub mod moto;
