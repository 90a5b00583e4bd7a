//! [`RedisDialect`]: Redis has no statements in the SQL sense. A role's creation statements are
//! ACL rules (`rules.rs`), passed to the driver as written; nothing is rendered into them, and
//! rollback, renew and rotation statements are not run (as in Vault).

use chrono::{DateTime, Utc};
use leasehold_database::{Dialect, DriverError, Values};
use zeroize::Zeroizing;

/// The longest user name generated for Redis. Redis sets no limit; this keeps names readable
/// in `ACL LIST` and `CLIENT LIST` (Vault cuts the parts of its names to 64).
pub const MAX_USERNAME_LEN: usize = 64;

/// Redis's "statements": ACL rules.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedisDialect;

impl Dialect for RedisDialect {
    fn user_catalog(&self) -> &'static str {
        "ACL USERS"
    }

    fn max_username_len(&self) -> usize {
        MAX_USERNAME_LEN
    }

    /// Never put in a statement (Redis users have no expiry); RFC 3339 for anything that
    /// shows it.
    fn format_expiration(&self, at: DateTime<Utc>) -> String {
        at.to_rfc3339()
    }

    /// A statement string is one list of rules.
    fn split_statements(&self, text: &str) -> Result<Vec<String>, String> {
        Ok(vec![text.to_owned()])
    }

    /// A role without creation statements gets Vault's default rules (`rules::DEFAULT_RULES`).
    fn creates_without_statements(&self) -> bool {
        true
    }

    /// Rules are not templates: they go to the driver as written.
    fn prepare(
        &self,
        statements: &[String],
        _values: &Values<'_>,
    ) -> Result<Vec<Zeroizing<String>>, DriverError> {
        Ok(statements.iter().cloned().map(Zeroizing::new).collect())
    }
}
