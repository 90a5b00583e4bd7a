//! Template values cannot inject SQL. A creation template is built from the forms operators
//! write (`"{{name}}"`, `'{{password}}'`, `E'{{password}}'`, `DO $$ ... $$` blocks, comments),
//! split as the driver splits it, and each piece rendered twice: once with adversarial values the
//! driver lets through, once with plain `x`. An independent lexer
//! (`backends/postgres/tests/props/sql_lexer.rs`, written from PostgreSQL's manual, not shared
//! with the splitter) must see the same token structure in both: a value that ends its quote or
//! comment, or starts one, changes it.
//!
//! What the driver lets through is decided by its own gates: `check_username` (names: 1 to 63 of
//! `[a-z0-9_-]`, checked here against that contract too) and `check_password`. With only `'`
//! and `\` refused, this target (and the property test) found that `$$` in a password ended a
//! `DO $$` body; `check_password` now refuses `$` too.

#![no_main]

use arbitrary::Arbitrary;
use chrono::DateTime;
use leasehold_database::render::{check_password, check_username, render};
use leasehold_database::Values;
use leasehold_postgres::dialect::{PgDialect, MAX_IDENTIFIER_LEN, UNUSABLE_PASSWORD_CHARS};
use leasehold_postgres::split_statements;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

#[path = "../../backends/postgres/tests/props/sql_lexer.rs"]
mod sql_lexer;

/// Statement forms; each is one statement with placeholders in a quoted context.
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

#[derive(Debug, Arbitrary)]
struct Input {
    forms: Vec<u8>,
    separators: Vec<bool>,
    name: String,
    password: String,
}

fn name_allowed(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

fuzz_target!(|input: Input| {
    assert_eq!(
        check_username(&input.name, MAX_IDENTIFIER_LEN).is_ok(),
        name_allowed(&input.name),
        "check_username disagrees with its contract on {:?}",
        input.name
    );
    let password = SecretString::from(input.password.clone());
    if !name_allowed(&input.name) || check_password(&password, UNUSABLE_PASSWORD_CHARS).is_err() {
        return;
    }
    let mut template = String::new();
    for (i, choice) in input.forms.iter().take(8).enumerate() {
        let form = FORMS
            .get(usize::from(*choice) % FORMS.len())
            .copied()
            .unwrap_or_default();
        template.push_str(form);
        let newline = input.separators.get(i).copied().unwrap_or(false);
        template.push_str(if newline { "\n" } else { " " });
    }
    let pieces = split_statements(&template).expect("every form is well quoted");
    let expiration = DateTime::from_timestamp(1_714_561_205, 0);
    let plain_password = SecretString::from("x");
    let hostile = Values {
        name: &input.name,
        password: Some(&password),
        expiration,
    };
    let plain = Values {
        name: "x",
        password: Some(&plain_password),
        expiration,
    };
    for piece in &pieces {
        let hostile_sql = render(&PgDialect, piece, &hostile).expect("all values are present");
        let plain_sql = render(&PgDialect, piece, &plain).expect("all values are present");
        let expected = sql_lexer::shape(&plain_sql).expect("the plain rendering lexes");
        assert_eq!(
            sql_lexer::shape(&hostile_sql).as_ref(),
            Ok(&expected),
            "values changed the structure of {piece:?}: rendered as {:?}",
            hostile_sql.as_str()
        );
    }
});
