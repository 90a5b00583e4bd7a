//! How a `roles/:name` write becomes a [`Role`]: each field parsed with Vault's weak typing and
//! merged over the stored role, then the whole role checked against the rules of its credential
//! type. Every problem is collected, each naming its field, so the caller fixes them in one go.

use std::collections::BTreeMap;

use leasehold_backend::Fields;
use serde_json::Value;

use super::{default_user_path, CredentialType, Role};
use crate::error::AwsError;

/// Apply `fields` over `existing` (or a new role) and validate the result.
pub(crate) fn merge(existing: Option<Role>, fields: &Fields) -> Result<Role, AwsError> {
    let mut errors: Vec<String> = ["policy", "arn"]
        .into_iter()
        .filter(|legacy| fields.has(legacy))
        .map(|legacy| {
            format!(
                "{legacy}: legacy field not supported; use credential_type with policy_document, \
                 policy_arns or role_arns"
            )
        })
        .collect();
    let given_type = parse_type(fields).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let mut role = match (existing, given_type) {
        (Some(mut role), Some(t)) => {
            role.credential_type = t;
            role
        }
        (Some(role), None) => role,
        (None, Some(t)) => Role::new(t),
        (None, None) => {
            if errors.is_empty() {
                errors.push("credential_type: is required".into());
            }
            return Err(AwsError::InvalidRole(errors));
        }
    };
    errors.extend(apply_fields(fields, &mut role));
    errors.extend(validate(&role));
    if errors.is_empty() {
        Ok(role)
    } else {
        Err(AwsError::InvalidRole(errors))
    }
}

/// Set every given field on `role`; the fields that could not be parsed, as errors.
fn apply_fields(fields: &Fields, role: &mut Role) -> Vec<String> {
    let mut results = vec![
        apply_list(fields, "policy_arns", &mut role.policy_arns),
        apply_list(fields, "iam_groups", &mut role.iam_groups),
        apply_list(fields, "role_arns", &mut role.role_arns),
        apply_document(fields, &mut role.policy_document),
        apply_tags(fields, "iam_tags", &mut role.iam_tags),
        apply_tags(fields, "session_tags", &mut role.session_tags),
        apply_secs(fields, "default_sts_ttl", &mut role.default_sts_ttl),
        apply_secs(fields, "max_sts_ttl", &mut role.max_sts_ttl),
    ];
    for (field, slot) in [
        ("user_path", &mut role.user_path),
        (
            "permissions_boundary_arn",
            &mut role.permissions_boundary_arn,
        ),
        ("external_id", &mut role.external_id),
        ("mfa_serial_number", &mut role.mfa_serial_number),
    ] {
        results.push(apply_str(fields, field, slot));
    }
    if role.user_path.is_empty() {
        role.user_path = default_user_path();
    }
    match fields.bool("require_purpose") {
        Ok(Some(v)) => role.require_purpose = v,
        Ok(None) => {}
        Err(e) => results.push(Err(e.to_string())),
    }
    if let Err(e) = leasehold_backend::approval::apply(fields, &mut role.approval_tier) {
        results.push(Err(e.to_string()));
    }
    results.into_iter().filter_map(Result::err).collect()
}

/// The `credential_type` field, if given.
fn parse_type(fields: &Fields) -> Result<Option<CredentialType>, String> {
    let Some(given) = fields.str("credential_type").map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let given = given.trim();
    match CredentialType::parse(given) {
        Some(t) => Ok(Some(t)),
        None if given.contains(',') => {
            Err("credential_type: a role issues one credential type".into())
        }
        None => Err(format!(
            "credential_type: {given:?} is not one of iam_user, assumed_role, federation_token, \
             session_token"
        )),
    }
}

/// Credential types that policies and groups apply to.
const WITH_POLICIES: &[CredentialType] = &[
    CredentialType::IamUser,
    CredentialType::AssumedRole,
    CredentialType::FederationToken,
];
const IAM_USER: &[CredentialType] = &[CredentialType::IamUser];
const ASSUMED_ROLE: &[CredentialType] = &[CredentialType::AssumedRole];
const SESSION_TOKEN: &[CredentialType] = &[CredentialType::SessionToken];
const STS: &[CredentialType] = &[
    CredentialType::AssumedRole,
    CredentialType::FederationToken,
    CredentialType::SessionToken,
];

/// Each optional field: whether the role sets it, and the credential types it is allowed with.
fn field_uses(role: &Role) -> [(&'static str, bool, &'static [CredentialType]); 12] {
    [
        ("policy_arns", !role.policy_arns.is_empty(), WITH_POLICIES),
        (
            "policy_document",
            !role.policy_document.is_empty(),
            WITH_POLICIES,
        ),
        ("iam_groups", !role.iam_groups.is_empty(), WITH_POLICIES),
        ("iam_tags", !role.iam_tags.is_empty(), IAM_USER),
        ("user_path", role.user_path != "/", IAM_USER),
        (
            "permissions_boundary_arn",
            !role.permissions_boundary_arn.is_empty(),
            IAM_USER,
        ),
        ("role_arns", !role.role_arns.is_empty(), ASSUMED_ROLE),
        ("session_tags", !role.session_tags.is_empty(), ASSUMED_ROLE),
        ("external_id", !role.external_id.is_empty(), ASSUMED_ROLE),
        (
            "mfa_serial_number",
            !role.mfa_serial_number.is_empty(),
            SESSION_TOKEN,
        ),
        ("default_sts_ttl", role.default_sts_ttl > 0, STS),
        ("max_sts_ttl", role.max_sts_ttl > 0, STS),
    ]
}

/// Every problem with a complete role, each naming its field.
fn validate(role: &Role) -> Vec<String> {
    let t = role.credential_type;
    let mut errors: Vec<String> = field_uses(role)
        .into_iter()
        .filter(|(_, used, allowed)| *used && !allowed.contains(&t))
        .map(|(field, _, allowed)| {
            let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            format!(
                "{field}: not allowed with credential_type {}; only with {}",
                t.as_str(),
                names.join(", ")
            )
        })
        .collect();
    if role.max_sts_ttl > 0 && role.default_sts_ttl > role.max_sts_ttl {
        errors.push(format!(
            "default_sts_ttl: {}s is more than max_sts_ttl {}s",
            role.default_sts_ttl, role.max_sts_ttl
        ));
    }
    for arn in &role.policy_arns {
        if !is_arn(arn, "iam", "policy/") {
            errors.push(format!(
                "policy_arns: {arn:?} is not an IAM policy ARN (arn:aws:iam::ACCOUNT:policy/NAME)"
            ));
        }
    }
    for arn in &role.role_arns {
        if !is_arn(arn, "iam", "role/") {
            errors.push(format!(
                "role_arns: {arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
            ));
        }
    }
    if !role.permissions_boundary_arn.is_empty()
        && !is_arn(&role.permissions_boundary_arn, "iam", "policy/")
    {
        errors.push(format!(
            "permissions_boundary_arn: {:?} is not an IAM policy ARN (arn:aws:iam::ACCOUNT:policy/NAME)",
            role.permissions_boundary_arn
        ));
    }
    if !is_user_path(&role.user_path) {
        errors.push(format!(
            "user_path: {:?} must start and end with / and hold only printable ASCII (at most 512 characters)",
            role.user_path
        ));
    }
    for group in &role.iam_groups {
        if group.is_empty()
            || group.len() > 128
            || !group.chars().all(crate::names::is_iam_name_char)
        {
            errors.push(format!(
                "iam_groups: {group:?} is not a valid IAM group name"
            ));
        }
    }
    errors
}

/// `arn:<partition>:<service>::<account>:<resource_prefix>...` (IAM ARNs have no region).
fn is_arn(arn: &str, service: &str, resource_prefix: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, svc, "", account, resource]
            if !partition.is_empty() && *svc == service && !account.is_empty()
                && resource.starts_with(resource_prefix) && resource.len() > resource_prefix.len())
}

/// IAM's path rule: `/` alone, or `/` + printable ASCII + `/`, at most 512 characters.
fn is_user_path(path: &str) -> bool {
    path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|b| (0x21..=0x7f).contains(&b))
}

fn apply_list(fields: &Fields, name: &str, slot: &mut Vec<String>) -> Result<(), String> {
    if let Some(list) = fields.comma_list(name).map_err(|e| e.to_string())? {
        *slot = list;
    }
    Ok(())
}

fn apply_str(fields: &Fields, name: &str, slot: &mut String) -> Result<(), String> {
    if let Some(v) = fields.str(name).map_err(|e| e.to_string())? {
        *slot = v.trim().to_owned();
    }
    Ok(())
}

fn apply_secs(fields: &Fields, name: &str, slot: &mut u64) -> Result<(), String> {
    if let Some(d) = fields.duration(name).map_err(|e| e.to_string())? {
        *slot = d.as_secs();
    }
    Ok(())
}

/// `policy_document`: must be JSON; stored compacted. Empty clears it.
fn apply_document(fields: &Fields, slot: &mut String) -> Result<(), String> {
    let text = match fields.raw("policy_document") {
        None => return Ok(()),
        // hvac and others may send the document as an object rather than a string.
        Some(Value::Object(_)) => fields
            .raw("policy_document")
            .map(Value::to_string)
            .unwrap_or_default(),
        Some(_) => fields
            .str("policy_document")
            .map_err(|e| e.to_string())?
            .unwrap_or_default(),
    };
    if text.trim().is_empty() {
        slot.clear();
        return Ok(());
    }
    let parsed: Value = serde_json::from_str(&text)
        .map_err(|e| format!("policy_document: cannot parse policy document: {e}"))?;
    if !parsed.is_object() {
        return Err("policy_document: cannot parse policy document: not a JSON object".into());
    }
    *slot = parsed.to_string();
    Ok(())
}

/// Tags as a JSON object, a list of `key=value`, or a comma string of `key=value`.
fn apply_tags(
    fields: &Fields,
    name: &str,
    slot: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let mut tags = BTreeMap::new();
    match fields.raw(name) {
        None => return Ok(()),
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => v.to_string(),
                    _ => return Err(format!("{name}: the value of tag {k:?} must be a string")),
                };
                tags.insert(k.clone(), v);
            }
        }
        Some(_) => {
            let items = fields
                .comma_list(name)
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            for item in items {
                let (k, v) = item
                    .split_once('=')
                    .ok_or_else(|| format!("{name}: {item:?} is not key=value"))?;
                tags.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    if let Some(k) = tags.keys().find(|k| k.is_empty() || k.len() > 128) {
        return Err(format!("{name}: tag key {k:?} must be 1 to 128 characters"));
    }
    if let Some((k, _)) = tags.iter().find(|(_, v)| v.len() > 256) {
        return Err(format!(
            "{name}: the value of tag {k:?} is longer than 256 characters"
        ));
    }
    *slot = tags;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => Fields::new(m),
            _ => unreachable!(),
        }
    }

    fn errors_of(existing: Option<Role>, v: Value) -> Vec<String> {
        match merge(existing, &fields(v)) {
            Err(AwsError::InvalidRole(errors)) => errors,
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn iam_user_role_parses_every_field() {
        let role = merge(
            None,
            &fields(json!({
                "credential_type": "iam_user",
                "policy_arns": "arn:aws:iam::123456789012:policy/a, arn:aws:iam::aws:policy/ReadOnlyAccess",
                "policy_document": "{ \"Version\": \"2012-10-17\", \"Statement\": [] }",
                "iam_groups": ["devs"],
                "iam_tags": ["team=core", "env=ci"],
                "user_path": "/leasehold/",
                "permissions_boundary_arn": "arn:aws:iam::123456789012:policy/boundary",
            })),
        )
        .unwrap();
        assert_eq!(role.policy_arns.len(), 2);
        assert_eq!(
            role.policy_document,
            r#"{"Statement":[],"Version":"2012-10-17"}"#
        );
        assert_eq!(role.iam_tags.get("team").map(String::as_str), Some("core"));
        assert_eq!(role.user_path, "/leasehold/");
    }

    #[test]
    fn tags_as_a_map() {
        let role = merge(
            None,
            &fields(json!({"credential_type": "iam_user", "iam_tags": {"a": "1", "b": 2}})),
        )
        .unwrap();
        assert_eq!(role.iam_tags.get("b").map(String::as_str), Some("2"));
    }

    #[test]
    fn errors_are_collected_and_name_their_field() {
        let errors = errors_of(
            None,
            json!({
                "credential_type": "session_token",
                "policy_arns": "arn:aws:iam::123456789012:policy/a",
                "policy_document": "{not json",
                "user_path": "no-slash",
                "default_sts_ttl": "2h",
                "max_sts_ttl": "1h",
            }),
        );
        let joined = errors.join("\n");
        for field in [
            "policy_arns:",
            "policy_document: cannot parse policy document",
            "user_path:",
            "default_sts_ttl:",
        ] {
            assert!(joined.contains(field), "{field} missing from {joined}");
        }
    }

    #[test]
    fn credential_type_is_required_and_checked() {
        assert_eq!(
            errors_of(None, json!({})),
            vec!["credential_type: is required"]
        );
        assert!(
            errors_of(None, json!({"credential_type": "root"}))[0].starts_with("credential_type:")
        );
        assert!(
            errors_of(None, json!({"credential_type": "iam_user", "policy": "{}"}))[0]
                .starts_with("policy:")
        );
    }

    #[test]
    fn updates_merge_over_the_stored_role() {
        let stored = merge(
            None,
            &fields(json!({"credential_type": "assumed_role", "role_arns": "arn:aws:iam::123456789012:role/a"})),
        )
        .unwrap();
        let updated = merge(Some(stored), &fields(json!({"default_sts_ttl": 900}))).unwrap();
        assert_eq!(updated.role_arns, vec!["arn:aws:iam::123456789012:role/a"]);
        assert_eq!(updated.default_sts_ttl, 900);
        let errors = errors_of(Some(updated), json!({"credential_type": "iam_user"}));
        assert!(
            errors.iter().any(|e| e.starts_with("role_arns:")),
            "{errors:?}"
        );
    }

    #[test]
    fn arns_are_checked() {
        assert!(is_arn(
            "arn:aws:iam::123456789012:policy/p",
            "iam",
            "policy/"
        ));
        assert!(is_arn(
            "arn:aws:iam::aws:policy/job-function/ViewOnly",
            "iam",
            "policy/"
        ));
        assert!(!is_arn(
            "arn:aws:iam::123456789012:role/r",
            "iam",
            "policy/"
        ));
        assert!(!is_arn("arn:aws:s3:::bucket", "iam", "policy/"));
        assert!(!is_arn("policy/p", "iam", "policy/"));
    }
}
