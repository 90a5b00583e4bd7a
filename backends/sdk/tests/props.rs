//! Property tests for the weakly typed edge every backend reads through: Vault duration strings
//! and [`Fields`]. Whatever a caller sends, the answer is a value or a 400-class
//! [`BackendError::InvalidRequest`], never a panic; what parses prints back to itself.
//! (The same properties are fuzzed with coverage guidance in `fuzz/`; these run in `make test`.)

use std::time::Duration;

use leasehold_backend::duration::{format_duration, parse_duration, parse_duration_value};
use leasehold_backend::{BackendError, Fields};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Any JSON value, numbers included at their extremes (`1e300`, `-0.5`, `u64::MAX`).
fn json() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            Number::from_f64(f).map(Value::Number)
        }),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number,
        ".*".prop_map(Value::String),
        duration_like().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings near the duration grammar, where the interesting mistakes are.
fn duration_like() -> impl Strategy<Value = String> {
    "[ ]?[-+]?[0-9.]{0,25}(ns|us|µs|ms|s|m|h|d|x|)([0-9.]{0,4}(s|m|h|d)){0,3}[ ]?"
}

/// A duration that Vault's forms can express exactly, with the string that says it.
fn duration_text() -> impl Strategy<Value = (u64, String)> {
    (0u64..100_000, 0u64..60, 0u64..60, 0u64..1000).prop_map(|(h, m, s, d)| {
        let secs = h * 3600 + m * 60 + s;
        let form = match d % 4 {
            0 => secs.to_string(),
            1 => format!("{h}h{m}m{s}s"),
            2 => format!("{}d", d),
            _ => format!("{}ms", secs * 1000),
        };
        let secs = if d % 4 == 2 { d * 86_400 } else { secs };
        (secs, form)
    })
}

proptest! {
    // No regression files written next to the sources: the failures found are pinned as unit
    // tests where they were fixed.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn duration_strings_never_panic_and_print_back(text in prop_oneof![".*", duration_like()]) {
        if let Ok(d) = parse_duration(&text) {
            // Above 1e12 s only the integer and `Nd` forms parse; `...h` would not read back.
            if d.as_secs() <= 1_000_000_000_000 {
                let printed = format_duration(d);
                prop_assert_eq!(parse_duration(&printed), Ok(Duration::from_secs(d.as_secs())));
            }
        }
    }

    #[test]
    fn known_durations_parse_to_their_seconds((secs, text) in duration_text()) {
        prop_assert_eq!(parse_duration(&text), Ok(Duration::from_secs(secs)));
        prop_assert_eq!(parse_duration(&format_duration(Duration::from_secs(secs))),
                        Ok(Duration::from_secs(secs)));
    }

    #[test]
    fn duration_numbers_never_panic(f in any::<f64>(), i in any::<i64>()) {
        // 1e300 seconds used to panic (`Duration::from_secs_f64`), found by fuzz/.
        if let Some(n) = Number::from_f64(f) {
            let parsed = parse_duration_value(&Value::Number(n));
            prop_assert_eq!(parsed.is_ok(), f >= 0.0 && f < u64::MAX as f64, "{}", f);
        }
        prop_assert_eq!(parse_duration_value(&Value::from(i)).is_ok(), i >= 0);
    }

    #[test]
    fn duration_values_never_panic(value in json()) {
        if let Ok(d) = parse_duration_value(&value) {
            if let Value::String(s) = &value {
                prop_assert_eq!(parse_duration(s), Ok(d));
            }
        }
    }

    #[test]
    fn fields_accessors_never_panic(map in prop::collection::btree_map(
        prop_oneof![Just("ttl".to_owned()), ".{0,6}"], json(), 0..8)
    ) {
        let fields = Fields::new(map.into_iter().collect::<Map<String, Value>>());
        let mut names: Vec<String> = fields.names().into_iter().map(str::to_owned).collect();
        names.push("absent".to_owned());
        for name in &names {
            prop_assert!(!fields.raw(name).is_some_and(Value::is_null), "nulls are dropped");
            caller_fault(fields.str(name))?;
            caller_fault(fields.required_str(name))?;
            caller_fault(fields.bool(name))?;
            caller_fault(fields.int(name))?;
            caller_fault(fields.comma_list(name))?;
            caller_fault(fields.string_list(name))?;
            caller_fault(fields.duration(name))?;
        }
        let unknown = fields.unknown(&["ttl"]);
        prop_assert!(unknown.windows(2).all(|w| w[0] <= w[1]), "sorted");
        prop_assert!(!unknown.iter().any(|n| n == "ttl"));
    }
}

fn caller_fault<T>(result: Result<T, BackendError>) -> Result<(), TestCaseError> {
    match result {
        Ok(_) | Err(BackendError::InvalidRequest(_)) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!(
            "not the caller's fault: {e:?}"
        ))),
    }
}
