//! One line of results: a benchmark's case, leasehold's figures beside the baseline's, their
//! ratio and the target it is reported against.

use serde::Serialize;
use serde_json::Value;

use crate::load::Stats;

/// One measured case.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// `pg_issue`, ...
    pub bench: String,
    /// `clients=8`, `n=100000`, ...
    pub case: String,
    /// leasehold's numbers.
    pub leasehold: Value,
    /// The baseline's numbers (the same work done directly).
    pub baseline: Value,
    /// leasehold / baseline on the headline metric (throughput: higher is better).
    pub ratio: Option<f64>,
    /// What the issue asks for, in words.
    pub target: String,
    /// Anything else worth keeping (leaks, counts).
    pub notes: Value,
}

impl Figure {
    /// A throughput comparison of two [`Stats`].
    pub fn throughput(bench: &str, case: String, ours: &Stats, base: &Stats, target: &str) -> Self {
        Self {
            bench: bench.into(),
            case,
            leasehold: serde_json::to_value(ours).unwrap_or(Value::Null),
            baseline: serde_json::to_value(base).unwrap_or(Value::Null),
            ratio: (base.per_sec > 0.0).then(|| ours.per_sec / base.per_sec),
            target: target.into(),
            notes: Value::Null,
        }
    }

    /// A Markdown table row.
    pub fn row(&self) -> String {
        let brief = |v: &Value| -> String {
            match (v.get("per_sec"), v.get("p50_ms"), v.get("p99_ms")) {
                (Some(r), Some(p50), Some(p99)) => format!(
                    "{:.0}/s, p50 {:.1} ms, p99 {:.1} ms{}",
                    r.as_f64().unwrap_or(0.0),
                    p50.as_f64().unwrap_or(0.0),
                    p99.as_f64().unwrap_or(0.0),
                    match v.get("errors").and_then(Value::as_u64) {
                        Some(0) | None => String::new(),
                        Some(e) => format!(", {e} errors"),
                    }
                ),
                _ => v.to_string(),
            }
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            self.bench,
            self.case,
            brief(&self.leasehold),
            brief(&self.baseline),
            self.ratio
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "–".into()),
            self.target,
            if self.notes.is_null() {
                String::new()
            } else {
                self.notes.to_string()
            },
        )
    }
}
