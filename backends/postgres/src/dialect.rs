//! [`PgDialect`]: how PostgreSQL writes what the engine's statement handling needs, and the
//! quoting of identifiers the driver writes itself.
//!
//! Templates quote for themselves (`"{{name}}"`, `'{{password}}'`). Passwords never contain `'`
//! or `\` (nothing that can end `'...'` or `E'...'`) nor `$` (nothing that can complete the `$$`
//! or `$tag$` that ends the dollar-quoted body of a `DO` block, where Vault's documented
//! templates put them: `DO $$ BEGIN CREATE ROLE ... PASSWORD '{{password}}'; END $$`).

use chrono::{DateTime, Utc};
use leasehold_database::Dialect;

use crate::statements::split_statements;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Characters a password cannot hold; a connection whose `password_charset` holds one is
/// refused when written.
pub const UNUSABLE_PASSWORD_CHARS: &[char] = &['\'', '\\', '$'];

/// PostgreSQL's statements.
#[derive(Debug, Default, Clone, Copy)]
pub struct PgDialect;

impl Dialect for PgDialect {
    fn user_catalog(&self) -> &'static str {
        "pg_roles"
    }

    fn max_username_len(&self) -> usize {
        MAX_IDENTIFIER_LEN
    }

    /// Vault's `{{expiration}}` format: `2024-05-01 11:00:05+0000`.
    fn format_expiration(&self, at: DateTime<Utc>) -> String {
        at.format("%Y-%m-%d %H:%M:%S%z").to_string()
    }

    fn split_statements(&self, text: &str) -> Result<Vec<String>, String> {
        split_statements(text)
    }

    fn unusable_password_chars(&self) -> &'static [char] {
        UNUSABLE_PASSWORD_CHARS
    }
}

/// A double-quoted identifier, embedded quotes doubled: safe for any name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leasehold_database::render::{check_password, check_username};
    use secrecy::SecretString;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_714_561_205, 0).unwrap()
    }

    #[test]
    fn identifiers_and_names() {
        assert_eq!(quote_ident("app owner"), "\"app owner\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert!(check_username("v-root-ro-abc_1", MAX_IDENTIFIER_LEN).is_ok());
        for bad in ["", "V-upper", "a\"b", "a b", "x'y", &"a".repeat(64)] {
            assert!(check_username(bad, MAX_IDENTIFIER_LEN).is_err(), "{bad}");
        }
        assert_eq!(
            PgDialect.format_expiration(at()),
            "2024-05-01 11:00:05+0000"
        );
    }

    #[test]
    fn passwords_that_could_end_their_quoting_are_refused() {
        let check = |p: &str| check_password(&SecretString::from(p), UNUSABLE_PASSWORD_CHARS);
        assert!(check("Ab1-xyz\"*/;").is_ok());
        // `$$` would close `DO $$ ... '{{password}}' ... $$` early (found by tests/props).
        for bad in ["it's", "a\\b", "a$$b", "$body$", "a$"] {
            let err = check(bad).unwrap_err();
            assert!(!err.to_string().contains(bad), "{err}");
        }
    }
}
