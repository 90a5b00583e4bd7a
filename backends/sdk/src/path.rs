//! [`PathSpec`]: one row of an engine's table of paths (its pattern, the fields it reads, the
//! operations it serves), and the two checks every engine's `handle` makes against its row:
//! the operation is one the path serves ([`PathSpec::admit`]), and fields it does not read get
//! Vault's warning ([`PathSpec::warn_unknown`]).

use crate::error::BackendError;
use crate::request::{Operation, Request};
use crate::response::Response;

/// One path of an engine.
#[derive(Debug, Clone, Copy)]
pub struct PathSpec {
    /// Vault-style pattern below the mount (`roles/:name`).
    pub pattern: &'static str,
    /// Field names the path accepts; others are reported in a warning.
    pub fields: &'static [&'static str],
    /// Operations the path serves (anything else is 405).
    pub operations: &'static [Operation],
}

impl PathSpec {
    /// Refuse an operation the path does not serve (405); otherwise the fields `req` carries
    /// that the path does not read, when `check_fields` (writes, and reads that take fields).
    pub fn admit(&self, req: &Request, check_fields: bool) -> Result<Vec<String>, BackendError> {
        if !self.operations.contains(&req.operation) {
            return Err(BackendError::UnsupportedOperation);
        }
        Ok(if check_fields {
            req.fields.unknown(self.fields)
        } else {
            Vec::new()
        })
    }

    /// `response` with Vault's warning naming the `unknown` fields, when there are any (an
    /// empty answer becomes one carrying only the warning, as in Vault).
    pub fn warn_unknown(unknown: &[String], response: Option<Response>) -> Option<Response> {
        if unknown.is_empty() {
            return response;
        }
        let warning = format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        );
        Some(response.unwrap_or_default().with_warning(warning))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_become_vaults_warning_and_nothing_else() {
        assert!(PathSpec::warn_unknown(&[], None).is_none());
        let warned = PathSpec::warn_unknown(&["b".into(), "a".into()], None).unwrap();
        assert_eq!(
            warned.warnings,
            ["Endpoint ignored these unrecognized parameters: [b a]"]
        );
    }
}
