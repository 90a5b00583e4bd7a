//! [`MySqlDialect`]: how MySQL and MariaDB write what the engine's statement handling needs, and
//! the quoting of accounts the driver names itself.
//!
//! Templates quote for themselves (`'{{name}}'@'%'`, `IDENTIFIED BY '{{password}}'`). Passwords
//! never contain `'` or `\`, the two characters that can end or escape inside a MySQL string
//! literal. Accounts we name ourselves, with hosts read back from `mysql.user`, go through
//! [`quote_account`].

use chrono::{DateTime, Utc};
use leasehold_database::Dialect;

use crate::statements::split_statements;

/// MySQL's user name limit (5.7 and later; MariaDB allows 80, Vault uses 32 for both).
pub const MAX_USERNAME_LEN: usize = 32;
/// The limit of MySQL before 5.7, Aurora MySQL 1 and older RDS (Vault's legacy plugins).
pub const LEGACY_MAX_USERNAME_LEN: usize = 16;
/// The longest account name any server of the family stores (MariaDB); names beyond it cannot
/// exist, so destroying them is refused rather than attempted.
pub(crate) const MAX_ANY_SERVER: usize = 80;

/// Characters a password cannot hold: a quote or backslash would end or escape its literal.
pub const UNUSABLE_PASSWORD_CHARS: &[char] = &['\'', '\\'];

/// MySQL's statements, for a plugin whose user names may be `max_username_len` long.
#[derive(Debug, Clone, Copy)]
pub struct MySqlDialect {
    pub max_username_len: usize,
}

impl Dialect for MySqlDialect {
    fn user_catalog(&self) -> &'static str {
        "mysql.user"
    }

    fn max_username_len(&self) -> usize {
        self.max_username_len
    }

    /// Only the alphabet matters for an existing user (and the largest length any server
    /// stores): a name issued before the connection moved to a plugin with a smaller limit
    /// must still go.
    fn max_existing_username_len(&self) -> usize {
        MAX_ANY_SERVER
    }

    /// `{{expiration}}` as a MySQL `DATETIME` literal in UTC (`2024-05-01 11:00:05`): MySQL
    /// before 8.0.19 and MariaDB reject a zone offset inside the literal.
    fn format_expiration(&self, at: DateTime<Utc>) -> String {
        at.format("%Y-%m-%d %H:%M:%S").to_string()
    }

    fn split_statements(&self, text: &str) -> Result<Vec<String>, String> {
        split_statements(text)
    }

    fn unusable_password_chars(&self) -> &'static [char] {
        UNUSABLE_PASSWORD_CHARS
    }
}

/// An account name `` `user`@`host` `` with both parts as backtick-quoted identifiers, embedded
/// backticks doubled. Unlike a '...' literal this needs no backslash escaping, so it is right
/// whatever the session's `sql_mode` (`NO_BACKSLASH_ESCAPES` or not): safe for any host string
/// read back from `mysql.user`.
pub fn quote_account(user: &str, host: &str) -> String {
    format!("{}@{}", quote_ident(user), quote_ident(host))
}

fn quote_ident(text: &str) -> String {
    format!("`{}`", text.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leasehold_database::render::{check_password, check_username, render};
    use leasehold_database::Values;
    use secrecy::SecretString;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_714_561_205, 0).unwrap()
    }

    #[test]
    fn fills_every_placeholder_once() {
        let pw = SecretString::from("Ab1-{{name}}");
        let values = Values {
            name: "v-ro-x",
            password: Some(&pw),
            expiration: Some(at()),
        };
        let dialect = MySqlDialect {
            max_username_len: MAX_USERNAME_LEN,
        };
        let out = render(
            &dialect,
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; -- {{username}} {{expiration}} {{other}}",
            &values,
        )
        .unwrap();
        assert_eq!(
            out.as_str(),
            "CREATE USER 'v-ro-x'@'%' IDENTIFIED BY 'Ab1-{{name}}'; -- v-ro-x 2024-05-01 11:00:05 {{other}}"
        );
    }

    #[test]
    fn accounts_names_and_passwords() {
        assert_eq!(quote_account("v-a", "%"), "`v-a`@`%`");
        assert_eq!(quote_account("u", "a`b\\'"), "`u`@`a``b\\'`");
        assert!(check_username("v-root-ro-abc_1", MAX_USERNAME_LEN).is_ok());
        for bad in ["", "V-upper", "a'b", "a b", "x`y", &"a".repeat(33)] {
            assert!(check_username(bad, MAX_USERNAME_LEN).is_err(), "{bad}");
        }
        assert!(check_username(&"a".repeat(17), LEGACY_MAX_USERNAME_LEN).is_err());
        let check = |p: &str| check_password(&SecretString::from(p), UNUSABLE_PASSWORD_CHARS);
        assert!(check("Aa1-xyz").is_ok());
        assert!(check("a'b").is_err());
        assert!(check("a\\b").is_err());
    }
}
