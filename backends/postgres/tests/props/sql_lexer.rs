//! A small PostgreSQL lexer for the injection properties (this test and
//! `fuzz/fuzz_targets/pg_render.rs`), written from the manual's "Lexical Structure" chapter
//! rather than from `leasehold_postgres::statements`, so that the two can check each other. It
//! reduces SQL to its shape: the sequence of quoted strings, quoted identifiers, dollar-quoted
//! bodies, comments and `;`, with everything else collapsed to `Code`.

/// One token of the shape. Contents are not kept: a value moved inside its quote is fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Code,
    Semicolon,
    /// `'...'`, or `E'...'` when `escapes`.
    Literal {
        escapes: bool,
    },
    Identifier,
    /// `$tag$...$tag$`, with its tag.
    Dollar(String),
    LineComment,
    BlockComment,
}

/// The shape of `sql`, or why it does not lex (an unterminated quote or comment).
pub fn shape(sql: &str) -> Result<Vec<Token>, String> {
    let b = sql.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let at = |i: usize| b.get(i).copied();
    while let Some(c) = at(i) {
        let token;
        match c {
            b';' => {
                token = Token::Semicolon;
                i += 1;
            }
            b'\'' => {
                // E'...' when the E is a word of its own (its `E` stays in the Code before it).
                let escapes = i >= 1
                    && matches!(at(i - 1), Some(b'E' | b'e'))
                    && !(i >= 2 && at(i - 2).is_some_and(ident_byte));
                i = end_of_literal(b, i + 1, escapes).ok_or("unterminated literal")?;
                token = Token::Literal { escapes };
            }
            b'"' => {
                i = end_of_identifier(b, i + 1).ok_or("unterminated identifier")?;
                token = Token::Identifier;
            }
            b'-' if at(i + 1) == Some(b'-') => {
                while at(i).is_some_and(|c| c != b'\n') {
                    i += 1;
                }
                token = Token::LineComment;
            }
            b'/' if at(i + 1) == Some(b'*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (at(i), at(i + 1)) {
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                        }
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some(_), _) => i += 1,
                        (None, _) => return Err("unterminated comment".into()),
                    }
                }
                token = Token::BlockComment;
            }
            b'$' if !(i >= 1 && at(i - 1).is_some_and(ident_byte)) => {
                if let Some(tag) = dollar_tag(b, i) {
                    let body = i + tag.len();
                    let close = find(b, body, tag.as_bytes()).ok_or("unterminated dollar quote")?;
                    i = close + tag.len();
                    token = Token::Dollar(tag);
                } else {
                    token = Token::Code;
                    i += 1;
                }
            }
            _ => {
                token = Token::Code;
                i += 1;
            }
        }
        if !(token == Token::Code && out.last() == Some(&Token::Code)) {
            out.push(token);
        }
    }
    Ok(out)
}

fn ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Index just past the closing quote of a literal whose body starts at `i`.
fn end_of_literal(b: &[u8], mut i: usize, escapes: bool) -> Option<usize> {
    loop {
        match *b.get(i)? {
            b'\\' if escapes => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

fn end_of_identifier(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match *b.get(i)? {
            b'"' if b.get(i + 1) == Some(&b'"') => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// `$tag$` at `i`: the tag is empty or starts with a letter or `_` (or a non-ASCII byte) and
/// goes on with those or digits.
fn dollar_tag(b: &[u8], i: usize) -> Option<String> {
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        if c == b'$' {
            let tag = b.get(i..=j)?;
            return String::from_utf8(tag.to_vec()).ok();
        }
        let ok =
            c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 || (j > i + 1 && c.is_ascii_digit());
        if !ok {
            return None;
        }
        j += 1;
    }
    None
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let hay = b.get(from..)?;
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}
