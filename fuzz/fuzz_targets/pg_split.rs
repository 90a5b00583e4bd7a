//! `leasehold_postgres::split_statements` on any text: never a panic; every piece is trimmed,
//! non-empty, found in the input in order, and splits again to exactly itself (so splitting a
//! piece cannot move a statement boundary).

#![no_main]

use leasehold_postgres::split_statements;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(pieces) = split_statements(text) else {
        return;
    };
    let mut rest = text;
    for piece in &pieces {
        assert!(!piece.is_empty());
        assert_eq!(piece.trim(), piece.as_str());
        let at = rest
            .find(piece.as_str())
            .unwrap_or_else(|| panic!("piece {piece:?} is not in the input, in order"));
        rest = rest.get(at + piece.len()..).unwrap_or_default();
        assert_eq!(
            split_statements(piece).as_deref(),
            Ok(std::slice::from_ref(piece)),
            "piece {piece:?} does not split to itself"
        );
    }
});
