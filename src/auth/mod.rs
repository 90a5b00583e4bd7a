//! Who is calling and what they may do: tokens, ACL policies, CIDR bounds, and the auth methods
//! (AppRole, JWT) that exchange a workload's credential for a token.

pub mod approle;
pub mod cidr;
pub mod jwt;
pub mod policy;
pub mod token;
pub mod token_store;

pub use token::{PlainToken, TokenEntry};
pub use token_store::TokenStore;
