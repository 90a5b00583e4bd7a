//! Splitting a role's statement strings into single SQL statements.
//!
//! Operators write several statements in one string (`CREATE ROLE ...; GRANT ...;`). We split on
//! `;` only where PostgreSQL's lexer would end a statement: not inside '...' or E'...' literals,
//! "..." identifiers, $tag$...$tag$ bodies (so a `DO $$ BEGIN ...; END $$` block stays whole) or
//! comments. Splitting happens on the template, before any value is substituted, so nothing in a
//! password or name can move a statement boundary.

/// The lexer's states; each knows how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Code,
    /// '...'; `escapes` for E'...' strings, where a backslash escapes the next character.
    Literal {
        escapes: bool,
    },
    Identifier,
    /// $tag$...$tag$ with the whole opening delimiter.
    Dollar(String),
    LineComment,
    /// PostgreSQL's block comments nest.
    BlockComment(usize),
}

/// The statements in `text`, trimmed, without empty ones. Fails on an unterminated quote, since
/// running what follows it would put values where the author did not mean them.
pub fn split_statements(text: &str) -> Result<Vec<String>, String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut state = State::Code;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        match &mut state {
            State::Code => match c {
                ';' => {
                    push_statement(&mut statements, &current);
                    current.clear();
                    continue;
                }
                '\'' => {
                    state = State::Literal {
                        escapes: starts_escape_string(&current),
                    }
                }
                '"' => state = State::Identifier,
                '-' if next == Some('-') => state = State::LineComment,
                '/' if next == Some('*') => {
                    state = State::BlockComment(1);
                    current.push(c);
                    if let Some((_, star)) = chars.next() {
                        current.push(star);
                    }
                    continue;
                }
                '$' => {
                    if let Some(tag) = dollar_tag(text.get(i..).unwrap_or_default(), &current) {
                        // Copy the opening delimiter whole so its closing `$` is not re-read
                        // as the start of the closing delimiter.
                        current.push(c);
                        for _ in 1..tag.chars().count() {
                            if let Some((_, d)) = chars.next() {
                                current.push(d);
                            }
                        }
                        state = State::Dollar(tag);
                        continue;
                    }
                }
                _ => {}
            },
            State::Literal { escapes } => match c {
                '\\' if *escapes => {
                    current.push(c);
                    if let Some((_, escaped)) = chars.next() {
                        current.push(escaped);
                    }
                    continue;
                }
                // A doubled quote inside a literal reads as leaving and re-entering it.
                '\'' => state = State::Code,
                _ => {}
            },
            State::Identifier => {
                if c == '"' {
                    state = State::Code;
                }
            }
            State::Dollar(tag) => {
                if c == '$'
                    && text
                        .get(i..)
                        .is_some_and(|rest| rest.starts_with(tag.as_str()))
                {
                    let tag_len = tag.chars().count();
                    current.push(c);
                    for _ in 1..tag_len {
                        if let Some((_, d)) = chars.next() {
                            current.push(d);
                        }
                    }
                    state = State::Code;
                    continue;
                }
            }
            State::LineComment => {
                if c == '\n' {
                    state = State::Code;
                }
            }
            State::BlockComment(depth) => {
                if c == '*' && next == Some('/') {
                    *depth -= 1;
                    current.push(c);
                    if let Some((_, slash)) = chars.next() {
                        current.push(slash);
                    }
                    if *depth == 0 {
                        state = State::Code;
                    }
                    continue;
                }
                if c == '/' && next == Some('*') {
                    *depth += 1;
                    current.push(c);
                    if let Some((_, star)) = chars.next() {
                        current.push(star);
                    }
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
        State::Literal { .. } => Err("unterminated quoted string".into()),
        State::Identifier => Err("unterminated quoted identifier".into()),
        State::Dollar(tag) => Err(format!("unterminated dollar-quoted string (missing {tag})")),
        State::BlockComment(_) => Err("unterminated /* comment".into()),
    }
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    let trimmed = text.trim();
    if !trimmed.is_empty() && !is_only_comments(trimmed) {
        statements.push(trimmed.to_owned());
    }
}

/// A piece holding nothing but `--` comments would make an empty query.
fn is_only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with("--"))
}

/// An `E` or `e` right before the quote, not the end of a longer word, starts an escape string.
fn starts_escape_string(before: &str) -> bool {
    let mut rev = before.chars().rev();
    matches!(rev.next(), Some('E' | 'e')) && !rev.next().is_some_and(is_ident_char)
}

/// The delimiter (`$$` or `$tag$`) opening a dollar-quoted string at the start of `rest`, if it is
/// one: a tag is empty or an identifier not starting with a digit, and `$` right after an
/// identifier character is part of that identifier instead (`a$b`).
fn dollar_tag(rest: &str, before: &str) -> Option<String> {
    if before.chars().next_back().is_some_and(is_ident_char) {
        return None;
    }
    let body = rest.strip_prefix('$')?;
    let end = body.find('$')?;
    let tag = body.get(..end)?;
    let valid = tag
        .chars()
        .next()
        .is_none_or(|c| c.is_alphabetic() || c == '_')
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_');
    valid.then(|| format!("${tag}$"))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_quotes() {
        let s = split_statements(
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';\n\
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("CREATE ROLE") && s[0].ends_with("'{{expiration}}'"));
        assert_eq!(
            s[1],
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\""
        );
    }

    #[test]
    fn do_blocks_stay_whole() {
        let block =
            "DO $$\nBEGIN\n  CREATE ROLE \"{{name}}\";\n  GRANT a TO \"{{name}}\";\nEND\n$$";
        let s = split_statements(&format!("{block}; SELECT 1;")).unwrap();
        assert_eq!(s, vec![block.to_owned(), "SELECT 1".to_owned()]);
        let tagged = "DO $body$ BEGIN PERFORM '$$;'; END $body$";
        assert_eq!(split_statements(tagged).unwrap(), vec![tagged.to_owned()]);
    }

    #[test]
    fn quotes_identifiers_and_comments_are_respected() {
        assert_eq!(
            split_statements("SELECT 'a;b', 'it''s;'; SELECT \"x;y\"").unwrap(),
            vec![
                "SELECT 'a;b', 'it''s;'".to_owned(),
                "SELECT \"x;y\"".to_owned()
            ]
        );
        assert_eq!(
            split_statements("SELECT E'a\\';b'; SELECT 2").unwrap(),
            vec!["SELECT E'a\\';b'".to_owned(), "SELECT 2".to_owned()]
        );
        assert_eq!(
            split_statements("SELECT 1 -- no; split\n; /* a; /* b; */ c; */ SELECT 2;").unwrap(),
            vec![
                "SELECT 1 -- no; split".to_owned(),
                "/* a; /* b; */ c; */ SELECT 2".to_owned()
            ]
        );
        // `$1` and `a$b` are not dollar quotes.
        assert_eq!(
            split_statements("SELECT $1; SELECT a$b; SELECT 3")
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            split_statements(" ; ;\n -- only a comment\n").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unterminated_quotes_are_refused() {
        for bad in ["SELECT 'a; SELECT 1", "SELECT \"a", "DO $$ BEGIN", "/* x"] {
            assert!(split_statements(bad).is_err(), "{bad}");
        }
    }
}
