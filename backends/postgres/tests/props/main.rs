//! Property tests: template values cannot inject SQL, and splitting never panics.
//!
//! A statement template is built from the forms operators write (`"{{name}}"`, `'{{password}}'`,
//! `E'{{password}}'`, `DO $$ ... $$` blocks, comments), split as the driver splits it, and each
//! piece rendered with generated values the driver lets through and with a plain `x`. The
//! independent lexer in `sql_lexer.rs` must see the same token structure in both: a value that
//! ended its quote or comment, or opened one, would change it. `fuzz/fuzz_targets/pg_render.rs`
//! runs the same check with coverage guidance; this one runs in `make test`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod sql_lexer;

use chrono::DateTime;
use leasehold_database::render::{check_password, check_username, render};
use leasehold_database::Values;
use leasehold_postgres::dialect::{PgDialect, MAX_IDENTIFIER_LEN, UNUSABLE_PASSWORD_CHARS};
use leasehold_postgres::split_statements;
use proptest::prelude::*;
use secrecy::SecretString;

/// One statement each, placeholders only where templates quote them.
const FORMS: &[&str] = &[
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";",
    "ALTER ROLE \"{{username}}\" WITH PASSWORD E'{{password}}';",
    "SELECT '{{name}}' -- made for {{name}}\n;",
    "/* user {{name}} /* nested */ */ GRANT \"app;role\" TO \"{{name}}\";",
    "DO $$\nBEGIN\n  CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';\nEND\n$$;",
    "DO $body$ BEGIN EXECUTE 'ALTER ROLE \"{{name}}\" PASSWORD ''{{password}}'''; END $body$;",
    "COMMENT ON ROLE \"{{name}}\" IS 'for {{username}} until {{expiration}}; bye';",
    "ALTER ROLE \"{{name}}\" SET search_path = '$user', public;",
];

/// User names the driver accepts: 1 to 63 of `[a-z0-9_-]` (`check_username`).
fn allowed_name() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,63}"
}

/// Passwords the driver lets through (`check_password`: no `'`, `\` or `$`), biased towards the
/// characters that mean something in SQL; not only what the generator makes.
fn allowed_password() -> impl Strategy<Value = String> {
    prop_oneof!["[^'\\\\$]{0,40}", "[\"*/;E{}\n-]{1,40}"]
}

fn template() -> impl Strategy<Value = String> {
    prop::collection::vec((0..FORMS.len(), any::<bool>()), 1..6).prop_map(|picks| {
        picks
            .into_iter()
            .map(|(i, newline)| format!("{}{}", FORMS[i], if newline { "\n" } else { " " }))
            .collect()
    })
}

proptest! {
    // No regression files written next to the sources: the failures found are pinned as unit
    // tests where they were fixed.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn values_cannot_change_a_statements_structure(
        template in template(),
        name in allowed_name(),
        password in allowed_password(),
    ) {
        prop_assert!(check_username(&name, MAX_IDENTIFIER_LEN).is_ok());
        prop_assert!(check_password(&SecretString::from(password.clone()), UNUSABLE_PASSWORD_CHARS).is_ok());
        let expiration = DateTime::from_timestamp(1_714_561_205, 0);
        let password = SecretString::from(password);
        let x = SecretString::from("x");
        let hostile = Values { name: &name, password: Some(&password), expiration };
        let plain = Values { name: "x", password: Some(&x), expiration };
        for piece in split_statements(&template).unwrap() {
            let hostile_sql = render(&PgDialect, &piece, &hostile).unwrap();
            let plain_sql = render(&PgDialect, &piece, &plain).unwrap();
            let expected = sql_lexer::shape(&plain_sql).unwrap();
            prop_assert_eq!(
                sql_lexer::shape(&hostile_sql),
                Ok(expected),
                "values changed the structure of {:?}: {:?}", piece, hostile_sql.as_str()
            );
        }
    }

    #[test]
    fn names_outside_the_safe_alphabet_are_refused(name in ".{0,70}") {
        let safe = (1..=63).contains(&name.len())
            && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        prop_assert_eq!(check_username(&name, MAX_IDENTIFIER_LEN).is_ok(), safe, "{:?}", name);
    }

    #[test]
    fn passwords_that_could_end_a_quote_are_refused(password in "[a-z'\\\\$]{0,12}") {
        let quoting = password.contains(['\'', '\\', '$']);
        prop_assert_eq!(check_password(&SecretString::from(password), UNUSABLE_PASSWORD_CHARS).is_err(), quoting);
    }

    #[test]
    fn splitting_never_panics_and_pieces_split_to_themselves(
        text in prop_oneof![".*", "[a-zE ;'\"$/*\\\\\n-]{0,60}"]
    ) {
        if let Ok(pieces) = split_statements(&text) {
            let mut rest = text.as_str();
            for piece in &pieces {
                prop_assert!(!piece.is_empty() && piece.trim() == piece.as_str());
                let at = rest.find(piece.as_str());
                prop_assert!(at.is_some(), "{:?} is not in the input, in order", piece);
                rest = &rest[at.unwrap() + piece.len()..];
                prop_assert_eq!(split_statements(piece), Ok(vec![piece.clone()]));
            }
        }
    }
}
