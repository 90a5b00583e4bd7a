//! The `approval_tier` role field every secrets engine shares. A role that names a tier does not
//! issue on request: the core stores the request and issues only when the tier's approvers (or
//! one of its auto-approval rules, or break-glass) let it (see the server's `approval` module).
//! Engines keep the name on the role and copy it into [`crate::PlannedSecret::approval_tier`];
//! what the tier says lives in the core, so every engine gets approval by this one field.

use crate::{name, BackendError, Fields};

/// The role field's name.
pub const FIELD: &str = "approval_tier";

/// Apply `approval_tier` from `fields` to `slot`: absent leaves it, `""` clears it, anything else
/// must be a tier name (the name rule, as tiers are stored by name).
pub fn apply(fields: &Fields, slot: &mut Option<String>) -> Result<(), BackendError> {
    let Some(given) = fields.str(FIELD)? else {
        return Ok(());
    };
    let given = given.trim();
    if given.is_empty() {
        *slot = None;
        return Ok(());
    }
    name::check(given).map_err(|e| BackendError::invalid(format!("{FIELD}: {e}")))?;
    *slot = Some(given.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: serde_json::Value) -> Fields {
        Fields::new(v.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn set_clear_keep_and_refuse() {
        let mut slot = None;
        apply(&fields(json!({})), &mut slot).unwrap();
        assert_eq!(slot, None);
        apply(&fields(json!({"approval_tier": " human "})), &mut slot).unwrap();
        assert_eq!(slot.as_deref(), Some("human"));
        apply(&fields(json!({"other": 1})), &mut slot).unwrap();
        assert_eq!(slot.as_deref(), Some("human"));
        apply(&fields(json!({"approval_tier": ""})), &mut slot).unwrap();
        assert_eq!(slot, None);
        for bad in ["../x", "a/b", "-x", "x y"] {
            let e = apply(&fields(json!({ "approval_tier": bad })), &mut slot).unwrap_err();
            assert!(e.to_string().contains("approval_tier"), "{bad}: {e}");
        }
        assert!(apply(&fields(json!({"approval_tier": ["x"]})), &mut slot).is_err());
    }
}
