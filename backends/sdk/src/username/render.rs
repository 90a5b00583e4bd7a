//! Making a name from a template: each piece's text, cut by its `truncate`, cleaned by the
//! engine's [`Style`]; random characters from the engine's alphabet.

use rand::Rng;

use super::{Inputs, Part, Source, Style, Template, TemplateError};

/// A rendered name, and where its last random character ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The name.
    pub name: String,
    /// Byte length of the name up to the end of its last random piece (0 if none): a cut
    /// shorter than this would make names repeat more often than the template promised.
    pub random_end: usize,
}

impl Rendered {
    /// The name cut to `max_len` characters; an error if the cut would take random characters.
    /// (Names of a cleaned alphabet are ASCII, so bytes are characters.)
    pub fn fit(mut self, max_len: usize) -> Result<String, TemplateError> {
        if self.random_end > max_len {
            return Err(TemplateError::TooLong(max_len));
        }
        self.name.truncate(max_len);
        Ok(self.name)
    }
}

impl Template {
    /// A name for `inputs`, drawing random characters from `rng`.
    pub fn render(&self, inputs: &Inputs<'_>, style: &Style, rng: &mut impl Rng) -> Rendered {
        let mut name = String::new();
        let mut random_end = 0;
        for part in &self.parts {
            match part {
                Part::Literal(text) if style.clean_literals => {
                    name.push_str(&style.clean_str(text))
                }
                Part::Literal(text) => name.push_str(text),
                Part::Marker(n) => {
                    let marker: String = inputs.marker.chars().take(*n).collect();
                    if style.clean_literals {
                        name.push_str(&style.clean_str(&marker));
                    } else {
                        name.push_str(&marker);
                    }
                }
                Part::Value { source, truncate } => {
                    let text = source.value(inputs, style, rng);
                    let cut = truncate.map_or(text.as_str(), |n| first_chars(&text, n));
                    // Cleaning maps each character to one, so cutting first is the same.
                    name.push_str(&style.clean_str(cut));
                    if matches!(source, Source::Random(_)) {
                        random_end = name.len();
                    }
                }
            }
        }
        Rendered { name, random_end }
    }
}

impl Source {
    fn value(self, inputs: &Inputs<'_>, style: &Style, rng: &mut impl Rng) -> String {
        match self {
            Source::DisplayName => inputs.display_name.to_owned(),
            Source::RoleName => inputs.role_name.to_owned(),
            Source::UnixTime => inputs.now.timestamp().to_string(),
            Source::Random(n) => random(style.random_alphabet, n, rng),
        }
    }
}

/// `n` characters drawn from `alphabet`.
pub(crate) fn random(alphabet: &[u8], n: usize, rng: &mut impl Rng) -> String {
    (0..n)
        .map(|_| {
            let i = rng.gen_range(0..alphabet.len().max(1));
            alphabet.get(i).map_or('0', |&b| char::from(b))
        })
        .collect()
}

/// The first `n` characters of `s`.
fn first_chars(s: &str, n: usize) -> &str {
    s.char_indices()
        .nth(n)
        .map_or(s, |(end, _)| s.get(..end).unwrap_or(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use rand::SeedableRng;

    const LOWER: Style = Style {
        random_alphabet: super::super::LOWER_ALPHANUMERIC,
        clean: |c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '_',
        },
        clean_literals: true,
    };
    const VALUES_ONLY: Style = Style {
        random_alphabet: super::super::ALPHANUMERIC,
        clean: |c| if c.is_ascii_alphanumeric() { c } else { '_' },
        clean_literals: false,
    };

    fn inputs<'a>(display_name: &'a str, role_name: &'a str) -> Inputs<'a> {
        Inputs {
            marker: "k3x9q2m7a",
            display_name,
            role_name,
            now: DateTime::from_timestamp(1_714_557_600, 0).unwrap(),
        }
    }

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn values_are_cut_then_cleaned_and_literals_follow_the_style() {
        let t = Template::parse(
            "A/{{.RoleName | truncate 4}}-{{unix_time}}-{{random 8}}",
            64,
        )
        .unwrap();
        let lower = t.render(&inputs("root", "My Role"), &LOWER, &mut rng());
        assert!(
            lower.name.starts_with("a_my_r-1714557600-"),
            "{}",
            lower.name
        );
        assert_eq!(lower.random_end, lower.name.len());
        let kept = t.render(&inputs("root", "My Role"), &VALUES_ONLY, &mut rng());
        assert!(kept.name.starts_with("A/My_R-1714557600-"), "{}", kept.name);
        let random = kept.name.rsplit('-').next().unwrap();
        assert_eq!(random.len(), 8);
        assert!(random
            .bytes()
            .all(|b| VALUES_ONLY.random_alphabet.contains(&b)));
    }

    #[test]
    fn the_marker_and_prefixes() {
        let t = Template::from_parts(vec![
            Part::Literal("v-".into()),
            Part::Marker(5),
            Part::Value {
                source: Source::Random(12),
                truncate: None,
            },
        ]);
        let name = t.render(&inputs("root", "r"), &LOWER, &mut rng()).name;
        assert!(name.starts_with("v-k3x9q"), "{name}");
        assert_eq!(t.prefix(&LOWER), "v-");
        assert_eq!(
            t.marked_prefix("k3x9q2m7a", &LOWER).as_deref(),
            Some("v-k3x9q")
        );
        let custom = Template::parse("V-{{random 8}}", 64).unwrap();
        assert_eq!(custom.prefix(&LOWER), "v-");
        assert_eq!(custom.marked_prefix("k3x9q2m7a", &LOWER), None);
    }

    #[test]
    fn fitting_never_cuts_random_characters() {
        let t = Template::parse("{{random 10}}-{{.RoleName}}", 64).unwrap();
        let rendered = t.render(&inputs("root", "reporting"), &LOWER, &mut rng());
        assert_eq!(rendered.clone().fit(12).unwrap().len(), 12);
        assert_eq!(rendered.clone().fit(10).unwrap().len(), 10);
        let err = rendered.fit(9).unwrap_err().to_string();
        assert!(err.contains("longer than 9"), "{err}");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(first_chars("héllo", 2), "hé");
        assert_eq!(first_chars("hi", 5), "hi");
    }
}
