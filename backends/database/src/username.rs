//! Generated user names and the `username_template` that shapes them.
//!
//! The default is Vault's shape with this mount's marker after the `v-`:
//! `v-<marker 9>-<display name, 8>-<role, 8>-<20 random>-<unix seconds>` (61 characters, within
//! PostgreSQL's 63), shorter shapes for shorter limits (see [`UsernameTemplate::default_for`]).
//! The marker (see `marker.rs`) is what lets reconciliation prove a user is this mount's: a name
//! Vault makes has at most 8 characters between `v-` and the next `-`, so a 9-character marker
//! segment never matches one. A connection may set its own `username_template` in the SDK's
//! template language (`leasehold_backend::username`: `{{.DisplayName}}`, `{{.RoleName}}`,
//! `{{unix_time}}`, `{{random N}}` with N up to 128 here, each with an optional
//! `| truncate N`), checked when the connection is written; a custom template carries no
//! marker, so its users are reported by reconciliation but never destroyed by it.
//!
//! Every name is then made safe: lower-cased, and anything outside `[a-z0-9_-]` becomes `_`;
//! random characters are drawn from `[a-z0-9]`. That alphabet is what lets drivers put the name
//! inside `"{{name}}"` quotes without any way to break out of them. A name longer than the
//! driver's limit is cut, unless the cut would take random characters.

use leasehold_backend::username::{Inputs, Part, Source, Style, Template, MIN_RANDOM};
use rand::Rng;

/// Largest N in `{{random N}}`.
const MAX_RANDOM: usize = 128;
/// Characters of the mount marker in the default names: one more than the 8 characters Vault's
/// default template puts between `v-` and the next `-`.
pub(crate) const MARKER_LEN: usize = leasehold_backend::marker::MARKER_LEN;

/// The default template, in the template language.
pub const DEFAULT_TEMPLATE: &str =
    "v-{{.DisplayName | truncate 8}}-{{.RoleName | truncate 8}}-{{random 20}}-{{unix_time}}";

/// The safe alphabet: everything is cleaned, literals too, and random characters are `[a-z0-9]`.
const STYLE: Style = leasehold_backend::username::SAFE;

/// A parsed `username_template` (the SDK's language, this engine's alphabet and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsernameTemplate(Template);

/// What a name is made from.
pub(crate) type UsernameInputs<'a> = Inputs<'a>;

fn value(source: Source, truncate: Option<usize>) -> Part {
    Part::Value { source, truncate }
}

fn literal(text: &str) -> Part {
    Part::Literal(text.to_owned())
}

/// What Vault's default template puts after `v-`: `<display 8>-<role 8>-<random 20>-<unix time>`.
fn vault_shape() -> [Part; 7] {
    [
        value(Source::DisplayName, Some(8)),
        literal("-"),
        value(Source::RoleName, Some(8)),
        literal("-"),
        value(Source::Random(20), None),
        literal("-"),
        value(Source::UnixTime, None),
    ]
}

impl UsernameTemplate {
    /// The template used when a connection sets none.
    pub(crate) fn vault_default() -> Self {
        let mut parts = vec![literal("v-")];
        parts.extend(vault_shape());
        Self(Template::from_parts(parts))
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
        let parts = if max_len >= 61 {
            let mut parts = vec![literal("v-"), Part::Marker(MARKER_LEN), literal("-")];
            parts.extend(vault_shape());
            parts
        } else if max_len >= 32 {
            vec![
                literal("v-"),
                Part::Marker(MARKER_LEN),
                literal("-"),
                value(Source::RoleName, Some(4)),
                literal("-"),
                value(Source::Random(max_len.saturating_sub(17).min(20)), None),
            ]
        } else if max_len >= 16 {
            vec![
                literal("v-"),
                Part::Marker(5),
                value(Source::Random(max_len.saturating_sub(7)), None),
            ]
        } else {
            vec![
                literal("v-"),
                value(
                    Source::Random(max_len.saturating_sub(2).max(MIN_RANDOM)),
                    None,
                ),
            ]
        };
        Self(Template::from_parts(parts))
    }

    /// The fixed text every name made with `marker` starts with, when it holds the marker
    /// (`v-k3x9q2m7a-` for the default): a name with this prefix was made by this mount.
    /// `None` for templates without a marker (custom ones), whose names prove nothing.
    pub(crate) fn marked_prefix(&self, marker: &str) -> Option<String> {
        self.0.marked_prefix(marker, &STYLE)
    }

    /// The fixed text every generated name starts with (`v-` for the default), which
    /// reconciliation uses to recognise our users. Empty when the template starts with a value.
    pub(crate) fn prefix(&self) -> String {
        self.0.prefix(&STYLE)
    }

    /// Parse a template; the error text is shown to the caller as it is.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        Template::parse(text, MAX_RANDOM)
            .map(Self)
            .map_err(|e| e.to_string())
    }

    /// A safe user name of at most `max_len` characters. Fails if the cut would shorten a
    /// random part (the name would no longer be unique).
    pub(crate) fn render(
        &self,
        inputs: &UsernameInputs<'_>,
        rng: &mut impl Rng,
        max_len: usize,
    ) -> Result<String, String> {
        self.0
            .render(inputs, &STYLE, rng)
            .fit(max_len)
            .map_err(|e| e.to_string())
    }
}

/// True if `name` uses only the safe alphabet (and is not empty).
pub fn is_safe_username(name: &str) -> bool {
    leasehold_backend::username::is_safe_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
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
                now: leasehold_backend::clock::Clock::now(&leasehold_backend::clock::SystemClock),
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
