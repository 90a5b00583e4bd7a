#![doc = include_str!("../README.md")]
//!
//! Map of the crate:
//! - [`backend`]: [`RabbitMqBackend`], the table of paths ([`backend::PATHS`]) and routing; the
//!   secret engine half the lease engine drives.
//! - [`config`]: `config/connection` and `config/lease`.
//! - [`roles`]: `roles/:name` and `LIST roles`: tags, vhost and topic permissions.
//! - [`creds`]: `creds/:name`: planning a user without touching the broker; creating,
//!   renewing and destroying it.
//! - [`management`]: the management HTTP API calls the engine makes.
//! - [`names`]: generated user names; `username_template`.
//! - [`password`]: generated passwords and the broker's hash of them.
//! - [`error`]: [`RabbitMqError`], and whose fault a failed call is.
#![forbid(unsafe_code)]

pub mod backend;
pub mod config;
pub mod creds;
pub mod error;
pub mod management;
pub mod names;
pub mod password;
pub mod roles;

pub use backend::RabbitMqBackend;
pub use error::RabbitMqError;
