//! Splitting a role's statement strings into single MySQL statements.
//!
//! Operators write several statements in one string (`CREATE USER ...; GRANT ...;`). We split on
//! `;` only where MySQL's lexer would end a statement: not inside '...' or "..." strings (where
//! a backslash escapes the next character and a doubled quote is a quote), `` `...` ``
//! identifiers, or `-- `, `#` and `/* */` comments. Splitting happens on the template, before
//! any value is substituted, so nothing in a password or name can move a statement boundary.
//! Compound statements (`BEGIN ... END` bodies of procedures) need a client-side `DELIMITER`
//! and are not supported, as in Vault.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    /// A string in `'` or `"`.
    Quoted(char),
    Backtick,
    LineComment,
    BlockComment,
}

/// The statements in `text`, trimmed, without empty ones. Fails on an unterminated quote or
/// comment, since running what follows it would put values where the author did not mean them.
pub fn split_statements(text: &str) -> Result<Vec<String>, String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut state = State::Code;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match state {
            State::Code => match c {
                ';' => {
                    push_statement(&mut statements, &current);
                    current.clear();
                    continue;
                }
                '\'' | '"' => state = State::Quoted(c),
                '`' => state = State::Backtick,
                '#' => state = State::LineComment,
                // `--` starts a comment only when followed by a blank or a control character
                // (or the end): `1--1` is arithmetic.
                '-' if next == Some('-') => {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead
                        .peek()
                        .is_none_or(|a| a.is_whitespace() || a.is_control())
                    {
                        state = State::LineComment;
                    }
                }
                '/' if next == Some('*') => {
                    state = State::BlockComment;
                    current.push(c);
                    if let Some(star) = chars.next() {
                        current.push(star);
                    }
                    continue;
                }
                _ => {}
            },
            State::Quoted(quote) => {
                if c == '\\' {
                    current.push(c);
                    if let Some(escaped) = chars.next() {
                        current.push(escaped);
                    }
                    continue;
                }
                // A doubled quote reads as leaving and re-entering the string.
                if c == quote {
                    state = State::Code;
                }
            }
            State::Backtick => {
                if c == '`' {
                    state = State::Code;
                }
            }
            State::LineComment => {
                if c == '\n' {
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if c == '*' && next == Some('/') {
                    current.push(c);
                    if let Some(slash) = chars.next() {
                        current.push(slash);
                    }
                    state = State::Code;
                    continue;
                }
            }
        }
        current.push(c);
    }
    match state {
        State::Code | State::LineComment => {
            push_statement(&mut statements, &current);
            Ok(statements)
        }
        State::Quoted(q) => Err(format!("unterminated {q}...{q} string")),
        State::Backtick => Err("unterminated `...` identifier".into()),
        State::BlockComment => Err("unterminated /* comment".into()),
    }
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    let trimmed = text.trim();
    if !trimmed.is_empty() && !is_only_comments(trimmed) {
        statements.push(trimmed.to_owned());
    }
}

/// A piece holding nothing but line comments would make an empty query.
fn is_only_comments(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| {
        line.is_empty() || line.starts_with('#') || line == "--" || line.starts_with("-- ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_vault_style_creation_statements() {
        let s = split_statements(
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';GRANT SELECT ON *.* TO '{{name}}'@'%';",
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'".to_owned(),
                "GRANT SELECT ON *.* TO '{{name}}'@'%'".to_owned()
            ]
        );
    }

    #[test]
    fn quotes_identifiers_and_comments_are_respected() {
        assert_eq!(
            split_statements(r#"SELECT 'a;b', 'it''s;', "x;\"y"; SELECT `c;d`"#).unwrap(),
            vec![
                r#"SELECT 'a;b', 'it''s;', "x;\"y""#.to_owned(),
                "SELECT `c;d`".to_owned()
            ]
        );
        assert_eq!(
            split_statements("SELECT 'a\\';b'; SELECT 2").unwrap(),
            vec!["SELECT 'a\\';b'".to_owned(), "SELECT 2".to_owned()]
        );
        assert_eq!(
            split_statements(
                "SELECT 1 -- no; split\n; # nor; here\nSELECT /* a; */ 2; SELECT 3--1;"
            )
            .unwrap(),
            vec![
                "SELECT 1 -- no; split".to_owned(),
                "# nor; here\nSELECT /* a; */ 2".to_owned(),
                "SELECT 3--1".to_owned()
            ]
        );
        assert_eq!(
            split_statements(" ; ;\n -- only a comment\n# and another").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unterminated_quotes_are_refused() {
        for bad in [
            "SELECT 'a; SELECT 1",
            "SELECT \"a",
            "SELECT `a",
            "/* x",
            "SELECT 'a\\'",
        ] {
            assert!(split_statements(bad).is_err(), "{bad}");
        }
    }
}
