//! Who is calling and what they may do: tokens, ACL policies and CIDR bounds. The auth methods
//! that exchange a workload's credential for a token are engines of their own
//! (`backends/approle`, `backends/jwt`), mounted by `server::auth_factory`.

/// CIDR bindings live in the SDK, shared with the AppRole engine; re-exported so the core's
/// token checks keep naming them `auth::cidr`.
pub use leasehold_backend::cidr;

pub mod policy;
pub mod token;
pub mod token_store;

pub use token::{PlainToken, TokenEntry};
pub use token_store::TokenStore;
