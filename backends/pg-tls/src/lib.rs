//! TLS for tokio-postgres connections, configured the way libpq reads a connection string:
//! `sslmode`, `sslrootcert`, `sslcert`, `sslkey`. Shared by the PostgreSQL database driver
//! (connections to targets) and the server's PostgreSQL storage, so that neither depends on
//! the other for it.
//!
//! Map of the crate:
//! - `sslmode`: taking the TLS keys out of a connection string, and the rustls connector they
//!   ask for.
//! - `causes`: a connection error's text with the causes tokio-postgres keeps behind it.
#![forbid(unsafe_code)]

mod causes;
mod sslmode;

pub use causes::with_causes;
pub use sslmode::{take_tls_params, MakeRustlsConnect, Mode, TlsParams};

/// A TLS setting that cannot work (an unknown `sslmode`, a certificate file that cannot be
/// read). The text names the key and the file, never a value of the connection string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
