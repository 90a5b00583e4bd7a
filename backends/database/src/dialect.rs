//! [`Dialect`]: what differs in how two databases write the same statements, the part of a
//! driver the engine's statement handling (`render`, `accounts`) is parameterised by.
//!
//! Everything else about statements is shared: templates hold `{{name}}`/`{{username}}`,
//! `{{password}}` and `{{expiration}}`, filled by plain substitution as Vault does, and what
//! makes that safe is the values' alphabets: user names are `[a-z0-9_-]` (nothing that can end a
//! quoted identifier or string), passwords hold none of [`Dialect::unusable_password_chars`]
//! (nothing that can end the literal a template puts them in).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::driver::DriverError;
use crate::render;

/// The values a statement may use; `None` where the operation has no such value.
pub struct Values<'a> {
    /// The user's name (`{{name}}` and `{{username}}`).
    pub name: &'a str,
    /// The new password (`{{password}}`), when creating or rotating.
    pub password: Option<&'a SecretString>,
    /// The lease's expiry (`{{expiration}}`), when creating or renewing.
    pub expiration: Option<DateTime<Utc>>,
}

/// A database's way of writing statements.
pub trait Dialect: Send + Sync {
    /// The longest user name created (generated names are cut to it).
    fn max_username_len(&self) -> usize;

    /// Where the database lists its users (`pg_roles`), as [`crate::Target::list_users`]
    /// reads it: named in the destruction receipt that looked there and found the user absent.
    fn user_catalog(&self) -> &'static str {
        "the user list"
    }

    /// The longest user name that can exist on any server of the family: an existing user is
    /// refused only beyond it, so that a name issued under a larger limit can still be
    /// destroyed or rotated.
    fn max_existing_username_len(&self) -> usize {
        self.max_username_len()
    }

    /// `{{expiration}}` as the database reads it inside a statement.
    fn format_expiration(&self, at: DateTime<Utc>) -> String;

    /// One statement string cut into statements the way the database's lexer would.
    fn split_statements(&self, text: &str) -> Result<Vec<String>, String>;

    /// Characters a password must not hold because the literal it goes in cannot hold them.
    fn unusable_password_chars(&self) -> &'static [char] {
        &[]
    }

    /// True when a role without creation statements still creates users, with defaults of the
    /// driver's own (Vault's Redis plugin: the rules `["~*", "+@read"]`).
    fn creates_without_statements(&self) -> bool {
        false
    }

    /// The statements to run: each string split and its placeholders filled in. Nothing touches
    /// the database yet, so a bad template fails before any change. A driver whose
    /// "statements" are not templates (Redis's ACL rules) passes them through instead.
    fn prepare(
        &self,
        statements: &[String],
        values: &Values<'_>,
    ) -> Result<Vec<Zeroizing<String>>, DriverError> {
        render::prepare(self, statements, values)
    }
}
