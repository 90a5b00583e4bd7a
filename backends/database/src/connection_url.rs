//! Connection URLs as operators write them: `postgresql://{{username}}:{{password}}@host/db` or
//! `host=db user={{username}} password={{password}}`.
//!
//! Three jobs: fill the placeholders ([`render`]), find a password written literally into the URL
//! (for Vault's warning, the read-back redaction and the error scrubber) and redact it.

use std::ops::Range;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::driver::DriverError;

/// Everything but RFC 3986's unreserved characters is escaped, so a value can sit anywhere in a
/// URL (user info included, where `:`, `@` and `/` would otherwise end it).
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const USERNAME: &str = "{{username}}";
const PASSWORD: &str = "{{password}}";

/// What replaces a literal password when a URL is shown.
pub(crate) const REDACTED_URL_PASSWORD: &str = "xxxxx";

/// True for `scheme://...` URLs, false for `key=value` strings.
pub(crate) fn is_url(template: &str) -> bool {
    template.contains("://")
}

/// `value` percent-escaped as [`render`] puts it into a URL.
pub(crate) fn escape(value: &str) -> String {
    utf8_percent_encode(value, ESCAPE).to_string()
}

/// Fill `{{username}}` and `{{password}}` in one pass over the template, so that a value which
/// itself contains a placeholder is never expanded again.
pub(crate) fn render(
    template: &str,
    username: Option<&str>,
    password: Option<&SecretString>,
    disable_escaping: bool,
) -> Result<SecretString, DriverError> {
    let url = is_url(template);
    let prepare = |field: &str, value: Option<&str>| -> Result<Zeroizing<String>, DriverError> {
        let value = value.unwrap_or_default();
        if url && !disable_escaping {
            return Ok(Zeroizing::new(escape(value)));
        }
        // key=value strings take values up to the next blank; quoting them is not ours to
        // guess, since the template may already have quotes around the placeholder.
        if !url
            && value
                .chars()
                .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
        {
            return Err(DriverError::InvalidConfig(format!(
                "the {field} contains a blank, quote or backslash, which a key=value connection_url \
                 cannot hold unquoted: use a postgresql:// URL"
            )));
        }
        Ok(Zeroizing::new(value.to_owned()))
    };
    let user = prepare("username", username)?;
    let pass = prepare("password", password.map(ExposeSecret::expose_secret))?;

    let mut out = Zeroizing::new(String::with_capacity(
        template.len() + user.len() + 2 * pass.len(),
    ));
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        let (literal, tail) = rest.split_at(at);
        out.push_str(literal);
        if let Some(after) = tail.strip_prefix(USERNAME) {
            out.push_str(&user);
            rest = after;
        } else if let Some(after) = tail.strip_prefix(PASSWORD) {
            out.push_str(&pass);
            rest = after;
        } else {
            out.push_str("{{");
            rest = tail.get(2..).unwrap_or_default();
        }
    }
    out.push_str(rest);
    Ok(SecretString::from(out.as_str()))
}

/// Where passwords written literally into the URL sit (not `{{password}}` placeholders): the
/// user info of a URL or Go DSN, a libpq `password=` pair, and any `password=` query parameter
/// (`?password=` and `&password=`, which libpq URIs accept as well). Sorted, not overlapping.
///
/// Vault redacts only the user-info password of a URL it can parse (its read handler replaces
/// the parsed password); a password in the query or in a key=value string is read back in
/// clear there. That is a hole, so we redact every form we know the drivers accept.
pub(crate) fn literal_password_spans(template: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = if is_url(template) {
        url_password_span(template).into_iter().collect()
    } else {
        let mut found = dsn_password_spans(template);
        found.extend(go_dsn_password_span(template));
        found
    };
    spans.extend(query_password_spans(template));
    spans.retain(|span| {
        template.get(span.clone()).is_some_and(|value| {
            let unquoted = value.trim_matches('\'');
            !unquoted.is_empty() && unquoted != PASSWORD
        })
    });
    spans.sort_by_key(|span| span.start);
    spans.dedup_by(|later, earlier| later.start < earlier.end);
    spans
}

/// True when the URL holds a password written literally (Vault warns about it on write).
pub(crate) fn has_literal_password(template: &str) -> bool {
    !literal_password_spans(template).is_empty()
}

/// The literal passwords, as written, unquoted and percent-decoded, for the scrubber.
pub(crate) fn literal_passwords(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    for value in literal_password_spans(template)
        .into_iter()
        .filter_map(|span| template.get(span))
    {
        out.push(value.to_owned());
        out.push(percent_decode_str(value).decode_utf8_lossy().into_owned());
        // A query value may carry `+` for a blank (form encoding), as some clients read it.
        out.push(
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned(),
        );
        out.push(value.trim_matches('\'').to_owned());
    }
    out.retain(|v| !v.is_empty());
    out.sort();
    out.dedup();
    out
}

/// The URL with every literal password replaced by [`REDACTED_URL_PASSWORD`], for reading back
/// and for messages.
pub(crate) fn redact(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut copied = 0;
    for span in literal_password_spans(template) {
        out.push_str(template.get(copied..span.start).unwrap_or_default());
        out.push_str(REDACTED_URL_PASSWORD);
        copied = span.end;
    }
    out.push_str(template.get(copied..).unwrap_or_default());
    out
}

/// `...?a=1&password=VALUE&b=2`: the values of every `password` query parameter (the key is
/// compared percent-decoded and without regard to case, so `PassWord` or `pass%77ord` cannot
/// slip past). The query starts at the first `?` and ends at `#`.
fn query_password_spans(template: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let Some(query_start) = template.find('?').map(|q| q + 1) else {
        return spans;
    };
    let query_end = template
        .get(query_start..)
        .and_then(|q| q.find('#'))
        .map_or(template.len(), |hash| query_start + hash);
    let mut pair_start = query_start;
    for pair in template
        .get(query_start..query_end)
        .unwrap_or_default()
        .split('&')
    {
        if let Some((key, _)) = pair.split_once('=') {
            let key = percent_decode_str(key).decode_utf8_lossy();
            if key.trim().eq_ignore_ascii_case("password") {
                spans.push(pair_start + key_len(pair) + 1..pair_start + pair.len());
            }
        }
        pair_start += pair.len() + 1;
    }
    spans
}

/// Bytes before the first `=` of a query pair.
fn key_len(pair: &str) -> usize {
    pair.find('=').unwrap_or(pair.len())
}

/// `scheme://user:PASSWORD@host...`: the user info is what precedes the last `@` of the
/// authority (which ends at the first `/`, `?` or `#`).
fn url_password_span(url: &str) -> Option<Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = url.get(start..)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest.get(..authority_end)?.rfind('@')?;
    let colon = rest.get(..at)?.find(':')?;
    Some(start + colon + 1..start + at)
}

/// `user:PASSWORD@tcp(host:3306)/db`, the Go MySQL driver's DSN that Vault's MySQL plugins take:
/// the user info is what precedes the last `@` before the address (`(`) or the database (`/`).
fn go_dsn_password_span(dsn: &str) -> Option<Range<usize>> {
    let head_end = dsn.find(['(', '/']).unwrap_or(dsn.len());
    let at = dsn.get(..head_end)?.rfind('@')?;
    let user_info = dsn.get(..at)?;
    // A key=value string is not this form, whatever `@` and `:` it holds.
    if user_info.contains(|c: char| c.is_whitespace() || c == '=') {
        return None;
    }
    let colon = user_info.find(':')?;
    Some(colon + 1..at)
}

/// Every `... password=VALUE ...` or `password='VALUE'` in a key=value string (libpq takes the
/// last one given, so all are found).
fn dsn_password_spans(dsn: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut search = 0;
    while let Some(found) = dsn.get(search..).and_then(|rest| rest.find("password")) {
        let key_start = search + found;
        search = key_start + "password".len();
        if let Some(span) = dsn_value_span(dsn, key_start, search) {
            search = span.end.max(search);
            spans.push(span);
        }
    }
    spans
}

/// The value of the `password` key found at `key_start..key_end`, if it is a key of its own.
fn dsn_value_span(dsn: &str, key_start: usize, key_end: usize) -> Option<Range<usize>> {
    let at_word_start = dsn
        .get(..key_start)?
        .chars()
        .next_back()
        .is_none_or(char::is_whitespace);
    let after_key = dsn.get(key_end..)?;
    let eq = after_key.len() - after_key.trim_start().len();
    if !at_word_start || !after_key.trim_start().starts_with('=') {
        return None;
    }
    let value_from = key_end + eq + 1;
    let value_rest = dsn.get(value_from..)?;
    let blanks = value_rest.len() - value_rest.trim_start().len();
    let value_start = value_from + blanks;
    let value = dsn.get(value_start..)?;
    let len = if let Some(quoted) = value.strip_prefix('\'') {
        quoted_len(quoted) + 1
    } else {
        value.find(char::is_whitespace).unwrap_or(value.len())
    };
    Some(value_start..value_start + len)
}

/// Length of a single-quoted libpq value's body up to and including its closing quote.
fn quoted_len(body: &str) -> usize {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return i + 1,
            _ => {}
        }
    }
    body.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_str(t: &str, u: &str, p: &str, raw: bool) -> Result<String, DriverError> {
        render(t, Some(u), Some(&SecretString::from(p)), raw).map(|s| s.expose_secret().to_owned())
    }

    #[test]
    fn fills_placeholders_escaped_in_urls() {
        let t = "postgresql://{{username}}:{{password}}@127.0.0.1:5432/app";
        assert_eq!(
            render_str(t, "admin", "p@ss:w/rd", false).unwrap(),
            "postgresql://admin:p%40ss%3Aw%2Frd@127.0.0.1:5432/app"
        );
        assert_eq!(
            render_str(t, "admin", "p@ss", true).unwrap(),
            "postgresql://admin:p@ss@127.0.0.1:5432/app"
        );
    }

    #[test]
    fn a_value_holding_a_placeholder_is_not_expanded_again() {
        let t = "postgresql://{{username}}:{{password}}@h/db";
        assert_eq!(
            render_str(t, "{{password}}", "secret", true).unwrap(),
            "postgresql://{{password}}:secret@h/db"
        );
        assert_eq!(
            render_str("x {{ y }} {{", "u", "p", false).unwrap(),
            "x {{ y }} {{"
        );
    }

    #[test]
    fn key_value_strings_take_plain_values_only() {
        let t = "host=h user={{username}} password={{password}}";
        assert_eq!(
            render_str(t, "admin", "a-b", false).unwrap(),
            "host=h user=admin password=a-b"
        );
        let err = render_str(t, "admin", "has space", false).unwrap_err();
        assert!(matches!(err, DriverError::InvalidConfig(_)));
        assert!(!err.to_string().contains("has space"));
    }

    #[test]
    fn finds_and_redacts_literal_passwords() {
        assert_eq!(
            redact("postgres://u:s3cret@h:5/db"),
            "postgres://u:xxxxx@h:5/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://{{username}}:{{password}}@h/db"),
            "postgres://{{username}}:{{password}}@h/db"
        );
        assert_eq!(
            redact("host=h password=abc user=u"),
            "host=h password=xxxxx user=u"
        );
        assert_eq!(
            redact("host=h password = 'a b' user=u"),
            "host=h password = xxxxx user=u"
        );
        assert_eq!(
            redact("host=h password={{password}}"),
            "host=h password={{password}}"
        );
        assert_eq!(redact("host=h mypassword=abc"), "host=h mypassword=abc");
        // The Go MySQL driver's DSN, as Vault's MySQL plugins take it.
        assert_eq!(
            redact("vault:s3cret@tcp(127.0.0.1:3306)/"),
            "vault:xxxxx@tcp(127.0.0.1:3306)/"
        );
        assert_eq!(
            redact("{{username}}:{{password}}@tcp(db:3306)/app"),
            "{{username}}:{{password}}@tcp(db:3306)/app"
        );
        assert_eq!(redact("vault@tcp(db:3306)/"), "vault@tcp(db:3306)/");
        assert_eq!(redact("host=h:5 user=a@b"), "host=h:5 user=a@b");
        assert_eq!(
            literal_passwords("postgres://u:a%40b@h/db"),
            vec!["a%40b".to_owned(), "a@b".to_owned()]
        );
    }

    #[test]
    fn passwords_in_query_parameters_are_found_and_redacted() {
        assert_eq!(
            redact("postgresql://u@h:5/db?password=secret123"),
            "postgresql://u@h:5/db?password=xxxxx"
        );
        assert_eq!(
            redact("postgresql://h/db?user=u&password=secret123&sslmode=disable"),
            "postgresql://h/db?user=u&password=xxxxx&sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://u:one@h/db?PassWord=two#frag"),
            "postgresql://u:xxxxx@h/db?PassWord=xxxxx#frag"
        );
        assert_eq!(
            redact("postgresql://h/db?pass%77ord=two"),
            "postgresql://h/db?pass%77ord=xxxxx"
        );
        assert_eq!(
            redact("postgresql://h/db?password={{password}}"),
            "postgresql://h/db?password={{password}}"
        );
        // The Go MySQL DSN and libpq key/value forms, with the password given twice.
        assert_eq!(
            redact("vault@tcp(db:3306)/app?timeout=5s&password=secret123"),
            "vault@tcp(db:3306)/app?timeout=5s&password=xxxxx"
        );
        assert_eq!(
            redact("host=h password=one user=u password='two'"),
            "host=h password=xxxxx user=u password=xxxxx"
        );
        assert!(has_literal_password("postgresql://h/db?password=x"));
        assert!(!has_literal_password("postgresql://h/db?passwordless=x"));
        let found = literal_passwords("postgresql://h/db?password=a%2Bb+c");
        assert!(found.contains(&"a+b c".to_owned()), "{found:?}");
        assert!(found.contains(&"a%2Bb+c".to_owned()), "{found:?}");
    }
}
