//! Filling statement templates, the same for every SQL dialect: `{{name}}`/`{{username}}`,
//! `{{password}}` and `{{expiration}}` (in the [`Dialect`]'s format) by plain substitution, in
//! one pass; and the checks on the values that make plain substitution safe.

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::dialect::{Dialect, Values};
use crate::driver::DriverError;
use crate::username::is_safe_username;

/// `statement` with its placeholders filled in one pass (an inserted value is never scanned for
/// placeholders again). Unknown `{{...}}` text is left alone. The result may hold a password,
/// so it is zeroized when dropped.
pub fn render<D: Dialect + ?Sized>(
    dialect: &D,
    statement: &str,
    values: &Values<'_>,
) -> Result<Zeroizing<String>, DriverError> {
    let expiration = values.expiration.map(|at| dialect.format_expiration(at));
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

/// Split each statement string and fill in the values (what [`Dialect::prepare`] does unless a
/// driver says otherwise).
pub fn prepare<D: Dialect + ?Sized>(
    dialect: &D,
    statements: &[String],
    values: &Values<'_>,
) -> Result<Vec<Zeroizing<String>>, DriverError> {
    let mut out = Vec::new();
    for text in statements {
        let pieces = dialect
            .split_statements(text)
            .map_err(|e| DriverError::Refused(format!("cannot split statements: {e}")))?;
        for piece in pieces {
            out.push(render(dialect, &piece, values)?);
        }
    }
    Ok(out)
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

/// Refuse a password holding one of `unusable` (it could end the literal a template puts it
/// in). The error names the characters, never the value.
pub fn check_password(password: &SecretString, unusable: &[char]) -> Result<(), DriverError> {
    if !password.expose_secret().contains(unusable) {
        return Ok(());
    }
    let names: Vec<String> = unusable
        .iter()
        .map(|c| match c {
            '\'' => "quote".to_owned(),
            '\\' => "backslash".to_owned(),
            '$' => "dollar sign".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    let listed = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(DriverError::Refused(format!(
        "the password contains a {listed}, which statements cannot hold"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    /// A dialect with the expiration format PostgreSQL uses and `;` as the only separator.
    struct Plain;

    impl Dialect for Plain {
        fn max_username_len(&self) -> usize {
            63
        }
        fn format_expiration(&self, at: DateTime<Utc>) -> String {
            at.format("%Y-%m-%d %H:%M:%S%z").to_string()
        }
        fn split_statements(&self, text: &str) -> Result<Vec<String>, String> {
            Ok(text.split(';').map(str::to_owned).collect())
        }
    }

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
            &Plain,
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
        let err = render(
            &Plain,
            "ALTER ROLE \"{{name}}\" PASSWORD '{{password}}'",
            &values,
        )
        .unwrap_err();
        assert!(matches!(err, DriverError::Refused(_)));
        assert!(render(&Plain, "VALID UNTIL '{{expiration}}'", &values).is_err());
    }

    #[test]
    fn names_and_passwords() {
        assert!(check_username("v-root-ro-abc_1", 63).is_ok());
        for bad in ["", "V-upper", "a\"b", "a b", "x'y", &"a".repeat(64)] {
            assert!(check_username(bad, 63).is_err(), "{bad}");
        }
        let pg = ['\'', '\\', '$'];
        let err = check_password(&SecretString::from("a$b"), &pg).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the password contains a quote, backslash or dollar sign, which statements cannot hold"
        );
        let err = check_password(&SecretString::from("a'b"), &pg[..2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the password contains a quote or backslash, which statements cannot hold"
        );
        assert!(check_password(&SecretString::from("Ab1-xyz\"*/;"), &pg).is_ok());
    }
}
