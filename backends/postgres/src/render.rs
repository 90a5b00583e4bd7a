//! Filling a statement template: `{{name}}`/`{{username}}` (the user), `{{password}}` and
//! `{{expiration}}`, by plain substitution as Vault does. Templates quote for themselves
//! (`"{{name}}"`, `'{{password}}'`); what makes that safe is the values' alphabets, checked here
//! and by the engine: user names are `[a-z0-9_-]` (nothing that can end `"..."`), passwords never
//! contain `'` or `\` (nothing that can end `'...'`) nor `$` (nothing that can end the
//! `$$ ... $$` body of a `DO` block, where Vault's documented templates put them). Identifiers we
//! write ourselves go through [`quote_ident`].

use chrono::{DateTime, Utc};
use leasehold_database::{is_safe_username, DriverError};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// The values a statement may use; `None` where the operation has no such value.
pub struct Values<'a> {
    /// The user's name (`{{name}}` and `{{username}}`).
    pub name: &'a str,
    /// The new password (`{{password}}`), only when creating.
    pub password: Option<&'a SecretString>,
    /// The expiry (`{{expiration}}`), when creating or renewing.
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

/// Vault's `{{expiration}}` format: `2024-05-01 11:00:05+0000`.
pub fn format_expiration(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%z").to_string()
}

/// A double-quoted identifier, embedded quotes doubled: safe for any name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Refuse a user name outside the engine's safe alphabet or over PostgreSQL's limit. The engine
/// only generates safe names; this guards against lease data from anywhere else.
pub fn check_username(name: &str) -> Result<(), DriverError> {
    if !is_safe_username(name) || name.len() > MAX_IDENTIFIER_LEN {
        return Err(DriverError::Refused(format!(
            "refusing user name {name:?}: only 1 to {MAX_IDENTIFIER_LEN} characters of [a-z0-9_-] are allowed"
        )));
    }
    Ok(())
}

/// Characters a password cannot hold (see [`check_password`]); a connection whose
/// `password_charset` holds one is refused when written.
pub const UNUSABLE_PASSWORD_CHARS: &[char] = &['\'', '\\', '$'];

/// Refuse a password that could end the quoting a template puts it in: `'` or `\` would end a
/// `'...'` or `E'...'` literal, `$` could complete the `$$` or `$tag$` that ends a dollar-quoted
/// body (`DO $$ BEGIN CREATE ROLE ... PASSWORD '{{password}}'; END $$`). Passwords are generated,
/// but a connection's `password_charset` may include `$`, and with it `$$` is a matter of time.
/// The error never shows the value.
pub fn check_password(password: &SecretString) -> Result<(), DriverError> {
    if password.expose_secret().contains(UNUSABLE_PASSWORD_CHARS) {
        return Err(DriverError::Refused(
            "the password contains a quote, backslash or dollar sign, which statements cannot hold"
                .into(),
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
            name: "v-root-ro-x",
            password: Some(&pw),
            expiration: Some(at()),
        };
        let out = render(
            "CREATE ROLE \"{{name}}\" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; -- {{username}} {{other}}",
            &values,
        )
        .unwrap();
        assert_eq!(
            out.as_str(),
            "CREATE ROLE \"v-root-ro-x\" PASSWORD 'Ab1-{{name}}' VALID UNTIL '2024-05-01 11:00:05+0000'; -- v-root-ro-x {{other}}"
        );
    }

    #[test]
    fn missing_values_are_refused_not_left_in() {
        let values = Values {
            name: "u",
            password: None,
            expiration: None,
        };
        let err = render("ALTER ROLE \"{{name}}\" PASSWORD '{{password}}'", &values).unwrap_err();
        assert!(matches!(err, DriverError::Refused(_)));
        assert!(render("VALID UNTIL '{{expiration}}'", &values).is_err());
    }

    #[test]
    fn identifiers_and_names() {
        assert_eq!(quote_ident("app owner"), "\"app owner\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert!(check_username("v-root-ro-abc_1").is_ok());
        for bad in ["", "V-upper", "a\"b", "a b", "x'y", &"a".repeat(64)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
        assert_eq!(format_expiration(at()), "2024-05-01 11:00:05+0000");
    }

    #[test]
    fn passwords_that_could_end_their_quoting_are_refused() {
        assert!(check_password(&SecretString::from("Ab1-xyz\"*/;")).is_ok());
        // `$$` would close `DO $$ ... '{{password}}' ... $$` early (found by tests/props).
        for bad in ["it's", "a\\b", "a$$b", "$body$", "a$"] {
            let err = check_password(&SecretString::from(bad)).unwrap_err();
            assert!(!err.to_string().contains(bad), "{err}");
        }
    }
}
