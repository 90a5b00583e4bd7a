//! Generated user names and the `username_template` that shapes them.
//!
//! The default is Vault's shape with this mount's marker after the `v-`:
//! `v-<marker 9>-<display name, 8>-<role, 8>-<20 random>-<unix seconds>` (61 characters, within
//! PostgreSQL's 63), shorter shapes for shorter limits (see [`UsernameTemplate::default_for`]).
//! The marker (see `marker.rs`) is what lets reconciliation prove a user is this mount's: a name
//! Vault makes has at most 8 characters between `v-` and the next `-`, so a 9-character marker
//! segment never matches one. A connection may set its own `username_template` in a small
//! language, checked when the connection is written (a custom template carries no marker, so
//! its users are reported by reconciliation but never destroyed by it):
//!
//! | placeholder | value |
//! |---|---|
//! | `{{.DisplayName}}` | the calling token's display name (`root`, `token`, `approle`) |
//! | `{{.RoleName}}` | the role's name |
//! | `{{random N}}` | N random characters from `[a-z0-9]`, 1 <= N <= 128 |
//! | `{{unix_time}}` | seconds since 1970 |
//!
//! Any placeholder may end in `| truncate N` (`{{.RoleName | truncate 8}}`). The template must
//! hold a `{{random N}}` with N >= 8: a user name names one lease's account, and two leases
//! sharing one would destroy each other's users.
//!
//! Every name is then made safe: lower-cased, and anything outside `[a-z0-9_-]` becomes `_`.
//! That alphabet is what lets drivers put the name inside `"{{name}}"` quotes without any way
//! to break out of them.

use chrono::{DateTime, Utc};
use rand::Rng;

/// The fewest random characters a template must ask for (36^8 ≈ 2.8e12 names).
const MIN_RANDOM: usize = 8;
const MAX_RANDOM: usize = 128;
const RANDOM_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Characters of the mount marker in the default names: one more than the 8 characters Vault's
/// default template puts between `v-` and the next `-`.
pub(crate) const MARKER_LEN: usize = leasehold_backend::marker::MARKER_LEN;

/// The default template, in the template language.
pub const DEFAULT_TEMPLATE: &str =
    "v-{{.DisplayName | truncate 8}}-{{.RoleName | truncate 8}}-{{random 20}}-{{unix_time}}";

const SUPPORTED: &str = "use {{.DisplayName}}, {{.RoleName}}, {{random N}} or {{unix_time}}, \
     optionally followed by \"| truncate N\"";

/// A parsed `username_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsernameTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// The first N characters of the mount's marker (default templates only).
    Marker(usize),
    Value {
        source: Source,
        truncate: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    DisplayName,
    RoleName,
    Random(usize),
    UnixTime,
}

/// What a name is made from.
pub(crate) struct UsernameInputs<'a> {
    /// The mount's marker (`marker.rs`).
    pub marker: &'a str,
    pub display_name: &'a str,
    pub role_name: &'a str,
    pub now: DateTime<Utc>,
}

impl UsernameTemplate {
    /// The template used when a connection sets none.
    pub(crate) fn vault_default() -> Self {
        let value = |source, truncate| Part::Value { source, truncate };
        let dash = || Part::Literal("-".to_owned());
        Self {
            parts: vec![
                Part::Literal("v-".to_owned()),
                value(Source::DisplayName, Some(8)),
                dash(),
                value(Source::RoleName, Some(8)),
                dash(),
                value(Source::Random(20), None),
                dash(),
                value(Source::UnixTime, None),
            ],
        }
    }

    /// The default for a database whose names may be `max_len` long, each carrying the mount's
    /// marker right after `v-`:
    ///
    /// | limit | shape | length |
    /// |---|---|---|
    /// | >= 61 (PostgreSQL 63) | `v-<marker 9>-<display 8>-<role 8>-<random 20>-<unix time>` | 61 |
    /// | 32..=60 (MySQL 32) | `v-<marker 9>-<role 4>-<random>` | the limit (random 15..=20) |
    /// | 16..=31 (legacy MySQL 16) | `v-<marker 5><random>` | the limit (random >= 9) |
    /// | < 16 | `v-<random>`, no marker: such names are never reconciled | the limit |
    ///
    /// In the 16-character shape the marker is not followed by `-`; a Vault name (`v-` then at
    /// most 4 characters and a `-` in Vault's short shapes) still cannot carry it, since our
    /// marker has no `-`.
    pub(crate) fn default_for(max_len: usize) -> Self {
        let value = |source, truncate| Part::Value { source, truncate };
        let dash = || Part::Literal("-".to_owned());
        let v = || Part::Literal("v-".to_owned());
        if max_len >= 61 {
            return Self {
                parts: vec![
                    v(),
                    Part::Marker(MARKER_LEN),
                    dash(),
                    value(Source::DisplayName, Some(8)),
                    dash(),
                    value(Source::RoleName, Some(8)),
                    dash(),
                    value(Source::Random(20), None),
                    dash(),
                    value(Source::UnixTime, None),
                ],
            };
        }
        if max_len >= 32 {
            return Self {
                parts: vec![
                    v(),
                    Part::Marker(MARKER_LEN),
                    dash(),
                    value(Source::RoleName, Some(4)),
                    dash(),
                    value(Source::Random(max_len.saturating_sub(17).min(20)), None),
                ],
            };
        }
        if max_len >= 16 {
            return Self {
                parts: vec![
                    v(),
                    Part::Marker(5),
                    value(Source::Random(max_len.saturating_sub(7)), None),
                ],
            };
        }
        Self {
            parts: vec![
                v(),
                value(
                    Source::Random(max_len.saturating_sub(2).max(MIN_RANDOM)),
                    None,
                ),
            ],
        }
    }

    /// The fixed text every name made with `marker` starts with, when it holds the marker
    /// (`v-k3x9q2m7a-` for the default): a name with this prefix was made by this mount.
    /// `None` for templates without a marker (custom ones), whose names prove nothing.
    pub(crate) fn marked_prefix(&self, marker: &str) -> Option<String> {
        let mut prefix = String::new();
        let mut marked = false;
        for part in &self.parts {
            match part {
                Part::Literal(text) => prefix.push_str(&sanitize(text)),
                Part::Marker(n) => {
                    prefix.push_str(&sanitize(&marker.chars().take(*n).collect::<String>()));
                    marked = true;
                }
                Part::Value { .. } => break,
            }
        }
        marked.then_some(prefix)
    }

    /// The fixed text every generated name starts with (`v-` for the default), which
    /// reconciliation uses to recognise our users. Empty when the template starts with a value.
    pub(crate) fn prefix(&self) -> String {
        match self.parts.first() {
            Some(Part::Literal(text)) => sanitize(text),
            _ => String::new(),
        }
    }

    /// Parse a template; the error text is shown to the caller as it is.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let (literal, tail) = rest.split_at(open);
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.to_owned()));
            }
            let body_and_rest = tail.get(2..).unwrap_or_default();
            let close = body_and_rest
                .find("}}")
                .ok_or_else(|| format!("username_template has an unclosed \"{{{{\": {text:?}"))?;
            let body = body_and_rest.get(..close).unwrap_or_default();
            parts.push(parse_placeholder(body)?);
            rest = body_and_rest.get(close + 2..).unwrap_or_default();
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let has_random = parts.iter().any(|p| {
            matches!(p, Part::Value { source: Source::Random(n), truncate }
                if *n >= MIN_RANDOM && truncate.is_none_or(|t| t >= MIN_RANDOM))
        });
        if !has_random {
            return Err(format!(
                "username_template must contain {{{{random N}}}} with N >= {MIN_RANDOM}, so that \
                 every lease gets a user of its own"
            ));
        }
        Ok(Self { parts })
    }

    /// A safe user name of at most `max_len` characters. Fails if the cut would shorten the
    /// first random part (the name would no longer be unique).
    pub(crate) fn render(
        &self,
        inputs: &UsernameInputs<'_>,
        rng: &mut impl Rng,
        max_len: usize,
    ) -> Result<String, String> {
        let mut name = String::new();
        let mut random_end = None;
        for part in &self.parts {
            let text = match part {
                Part::Literal(s) => s.clone(),
                Part::Marker(n) => inputs.marker.chars().take(*n).collect(),
                Part::Value { source, truncate } => {
                    let value = source.value(inputs, rng);
                    match truncate {
                        Some(n) => value.chars().take(*n).collect(),
                        None => value,
                    }
                }
            };
            // Sanitizing part by part gives the same result as sanitizing the whole (it maps
            // each character to one ASCII character) and lets us track where the random part ends.
            name.push_str(&sanitize(&text));
            if random_end.is_none()
                && matches!(
                    part,
                    Part::Value {
                        source: Source::Random(_),
                        ..
                    }
                )
            {
                random_end = Some(name.len());
            }
        }
        if random_end.is_some_and(|end| end > max_len) {
            return Err(format!(
                "username_template makes names longer than {max_len} characters, the most this \
                 database accepts, and cutting them would shorten the random part"
            ));
        }
        name.truncate(max_len);
        Ok(name)
    }
}

impl Source {
    fn value(self, inputs: &UsernameInputs<'_>, rng: &mut impl Rng) -> String {
        match self {
            Source::DisplayName => inputs.display_name.to_owned(),
            Source::RoleName => inputs.role_name.to_owned(),
            Source::UnixTime => inputs.now.timestamp().to_string(),
            Source::Random(n) => (0..n)
                .map(|_| {
                    let i = rng.gen_range(0..RANDOM_ALPHABET.len());
                    RANDOM_ALPHABET.get(i).map_or('0', |&b| char::from(b))
                })
                .collect(),
        }
    }
}

fn parse_placeholder(body: &str) -> Result<Part, String> {
    let unsupported =
        || format!("unsupported placeholder \"{{{{{body}}}}}\" in username_template: {SUPPORTED}");
    let mut stages = body.split('|').map(str::trim);
    let head: Vec<&str> = stages
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let source = match head.as_slice() {
        [".DisplayName"] => Source::DisplayName,
        [".RoleName"] => Source::RoleName,
        ["unix_time"] => Source::UnixTime,
        ["random", n] => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_RANDOM).contains(&n) => Source::Random(n),
            _ => {
                return Err(format!(
                    "{{{{random N}}}} in username_template needs 1 <= N <= {MAX_RANDOM}, got {n:?}"
                ))
            }
        },
        _ => return Err(unsupported()),
    };
    let mut truncate = None;
    for stage in stages {
        let words: Vec<&str> = stage.split_whitespace().collect();
        match words.as_slice() {
            ["truncate", n] => {
                let n: usize = n.parse().map_err(|_| unsupported())?;
                truncate = Some(truncate.map_or(n, |t: usize| t.min(n)));
            }
            _ => return Err(unsupported()),
        }
    }
    Ok(Part::Value { source, truncate })
}

/// Lower-case, and anything outside `[a-z0-9_-]` becomes `_`.
pub(crate) fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '_',
        })
        .collect()
}

/// True if `name` uses only the safe alphabet (and is not empty).
pub fn is_safe_username(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn inputs<'a>(display: &'a str, role: &'a str) -> UsernameInputs<'a> {
        UsernameInputs {
            marker: "k3x9q2m7a",
            display_name: display,
            role_name: role,
            now: DateTime::from_timestamp(1_714_557_600, 0).unwrap(),
        }
    }

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn default_is_vault_shaped_and_safe() {
        assert_eq!(
            UsernameTemplate::parse(DEFAULT_TEMPLATE).unwrap(),
            UsernameTemplate::vault_default()
        );
        let name = UsernameTemplate::vault_default()
            .render(&inputs("Tok CI Bot", "MyRoleName"), &mut rng(), 63)
            .unwrap();
        let pieces: Vec<&str> = name.split('-').collect();
        assert_eq!(pieces[0], "v");
        assert_eq!(pieces[1], "tok_ci_b");
        assert_eq!(pieces[2], "myrolena");
        assert_eq!(pieces[3].len(), 20);
        assert_eq!(pieces[4], "1714557600");
        assert!(is_safe_username(&name), "{name}");
    }

    #[test]
    fn names_are_cut_to_the_driver_limit_but_never_into_the_random_part() {
        let t = UsernameTemplate::vault_default();
        let name = t.render(&inputs("root", "ro"), &mut rng(), 40).unwrap();
        assert_eq!(name.len(), 40);
        assert!(t.render(&inputs("root", "ro"), &mut rng(), 20).is_err());
    }

    #[test]
    fn hostile_inputs_cannot_leave_the_alphabet() {
        let t = UsernameTemplate::parse("{{.RoleName}}\"; DROP ROLE x; --{{random 8}}").unwrap();
        let name = t
            .render(&inputs("root", "a\"b'c\\d é"), &mut rng(), 63)
            .unwrap();
        assert!(is_safe_username(&name), "{name}");
        assert!(name.starts_with("a_b_c_d__"), "{name}");
    }

    #[test]
    fn custom_templates() {
        let t =
            UsernameTemplate::parse("app_{{ .RoleName | truncate 3 }}_{{random 10}}_{{unix_time}}")
                .unwrap();
        let name = t
            .render(&inputs("root", "reporting"), &mut rng(), 63)
            .unwrap();
        assert!(name.starts_with("app_rep_"), "{name}");
        assert!(name.ends_with("_1714557600"), "{name}");
    }

    #[test]
    fn rejects_unknown_placeholders_and_missing_randomness() {
        for bad in [
            "{{.Bogus}}-{{random 20}}",
            "{{ printf \"v-%s\" .RoleName }}",
            "{{random 20 | uppercase}}",
            "{{random 20",
            "{{random 500}}",
            "v-{{.RoleName}}-{{unix_time}}",
            "{{random 4}}",
            "{{random 20 | truncate 2}}",
        ] {
            assert!(UsernameTemplate::parse(bad).is_err(), "{bad}");
        }
        let err = UsernameTemplate::parse("{{.Bogus}}{{random 9}}").unwrap_err();
        assert!(err.contains("{{.Bogus}}"), "{err}");
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;

    #[test]
    fn defaults_fit_every_limit() {
        for max in [16usize, 32, 63] {
            let inputs = UsernameInputs {
                marker: "k3x9q2m7a",
                display_name: "approle-long",
                role_name: "migration-role",
                now: chrono::Utc::now(),
            };
            let name = UsernameTemplate::default_for(max)
                .render(&inputs, &mut rand::thread_rng(), max)
                .unwrap();
            assert!(name.len() <= max && name.starts_with("v-"), "{max}: {name}");
            let prefix = UsernameTemplate::default_for(max)
                .marked_prefix("k3x9q2m7a")
                .unwrap();
            assert!(name.starts_with(&prefix), "{max}: {name} vs {prefix}");
            assert!(prefix.starts_with("v-k3x9q"), "{prefix}");
            // A Vault-made name never carries the marker: its first segment is at most 8 long
            // (4 in Vault's short shape for legacy MySQL, the only one where our marker is cut).
            let vault_name = if max < 32 {
                "v-k3x9-abcd1234"
            } else {
                "v-k3x9q2m7-root-x-abc"
            };
            assert!(!vault_name.starts_with(&prefix), "{prefix}");
        }
        assert_eq!(
            UsernameTemplate::default_for(63).marked_prefix("k3x9q2m7a"),
            Some("v-k3x9q2m7a-".to_owned())
        );
        assert_eq!(
            UsernameTemplate::parse("v-{{random 20}}")
                .unwrap()
                .marked_prefix("k3x9q2m7a"),
            None
        );
    }
}
