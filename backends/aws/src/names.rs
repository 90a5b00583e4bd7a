//! Names of the things the engine creates: IAM user names, assumed-role session names and
//! federation-token names.
//!
//! The built-in IAM user name has Vault's shape with our prefix and the mount's marker (see
//! `leasehold_backend::marker`): `lh-<marker>-<display>-<role>-<unix seconds>-<20 random
//! alphanumerics>`, where `<display>-<role>` is cut to 19 characters so that the whole name fits
//! IAM's 64 with its random part whole. Reconciliation destroys only users carrying the marker. Display and role names are
//! normalised first: every character IAM does not allow in a user name (anything outside
//! `A-Za-z0-9+=,.@_-`) becomes `_`. The same form names assumed-role sessions. A federation
//! token's name is limited to 32 characters: `lh-<unix seconds>-<random>` cut to 32.
//!
//! `config/root`'s `username_template` replaces the built-in user/session name with the SDK's
//! template language (`leasehold_backend::username`: `.DisplayName`, `.RoleName` (alias
//! `.PolicyName`), `unix_time` and `random N` with N up to 64 here, each with an optional
//! `| truncate N`; at least 8 random characters). Display and role names are normalised as
//! above, random characters are `A-Za-z0-9`, literal text is kept as written, and the result
//! must be 1 to 64 allowed characters or the issue fails with a 400.

use leasehold_backend::username::{Inputs, Style, Template, ALPHANUMERIC};
use rand::distributions::{Alphanumeric, DistString};

use crate::error::AwsError;

/// Longest IAM user name and assumed-role session name.
pub(crate) const MAX_IAM_NAME: usize = 64;
/// Longest federation-token name.
pub(crate) const MAX_FEDERATION_NAME: usize = 32;
/// Prefix of every name we generate, so our users are recognisable in an account.
pub(crate) const PREFIX: &str = "lh-";

/// True for the characters IAM allows in user, session and federation names.
pub(crate) fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// `c`, or `_` if IAM does not allow it in a name.
fn iam_char(c: char) -> char {
    if is_iam_name_char(c) {
        c
    } else {
        '_'
    }
}

/// `s` with every character IAM does not allow replaced by `_`.
pub(crate) fn normalise(s: &str) -> String {
    s.chars().map(iam_char).collect()
}

/// IAM's alphabet for custom templates: values normalised, literals checked after rendering.
const STYLE: Style = Style {
    random_alphabet: ALPHANUMERIC,
    clean: iam_char,
    clean_literals: false,
};

/// The first `n` characters of `s`.
fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn random(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), n)
}

/// This mount's marker for generated names, made and stored on first use.
pub(crate) async fn mount_marker(
    storage: &dyn leasehold_backend::MountStorage,
) -> Result<String, leasehold_backend::BackendError> {
    leasehold_backend::marker::mount_marker(storage, leasehold_backend::marker::random_marker).await
}

/// Characters of `<display>-<role>` in the built-in name: 64 less the prefix, the marker, the
/// Unix time, the random part and the dashes between them.
const WHO_LEN: usize = 19;

/// What a generated name may draw on: the mount's marker ([`mount_marker`]), the calling
/// token's display name, the engine role's name and the time of issue.
pub(crate) type NameInputs<'a> = Inputs<'a>;

/// A parsed `username_template`; the empty template is the built-in name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsernameTemplate {
    custom: Option<Template>,
}

impl UsernameTemplate {
    /// The fixed text every generated name starts with (`lh-` for the built-in name), which
    /// reconciliation uses to recognise our users. Empty when the template starts with a value.
    pub(crate) fn prefix(&self) -> String {
        match &self.custom {
            None => PREFIX.to_owned(),
            Some(template) => template.prefix(&STYLE),
        }
    }

    /// The fixed text every name made with `marker` starts with, when the template puts the
    /// marker there (the built-in name: `lh-<marker>-`): a user with this prefix was made by
    /// this mount. `None` for custom templates, whose names prove nothing.
    pub(crate) fn marked_prefix(&self, marker: &str) -> Option<String> {
        self.custom.is_none().then(|| format!("{PREFIX}{marker}-"))
    }

    /// Parse a template; errors name the `username_template` field.
    pub(crate) fn parse(text: &str) -> Result<Self, AwsError> {
        if text.trim().is_empty() {
            return Ok(Self { custom: None });
        }
        let custom =
            Template::parse(text, MAX_IAM_NAME).map_err(|e| AwsError::BadRequest(e.to_string()))?;
        Ok(Self {
            custom: Some(custom),
        })
    }

    /// An IAM user name (or assumed-role session name) for `inputs`.
    pub(crate) fn render(&self, inputs: &NameInputs<'_>) -> Result<String, AwsError> {
        let Some(template) = &self.custom else {
            return Ok(builtin_name(inputs));
        };
        let name = template
            .render(inputs, &STYLE, &mut rand::thread_rng())
            .name;
        check_name(&name, MAX_IAM_NAME)?;
        Ok(name)
    }
}

/// `lh-<marker>-<display>-<role>-<unix>-<random>`, as the module docs describe.
fn builtin_name(inputs: &NameInputs<'_>) -> String {
    let who = match (inputs.display_name.is_empty(), inputs.role_name.is_empty()) {
        (true, _) => normalise(inputs.role_name),
        (false, true) => normalise(inputs.display_name),
        (false, false) => format!(
            "{}-{}",
            normalise(inputs.display_name),
            normalise(inputs.role_name)
        ),
    };
    let name = format!(
        "{PREFIX}{}-{}-{}-{}",
        inputs.marker,
        truncate(&who, WHO_LEN),
        inputs.now.timestamp(),
        random(20)
    );
    truncate(&name, MAX_IAM_NAME)
}

/// A federation token's name: `lh-<unix>-<random>`, 32 characters.
pub(crate) fn federation_name(unix_time: i64) -> String {
    truncate(
        &format!("{PREFIX}{unix_time}-{}", random(20)),
        MAX_FEDERATION_NAME,
    )
}

/// A caller-supplied `role_session_name`, normalised and cut to 64 characters.
pub(crate) fn session_name(given: &str) -> Result<String, AwsError> {
    let name = truncate(&normalise(given.trim()), MAX_IAM_NAME);
    if name.chars().count() < 2 {
        return Err(AwsError::field(
            "role_session_name",
            "must be at least 2 characters",
        ));
    }
    Ok(name)
}

/// A rendered name must be non-empty, short enough and made of IAM's characters.
fn check_name(name: &str, max: usize) -> Result<(), AwsError> {
    let len = name.chars().count();
    if len == 0 || len > max {
        return Err(AwsError::field(
            "username_template",
            format!("rendered name {name:?} has {len} characters; IAM allows 1 to {max}"),
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_iam_name_char(*c)) {
        return Err(AwsError::field(
            "username_template",
            format!("rendered name {name:?} contains {c:?}; IAM allows only A-Za-z0-9+=,.@_-"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(display_name: &'a str, role_name: &'a str) -> NameInputs<'a> {
        NameInputs {
            marker: "k3x9q2m7a",
            display_name,
            role_name,
            now: chrono::DateTime::from_timestamp(1_714_557_600, 0).unwrap(),
        }
    }

    #[test]
    fn builtin_user_name_has_vaults_shape_with_our_prefix() {
        let t = UsernameTemplate::parse("").unwrap();
        let name = t.render(&inputs("root", "deploy")).unwrap();
        assert!(
            name.starts_with("lh-k3x9q2m7a-root-deploy-1714557600-"),
            "{name}"
        );
        assert_eq!(
            name.len(),
            "lh-k3x9q2m7a-root-deploy-1714557600-".len() + 20
        );
        assert!(name.chars().all(is_iam_name_char));
        assert_eq!(
            t.marked_prefix("k3x9q2m7a").as_deref(),
            Some("lh-k3x9q2m7a-")
        );
    }

    #[test]
    fn builtin_user_name_is_normalised_and_capped() {
        let t = UsernameTemplate::parse("").unwrap();
        let long = "r".repeat(100);
        let name = t.render(&inputs("token user/é", &long)).unwrap();
        assert_eq!(name.chars().count(), 64);
        assert!(name.starts_with("lh-k3x9q2m7a-token_user__-rrr"), "{name}");
        assert!(name.chars().all(is_iam_name_char), "{name}");
        // The random part is whole even for the longest inputs.
        let random = name.rsplit('-').next().unwrap();
        assert_eq!(random.len(), 20, "{name}");
    }

    #[test]
    fn federation_names_are_32_chars() {
        let name = federation_name(1_714_557_600);
        assert_eq!(name.len(), 32);
        assert!(name.starts_with("lh-1714557600-"));
    }

    #[test]
    fn custom_templates_render() {
        let t =
            UsernameTemplate::parse("ci-{{ .RoleName | truncate 3 }}-{{unix_time}}-{{ random 8 }}")
                .unwrap();
        let name = t.render(&inputs("root", "deploy")).unwrap();
        assert!(name.starts_with("ci-dep-1714557600-"), "{name}");
        assert_eq!(t.marked_prefix("k3x9q2m7a"), None);
        assert_eq!(name.len(), "ci-dep-1714557600-".len() + 8);
    }

    #[test]
    fn bad_templates_name_the_field() {
        for bad in [
            "{{ .Nope }}",
            "{{ random }}",
            "{{ random 99 }}",
            "x {{ .RoleName",
            "x }}",
            "{{ .RoleName | upper }}",
            "{{ .RoleName }}-{{ unix_time }}",
            "{{ random 20 | truncate 4 }}",
        ] {
            let err = UsernameTemplate::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("username_template"), "{bad}: {err}");
        }
        let too_long = UsernameTemplate::parse("{{ random 64 }}{{ random 1 }}").unwrap();
        assert!(too_long.render(&inputs("a", "b")).is_err());
        let bad_char = UsernameTemplate::parse("a/b{{random 8}}").unwrap();
        assert!(bad_char.render(&inputs("a", "b")).is_err());
    }

    #[test]
    fn session_names_are_normalised() {
        assert_eq!(session_name("my session!").unwrap(), "my_session_");
        assert!(session_name("x").is_err());
        assert_eq!(session_name(&"s".repeat(80)).unwrap().len(), 64);
    }
}
