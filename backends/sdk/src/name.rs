//! The name rule for what an engine keeps by name (roles, connections): ASCII letters, digits,
//! `_`, `-` and `.`, beginning and ending with a letter, digit or `_` — the shape Vault's
//! framework accepts in such paths. A name is a storage key segment, so the rule also keeps `/`
//! (and `..`-style segments) out of keys. Engines either do not route a path whose name breaks
//! the rule (404, as Vault's pattern match does) or refuse it with [`InvalidName`].

/// A name that breaks the rule; its text is the one message every engine shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid name {0:?}: use ASCII letters, digits, '_', '-' and '.', beginning and ending with \
     a letter, digit or '_'"
)]
pub struct InvalidName(pub String);

/// True if `name` keeps the rule.
pub fn is_valid(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    name.chars().next().is_some_and(word)
        && name.chars().next_back().is_some_and(word)
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
}

/// `Ok` if `name` keeps the rule.
pub fn check(name: &str) -> Result<(), InvalidName> {
    if is_valid(name) {
        Ok(())
    } else {
        Err(InvalidName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_characters_dashes_and_dots_inside() {
        for ok in ["a", "_", "deploy-1.ci_x", "A.b-C", "x_"] {
            assert!(is_valid(ok), "{ok}");
            assert_eq!(check(ok), Ok(()));
        }
    }

    #[test]
    fn no_slashes_edges_or_other_characters() {
        for bad in [
            "", "-a", "a-", ".a", "a.", "a/b", "..", "a b", "é", "a\u{0}",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
        let err = check("a/b").unwrap_err().to_string();
        assert!(err.starts_with("invalid name \"a/b\""), "{err}");
    }
}
