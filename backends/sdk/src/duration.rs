//! Vault duration strings at the edge, `std::time::Duration` inside.
//!
//! Accepted: an integer number of seconds (JSON number or string), Go duration strings
//! (`90s`, `1h30m`, `1.5h`, `500ms`) and a whole number of days (`7d`), as Vault's `parseutil`.

use std::time::Duration;

use serde_json::Value;

/// Why a duration could not be parsed; the text is shown to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a valid duration (use seconds or a string like \"90s\", \"1h30m\", \"7d\")")]
pub struct DurationError(pub String);

/// Parse a duration from a JSON value.
pub fn parse_duration_value(v: &Value) -> Result<Duration, DurationError> {
    match v {
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(s), _) => Ok(Duration::from_secs(s)),
            // `try_`: a finite float can still be too big for a Duration (`1e300`), which
            // `from_secs_f64` would answer with a panic.
            (None, Some(f)) => {
                Duration::try_from_secs_f64(f).map_err(|_| DurationError(n.to_string()))
            }
            _ => Err(DurationError(n.to_string())),
        },
        Value::String(s) => parse_duration(s),
        other => Err(DurationError(other.to_string())),
    }
}

/// Parse a duration string. Empty means zero.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    let err = || DurationError(input.to_owned());
    if s.is_empty() {
        return Ok(Duration::ZERO);
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    if let Some(days) = s.strip_suffix('d') {
        let days: u64 = days.parse().map_err(|_| err())?;
        return days
            .checked_mul(86_400)
            .map(Duration::from_secs)
            .ok_or_else(err);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (num, tail) = rest.split_at(num_len);
        let value: f64 = num.parse().map_err(|_| err())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += value * scale;
        rest = tail;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Go's `time.Duration.String()` for whole seconds with zero units dropped, as Vault prints
/// TTLs in warnings: `1h`, `30m`, `23h59m40s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vault_forms() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("").unwrap(), Duration::ZERO);
        for bad in ["abc", "1x", "h", "-5s", "1d2h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration_value(&serde_json::json!(60)).unwrap(),
            Duration::from_secs(60)
        );
        assert!(parse_duration_value(&serde_json::json!(-1)).is_err());
        assert!(parse_duration_value(&serde_json::json!(-0.5)).is_err());
        // Found by fuzz/fuzz_targets/duration.rs: this used to panic.
        assert!(parse_duration_value(&serde_json::json!(55e55)).is_err());
        assert_eq!(
            parse_duration_value(&serde_json::json!(1.5)).unwrap(),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(format_duration(Duration::from_secs(86_380)), "23h59m40s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
