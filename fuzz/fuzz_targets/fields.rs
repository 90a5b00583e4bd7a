//! `Fields`, the weakly typed view of a caller's JSON that every backend reads: each accessor on
//! each key of any JSON object (and on a key that is absent) returns a value or a 400, never a
//! panic.

#![no_main]

use leasehold_backend::{BackendError, Fields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(data) else {
        return;
    };
    let fields = Fields::new(map);
    let mut names: Vec<String> = fields.names().into_iter().map(str::to_owned).collect();
    names.push("absent".to_owned());
    for name in &names {
        let _ = fields.has(name);
        let _ = fields.raw(name);
        caller_fault(fields.str(name));
        caller_fault(fields.required_str(name));
        caller_fault(fields.bool(name));
        caller_fault(fields.int(name));
        caller_fault(fields.comma_list(name));
        caller_fault(fields.string_list(name));
        caller_fault(fields.duration(name));
    }
    let _ = fields.unknown(&["a", "ttl"]);
});

fn caller_fault<T>(result: Result<T, BackendError>) {
    if let Err(e) = result {
        assert!(
            matches!(e, BackendError::InvalidRequest(_)),
            "not the caller's fault: {e:?}"
        );
    }
}
