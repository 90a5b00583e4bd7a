//! Reading a template's text: literal text and `{{ ... }}` actions, checked for enough
//! randomness. Every error names the `username_template` field, in one wording for all engines.

use super::{Part, Source, Template, MIN_RANDOM};

/// What is wrong with a template; the text starts with the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` with no `}}` after it.
    #[error("username_template: an action opened with {{{{ is never closed")]
    Unclosed,
    /// `}}` with no `{{` before it.
    #[error("username_template: }}}} without a matching {{{{")]
    StrayClose,
    /// An action the language does not have.
    #[error(
        "username_template: unknown action {{{{{0}}}}}: use .DisplayName, .RoleName, unix_time or \
         random N, optionally followed by | truncate N"
    )]
    UnknownAction(String),
    /// `random N` with N missing or out of range.
    #[error("username_template: random takes a length from 1 to {max}, not {given:?}")]
    BadRandom {
        /// What the template said.
        given: String,
        /// The engine's limit.
        max: usize,
    },
    /// `truncate N` with N not a length.
    #[error("username_template: truncate takes a length, not {0:?}")]
    BadTruncate(String),
    /// A filter other than `truncate N`.
    #[error("username_template: unknown filter {0:?}: only truncate N is supported")]
    UnknownFilter(String),
    /// Fewer than [`MIN_RANDOM`] random characters in all.
    #[error(
        "username_template: must produce at least {MIN_RANDOM} random characters \
         ({{{{random {MIN_RANDOM}}}}}): names that repeat would let one lease's revocation \
         destroy another's account"
    )]
    TooLittleRandom,
    /// The names are longer than the target accepts, and cutting them would cut random
    /// characters.
    #[error(
        "username_template: makes names longer than {0} characters, the most the target \
         accepts, and cutting them would shorten the random part"
    )]
    TooLong(usize),
}

impl Template {
    /// Parse `text`; `random N` may ask for at most `max_random` characters.
    pub fn parse(text: &str, max_random: usize) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let (literal, tail) = rest.split_at(open);
            if literal.contains("}}") {
                return Err(TemplateError::StrayClose);
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.to_owned()));
            }
            let tail = tail.get(2..).unwrap_or_default();
            let close = tail.find("}}").ok_or(TemplateError::Unclosed)?;
            let (action, after) = tail.split_at(close);
            parts.push(parse_action(action, max_random)?);
            rest = after.get(2..).unwrap_or_default();
        }
        if rest.contains("}}") {
            return Err(TemplateError::StrayClose);
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let random: usize = parts
            .iter()
            .map(|part| match part {
                Part::Value {
                    source: Source::Random(n),
                    truncate,
                } => truncate.map_or(*n, |t| t.min(*n)),
                _ => 0,
            })
            .sum();
        if random < MIN_RANDOM {
            return Err(TemplateError::TooLittleRandom);
        }
        Ok(Self { parts })
    }
}

/// One `{{ ... }}` action: a value and optional `| truncate N` filters.
fn parse_action(action: &str, max_random: usize) -> Result<Part, TemplateError> {
    let mut stages = action.split('|').map(str::trim);
    let head: Vec<&str> = stages
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let source = match head.as_slice() {
        [".DisplayName"] => Source::DisplayName,
        [".RoleName"] | [".PolicyName"] => Source::RoleName,
        ["unix_time"] => Source::UnixTime,
        ["random", n] => Source::Random(
            n.parse()
                .ok()
                .filter(|n| (1..=max_random).contains(n))
                .ok_or_else(|| TemplateError::BadRandom {
                    given: (*n).to_owned(),
                    max: max_random,
                })?,
        ),
        _ => return Err(TemplateError::UnknownAction(action.to_owned())),
    };
    let mut truncate: Option<usize> = None;
    for stage in stages {
        match stage.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["truncate", n] => {
                let n: usize = n
                    .parse()
                    .map_err(|_| TemplateError::BadTruncate((*n).to_owned()))?;
                truncate = Some(truncate.map_or(n, |m| m.min(n)));
            }
            _ => return Err(TemplateError::UnknownFilter(stage.to_owned())),
        }
    }
    Ok(Part::Value { source, truncate })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(source: Source, truncate: Option<usize>) -> Part {
        Part::Value { source, truncate }
    }

    #[test]
    fn literals_and_actions() {
        let t = Template::parse(
            "ci-{{ .RoleName | truncate 3 }}.{{.PolicyName}}{{unix_time}}{{ random 8 }}-{{.DisplayName|truncate 9|truncate 4}}",
            64,
        )
        .unwrap();
        assert_eq!(
            t.parts,
            [
                Part::Literal("ci-".into()),
                value(Source::RoleName, Some(3)),
                Part::Literal(".".into()),
                value(Source::RoleName, None),
                value(Source::UnixTime, None),
                value(Source::Random(8), None),
                Part::Literal("-".into()),
                value(Source::DisplayName, Some(4)),
            ]
        );
    }

    #[test]
    fn randomness_counts_across_actions_after_truncation() {
        assert!(Template::parse("{{random 4}}-{{random 4}}", 64).is_ok());
        assert_eq!(
            Template::parse("{{random 20 | truncate 7}}", 64),
            Err(TemplateError::TooLittleRandom)
        );
        assert_eq!(
            Template::parse("v-{{.RoleName}}-{{unix_time}}", 64),
            Err(TemplateError::TooLittleRandom)
        );
    }

    #[test]
    fn every_error_names_the_field() {
        for (bad, max) in [
            ("{{ .Nope }}{{random 8}}", 64),
            ("{{ random }}", 64),
            ("{{ random 99 }}", 64),
            ("{{ random 129 }}", 128),
            ("x {{ .RoleName", 64),
            ("x }}{{random 8}}", 64),
            ("{{random 8}} }}", 64),
            ("{{ .RoleName | upper }}{{random 8}}", 64),
            ("{{ .RoleName | truncate x }}{{random 8}}", 64),
            ("{{ printf \"v-%s\" .RoleName }}", 64),
        ] {
            let err = Template::parse(bad, max).unwrap_err().to_string();
            assert!(err.starts_with("username_template: "), "{bad}: {err}");
        }
        let err = Template::parse("{{.Bogus}}{{random 9}}", 64).unwrap_err();
        assert!(err.to_string().contains("{{.Bogus}}"), "{err}");
        assert!(Template::parse("{{random 100}}", 128).is_ok());
    }
}
