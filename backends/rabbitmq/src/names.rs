//! Generated user names and the `username_template` that shapes them.
//!
//! The built-in name is `lh-<marker>-<display name, 16>-<role, 16>-<20 random>`: our prefix, then
//! the mount's marker (`leasehold_backend::marker`), which is what lets reconciliation prove a
//! user is this mount's. Vault's own default (`<display name>-<uuid>`) carries no marker.
//! `config/connection`'s `username_template` replaces it with the SDK's template language
//! (`{{.DisplayName}}`, `{{.RoleName}}`, `{{unix_time}}`, `{{random N}}`, each with an optional
//! `| truncate N`); such names carry no marker, so reconciliation reports them and never
//! destroys them.
//!
//! Every name is in the safe alphabet (`[a-z0-9_-]`, lower-cased, anything else becomes `_`):
//! it is a path segment of the management API, and it is what the lease and the audit log
//! record. At most [`MAX_LEN`] characters.

use leasehold_backend::marker::MARKER_LEN;
use leasehold_backend::username::{Inputs, Part, Source, Template, SAFE};
use leasehold_backend::MountStorage;

use crate::error::RabbitMqError;

/// The longest name we make. The broker sets no limit; this keeps names readable in its UI.
pub(crate) const MAX_LEN: usize = 128;
/// Prefix of the built-in names.
pub(crate) const PREFIX: &str = "lh-";

/// A parsed `username_template`; the empty template is the built-in name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsernameTemplate(Template);

impl UsernameTemplate {
    /// The built-in template.
    fn builtin() -> Self {
        let value = |source, n| Part::Value {
            source,
            truncate: n,
        };
        let dash = || Part::Literal("-".into());
        Self(Template::from_parts(vec![
            Part::Literal(PREFIX.into()),
            Part::Marker(MARKER_LEN),
            dash(),
            value(Source::DisplayName, Some(16)),
            dash(),
            value(Source::RoleName, Some(16)),
            dash(),
            value(Source::Random(20), None),
        ]))
    }

    /// Parse a template; empty is the built-in one. Errors name `username_template`.
    pub(crate) fn parse(text: &str) -> Result<Self, RabbitMqError> {
        if text.trim().is_empty() {
            return Ok(Self::builtin());
        }
        Template::parse(text, MAX_LEN)
            .map(Self)
            .map_err(|e| RabbitMqError::BadRequest(e.to_string()))
    }

    /// The fixed text every name starts with (`lh-` for the built-in names), by which
    /// reconciliation lists users; empty when the template starts with a value.
    pub(crate) fn prefix(&self) -> String {
        self.0.prefix(&SAFE)
    }

    /// The fixed text every name made with `marker` starts with (`lh-<marker>-`), or `None`
    /// for a custom template, whose names prove nothing.
    pub(crate) fn marked_prefix(&self, marker: &str) -> Option<String> {
        self.0.marked_prefix(marker, &SAFE)
    }

    /// A name for `inputs`.
    pub(crate) fn render(&self, inputs: &Inputs<'_>) -> Result<String, RabbitMqError> {
        self.0
            .render(inputs, &SAFE, &mut rand::thread_rng())
            .fit(MAX_LEN)
            .map_err(|e| RabbitMqError::BadRequest(e.to_string()))
    }
}

/// This mount's marker, made and stored on first use.
pub(crate) async fn mount_marker(storage: &dyn MountStorage) -> Result<String, RabbitMqError> {
    leasehold_backend::marker::mount_marker(storage, leasehold_backend::marker::random_marker)
        .await
        .map_err(|e| RabbitMqError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leasehold_backend::username::is_safe_name;

    fn inputs<'a>(display_name: &'a str, role_name: &'a str) -> Inputs<'a> {
        Inputs {
            marker: "k3x9q2m7a",
            display_name,
            role_name,
            now: chrono::DateTime::from_timestamp(1_714_557_600, 0).unwrap(),
        }
    }

    #[test]
    fn builtin_names_carry_the_marker_and_stay_safe() {
        let t = UsernameTemplate::parse("").unwrap();
        let name = t.render(&inputs("Token CI/bot", "Pub-Sub")).unwrap();
        assert!(
            name.starts_with("lh-k3x9q2m7a-token_ci_bot-pub-sub-"),
            "{name}"
        );
        assert_eq!(name.len(), "lh-k3x9q2m7a-token_ci_bot-pub-sub-".len() + 20);
        assert!(is_safe_name(&name), "{name}");
        assert_eq!(t.prefix(), "lh-");
        assert_eq!(
            t.marked_prefix("k3x9q2m7a").as_deref(),
            Some("lh-k3x9q2m7a-")
        );
    }

    #[test]
    fn custom_templates_are_safe_and_unmarked() {
        let t = UsernameTemplate::parse("MQ {{.RoleName}}-{{random 10}}").unwrap();
        let name = t.render(&inputs("root", "a/../b")).unwrap();
        assert!(name.starts_with("mq_a____b-"), "{name}");
        assert!(is_safe_name(&name), "{name}");
        assert_eq!(t.marked_prefix("k3x9q2m7a"), None);
        assert_eq!(t.prefix(), "mq_");
        for bad in [
            "{{ printf \"%s-%s\" (.DisplayName) (uuid) }}",
            "{{.RoleName}}",
        ] {
            let e = UsernameTemplate::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("username_template"), "{bad}: {e}");
        }
    }
}
