//! Vault duration strings (`parse_duration`) and JSON duration values (`parse_duration_value`):
//! never a panic, and what parses prints back (`format_duration`) to the same whole seconds.

#![no_main]

use std::time::Duration;

use leasehold_backend::duration::{format_duration, parse_duration, parse_duration_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_string(text);
        check_value(&serde_json::Value::String(text.to_owned()));
    }
    // Numbers as JSON: huge, negative, fractional, exponent forms.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        check_value(&value);
    }
});

fn check_string(text: &str) {
    // Above 1e12 s only the integer and `Nd` forms parse (the unit forms are capped), so the
    // printed `...h` form of a larger value would not read back.
    if let Ok(d) = parse_duration(text) {
        if d.as_secs() > 1_000_000_000_000 {
            return;
        }
        let whole = Duration::from_secs(d.as_secs());
        let printed = format_duration(d);
        assert_eq!(
            parse_duration(&printed),
            Ok(whole),
            "{text:?} parsed to {d:?}, printed as {printed:?}"
        );
    }
}

fn check_value(value: &serde_json::Value) {
    let parsed = parse_duration_value(value);
    if let (serde_json::Value::String(s), Ok(d)) = (value, &parsed) {
        assert_eq!(parse_duration(s).as_ref(), Ok(d));
    }
}
