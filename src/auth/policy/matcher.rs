//! Policy path patterns: what a `path "..."` string matches, and which of several matching
//! non-exact patterns wins.
//!
//! A pattern is one of
//! - exact: `database/creds/readonly` matches only that path;
//! - prefix: a trailing `*` (`secret/app/*`) matches every path starting with the text before it;
//! - segmented: a whole segment `+` (`aws/creds/+`) matches exactly one non-empty segment, and may
//!   be combined with a trailing `*` (`aws/+/ro*`).
//!
//! The [`crate::auth::policy::Acl`] tries an exact pattern first. Among the non-exact patterns that
//! match, [`PathPattern::priority`] orders them so that the most specific wins: the first wildcard
//! appearing later, then no trailing `*`, then fewer `+` segments, then a longer pattern, then the
//! lexically greater one.
//!
//! Two deliberate differences from Vault, both refusing rather than granting: a `*` anywhere but
//! at the end is an error (Vault silently treats it as a literal character, which surprises
//! whoever wrote it), and `+` does not match an empty segment, so `path "db/roles/+"` does not
//! grant `LIST db/roles/`.

use std::cmp::Reverse;

/// A validated pattern from a `path "..."` rule, leading `/` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PathPattern {
    /// The pattern as written (minus a leading `/`); rules with equal text are merged.
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    /// Ends in `*` and has no `+` segment: a plain string prefix.
    Prefix {
        stem: String,
    },
    /// Has at least one `+` segment, perhaps also a trailing `*`.
    Segmented {
        stem: String,
        segments: Vec<Segment>,
        prefix: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Any,
    Literal(String),
}

/// Sort key among matching non-exact patterns: the greatest key wins. Field order is the order
/// of the tie-breaks (derive(Ord) compares fields top to bottom).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Priority<'a> {
    first_wildcard: usize,
    not_prefix: bool,
    fewer_wildcards: Reverse<usize>,
    len: usize,
    text: &'a str,
}

impl PathPattern {
    /// Validate `raw` as written in a policy. The error text says what is wrong with it.
    pub(super) fn parse(raw: &str) -> Result<PathPattern, String> {
        let text = raw.strip_prefix('/').unwrap_or(raw);
        if text.is_empty() {
            return Err("the path is empty".to_owned());
        }
        if text.contains("{{") {
            return Err(
                "policy templating (`{{identity...}}`) is not supported by leasehold".into(),
            );
        }
        if text.contains("+*") {
            return Err("`+*` is not allowed; write `+/*` or name the segment".to_owned());
        }
        let (stem, prefix) = match text.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (text, false),
        };
        if stem.contains('*') {
            return Err(
                "`*` is only allowed as the last character; use `+` for one segment".into(),
            );
        }
        let segmented = stem.split('/').any(|s| s == "+");
        let kind = match (segmented, prefix) {
            (false, false) => Kind::Exact,
            (false, true) => Kind::Prefix {
                stem: stem.to_owned(),
            },
            (true, _) => Kind::Segmented {
                stem: stem.to_owned(),
                segments: stem
                    .split('/')
                    .map(|s| match s {
                        "+" => Segment::Any,
                        lit => Segment::Literal(lit.to_owned()),
                    })
                    .collect(),
                prefix,
            },
        };
        Ok(PathPattern {
            text: text.to_owned(),
            kind,
        })
    }

    /// The pattern as written, without a leading `/`.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// True for a pattern without wildcards.
    pub(super) fn is_exact(&self) -> bool {
        matches!(self.kind, Kind::Exact)
    }

    /// True if `path` (no leading `/`) is covered by this pattern.
    pub(super) fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix { stem } => path.starts_with(stem.as_str()),
            Kind::Segmented {
                segments, prefix, ..
            } => segments_match(segments, *prefix, path),
        }
    }

    /// This pattern's rank among non-exact patterns matching the same path (greater wins).
    /// Exact patterns never compete: an exact match is taken before any of these is consulted.
    pub(super) fn priority(&self) -> Priority<'_> {
        let (first_wildcard, prefix, wildcards, len) = match &self.kind {
            Kind::Exact => (self.text.len(), false, 0, self.text.len()),
            Kind::Prefix { stem } => (stem.len(), true, 0, stem.len()),
            Kind::Segmented {
                stem,
                segments,
                prefix,
            } => (
                first_any_offset(segments),
                *prefix,
                segments.iter().filter(|s| **s == Segment::Any).count(),
                stem.len(),
            ),
        };
        Priority {
            first_wildcard,
            not_prefix: !prefix,
            fewer_wildcards: Reverse(wildcards),
            len,
            text: &self.text,
        }
    }
}

/// Byte offset of the first `+` segment in the pattern text.
fn first_any_offset(segments: &[Segment]) -> usize {
    let mut offset = 0;
    for seg in segments {
        match seg {
            Segment::Any => return offset,
            Segment::Literal(lit) => offset += lit.len() + 1,
        }
    }
    offset
}

fn segments_match(segments: &[Segment], prefix: bool, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() < segments.len() || (!prefix && parts.len() != segments.len()) {
        return false;
    }
    let last = segments.len().saturating_sub(1);
    segments
        .iter()
        .zip(&parts)
        .enumerate()
        .all(|(i, (seg, part))| match seg {
            Segment::Any => !part.is_empty(),
            // With a trailing `*` the last literal is a string prefix, and whatever follows in the
            // path (further segments included) is covered.
            Segment::Literal(lit) if prefix && i == last => part.starts_with(lit.as_str()),
            Segment::Literal(lit) => part == lit,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }

    /// The winning pattern among `patterns` for `path`, as the ACL picks it.
    fn winner<'a>(patterns: &'a [PathPattern], path: &str) -> Option<&'a str> {
        patterns
            .iter()
            .filter(|p| !p.is_exact() && p.matches(path))
            .max_by(|a, b| a.priority().cmp(&b.priority()))
            .map(PathPattern::text)
    }

    #[test]
    fn exact_patterns_match_only_themselves() {
        let p = pat("/database/creds/ro");
        assert!(p.is_exact());
        assert_eq!(p.text(), "database/creds/ro");
        assert!(p.matches("database/creds/ro"));
        assert!(!p.matches("database/creds/ro/"));
        assert!(!p.matches("database/creds/rox"));
        // A `+` inside a segment is an ordinary character.
        assert!(pat("a+b/c").is_exact());
    }

    #[test]
    fn trailing_star_is_a_string_prefix() {
        let p = pat("secret/app*");
        assert!(!p.is_exact());
        assert!(p.matches("secret/app"));
        assert!(p.matches("secret/apple"));
        assert!(p.matches("secret/app/x/y"));
        assert!(!p.matches("secret/ap"));
        assert!(pat("*").matches("anything/at/all"));
    }

    #[test]
    fn plus_matches_exactly_one_non_empty_segment() {
        let p = pat("aws/creds/+");
        assert!(p.matches("aws/creds/deploy"));
        assert!(!p.matches("aws/creds"));
        assert!(!p.matches("aws/creds/"));
        assert!(!p.matches("aws/creds/a/b"));
        assert!(!p.matches("aws/cred/deploy"));

        let mid = pat("+/creds/+");
        assert!(mid.matches("aws/creds/x"));
        assert!(mid.matches("database/creds/x"));
        assert!(!mid.matches("database/roles/x"));
    }

    #[test]
    fn plus_with_trailing_star() {
        let p = pat("kv/+/team-*");
        assert!(p.matches("kv/a/team-x"));
        assert!(p.matches("kv/a/team-"));
        assert!(p.matches("kv/a/team-x/deeper/path"));
        assert!(!p.matches("kv/a/other"));
        assert!(!p.matches("kv/a"));

        let slash = pat("kv/+/*");
        assert!(slash.matches("kv/a/"));
        assert!(slash.matches("kv/a/b/c"));
        assert!(!slash.matches("kv/a"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(PathPattern::parse("").unwrap_err().contains("empty"));
        assert!(PathPattern::parse("/").unwrap_err().contains("empty"));
        assert!(PathPattern::parse("a/+*").unwrap_err().contains("+*"));
        assert!(PathPattern::parse("a/*/b").unwrap_err().contains("last"));
        assert!(PathPattern::parse("a/**").unwrap_err().contains("last"));
        assert!(PathPattern::parse("kv/{{identity.entity.id}}/*")
            .unwrap_err()
            .contains("templating"));
    }

    #[test]
    fn later_wildcard_wins() {
        let ps = [pat("secret/*"), pat("secret/app/*"), pat("secret/+/db")];
        assert_eq!(winner(&ps, "secret/app/db"), Some("secret/app/*"));
        assert_eq!(winner(&ps, "secret/other/db"), Some("secret/+/db"));
        // `foo/a*` has its glob later than `foo/+`'s wildcard.
        let ps = [pat("foo/+"), pat("foo/a*")];
        assert_eq!(winner(&ps, "foo/abc"), Some("foo/a*"));
        // Same position: the later `+` wins over the earlier one.
        let ps = [pat("foo/+/bar/baz"), pat("foo/bar/+/baz")];
        assert_eq!(winner(&ps, "foo/bar/bar/baz"), Some("foo/bar/+/baz"));
    }

    #[test]
    fn no_trailing_star_beats_trailing_star() {
        let ps = [pat("foo/*"), pat("foo/+")];
        assert_eq!(winner(&ps, "foo/x"), Some("foo/+"));
        assert_eq!(winner(&ps, "foo/x/y"), Some("foo/*"));
        let ps = [pat("foo/+/ba*"), pat("foo/+/bar")];
        assert_eq!(winner(&ps, "foo/x/bar"), Some("foo/+/bar"));
    }

    #[test]
    fn fewer_plus_segments_win() {
        let ps = [pat("foo/+/+/baz"), pat("foo/+/bar/baz")];
        assert_eq!(winner(&ps, "foo/x/bar/baz"), Some("foo/+/bar/baz"));
    }

    #[test]
    fn longer_wins_then_lexically_greater() {
        let ps = [pat("foo/+/b*"), pat("foo/+/ba*")];
        assert_eq!(winner(&ps, "foo/x/bar"), Some("foo/+/ba*"));
        let ps = [pat("secret/*"), pat("secret/a*"), pat("sec*")];
        assert_eq!(winner(&ps, "secret/abc"), Some("secret/a*"));
        // Equal wildcard position and neither is a prefix: fewer `+` first, then length.
        let ps = [pat("+/ab/+"), pat("+/abc/+")];
        assert_eq!(winner(&ps, "x/ab/y"), Some("+/ab/+"));
        let ps = [pat("+/a*"), pat("+/ab*")];
        assert_eq!(winner(&ps, "x/abc"), Some("+/ab*"));
        let (b, a) = (pat("+/b/+"), pat("+/a/+"));
        assert!(
            b.priority() > a.priority(),
            "lexically greater text wins a full tie"
        );
    }
}
