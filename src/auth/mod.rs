//! Who is calling: the token store. (ACL policies, AppRole and JWT arrive with issue 4.)

pub mod approle;
pub mod jwt;
pub mod policy;
pub mod token;

pub use token::{PlainToken, TokenEntry, TokenStore};
