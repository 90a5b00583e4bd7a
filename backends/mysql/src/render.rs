//! Filling a statement template: `{{name}}`/`{{username}}` (the user), `{{password}}` and
//! `{{expiration}}`, by plain substitution as Vault does. Templates quote for themselves
//! (`'{{name}}'@'%'`, `IDENTIFIED BY '{{password}}'`); what makes that safe is the values'
//! alphabets, checked here and by the engine: user names are `[a-z0-9_-]` (nothing that can end
//! a quoted string or identifier), passwords never contain `'` or `\` (the two characters that
//! can end or escape inside a MySQL string literal). Accounts we name ourselves, with hosts read
//! back from `mysql.user`, go through [`quote_account`].

use chrono::{DateTime, Utc};
use leasehold_database::{is_safe_username, DriverError};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// MySQL's user name limit (5.7 and later; MariaDB allows 80, Vault uses 32 for both).
pub const MAX_USERNAME_LEN: usize = 32;
/// The limit of MySQL before 5.7, Aurora MySQL 1 and older RDS (Vault's legacy plugins).
pub const LEGACY_MAX_USERNAME_LEN: usize = 16;
/// The longest account name any server of the family stores (MariaDB); names beyond it cannot
/// exist, so destroying them is refused rather than attempted.
pub(crate) const MAX_ANY_SERVER: usize = 80;

/// The values a statement may use; `None` where the operation has no such value.
pub struct Values<'a> {
    /// The user's name (`{{name}}` and `{{username}}`).
    pub name: &'a str,
    /// The new password (`{{password}}`), when creating or rotating.
    pub password: Option<&'a SecretString>,
    /// The lease's expiry (`{{expiration}}`), when creating or renewing.
    pub expiration: Option<DateTime<Utc>>,
}

/// `statement` with its placeholders filled in one pass (an inserted value is never scanned for
/// placeholders again). Unknown `{{...}}` text is left alone. The result may hold a password,
/// so it is zeroized when dropped.
pub fn render(statement: &str, values: &Values<'_>) -> Result<Zeroizing<String>, DriverError> {
    let expiration = values.expiration.map(format_expiration);
    let mut out = Zeroizing::new(String::with_capacity(statement.len() + 64));
    let mut rest = statement;
    while let Some(at) = rest.find("{{") {
        let (literal, tail) = rest.split_at(at);
        out.push_str(literal);
        let (value, len): (Option<&str>, usize) = if tail.starts_with("{{name}}") {
            (Some(values.name), "{{name}}".len())
        } else if tail.starts_with("{{username}}") {
            (Some(values.name), "{{username}}".len())
        } else if tail.starts_with("{{password}}") {
            let password = values.password.ok_or_else(|| unavailable("{{password}}"))?;
            (Some(password.expose_secret()), "{{password}}".len())
        } else if tail.starts_with("{{expiration}}") {
            let expiration = expiration
                .as_deref()
                .ok_or_else(|| unavailable("{{expiration}}"))?;
            (Some(expiration), "{{expiration}}".len())
        } else {
            (None, 2)
        };
        match value {
            Some(v) => out.push_str(v),
            None => out.push_str("{{"),
        }
        rest = tail.get(len..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

fn unavailable(placeholder: &str) -> DriverError {
    DriverError::Refused(format!(
        "{placeholder} cannot be used in this kind of statement: it has no value here"
    ))
}

/// `{{expiration}}` as a MySQL `DATETIME` literal in UTC (`2024-05-01 11:00:05`): MySQL before
/// 8.0.19 and MariaDB reject a zone offset inside the literal.
pub fn format_expiration(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
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

/// Refuse a user name outside the engine's safe alphabet or over `max_len`. The engine only
/// generates safe names; this guards against lease data from anywhere else.
pub fn check_username(name: &str, max_len: usize) -> Result<(), DriverError> {
    if !is_safe_username(name) || name.len() > max_len {
        return Err(DriverError::Refused(format!(
            "refusing user name {name:?}: only 1 to {max_len} characters of [a-z0-9_-] are allowed"
        )));
    }
    Ok(())
}

/// Characters a password cannot hold: a quote or backslash would end or escape its literal.
pub const UNUSABLE_PASSWORD_CHARS: &[char] = &['\'', '\\'];

/// Refuse a password that could leave the `'...'` it is put in (without echoing it).
pub fn check_password(password: &SecretString) -> Result<(), DriverError> {
    if password.expose_secret().contains(UNUSABLE_PASSWORD_CHARS) {
        return Err(DriverError::Refused(
            "the password contains a quote or backslash, which statements cannot hold".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = render(
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
    fn missing_values_are_refused_not_left_in() {
        let values = Values {
            name: "u",
            password: None,
            expiration: None,
        };
        let err = render(
            "ALTER USER '{{name}}' IDENTIFIED BY '{{password}}'",
            &values,
        )
        .unwrap_err();
        assert!(matches!(err, DriverError::Refused(_)));
        assert!(render("{{expiration}}", &values).is_err());
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
        assert!(check_password(&SecretString::from("Aa1-xyz")).is_ok());
        assert!(check_password(&SecretString::from("a'b")).is_err());
        assert!(check_password(&SecretString::from("a\\b")).is_err());
    }
}
