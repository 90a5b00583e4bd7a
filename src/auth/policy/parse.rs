//! Policy text → [`Policy`]: Vault's HCL form (`path "x" { capabilities = [...] }`), its JSON
//! form (`{"path": {"x": {"capabilities": [...]}}}`), either of them base64-encoded.
//!
//! Both syntaxes are first lowered to the same shape — for each `path`, a JSON object of its
//! keys — so that one function (`rule_from_fields`) validates a rule whatever it was written
//! in. HCL goes through `hcl::edit` rather than `hcl::parse` because the former keeps byte
//! spans, which lets errors name the line of the offending block.
//!
//! The file runs past 400 lines because of its tests: each message a policy author can meet is
//! pinned by one, and they read best next to the code that produces them.

use std::borrow::Cow;

use base64::Engine as _;
use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::{BlockLabel, Body, Structure};
use hcl::edit::Span as _;
use leasehold_backend::duration::parse_duration_value;
use serde_json::{Map, Value};

use super::capability::{CapSet, Capability};
use super::matcher::PathPattern;
use super::permissions::{Constraints, ParameterValues, Permissions};
use super::{PathRule, Policy};

/// Why policy text was refused. Every message starts with `failed to parse policy:` (as Vault's
/// do) and, where it can, names the line and the `path` at fault. All variants are the
/// caller's fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is neither valid HCL nor valid JSON; the message carries the parser's position.
    #[error("failed to parse policy: {0}")]
    Syntax(String),
    /// Something other than `path` blocks (and an ignored `name`) at the top level.
    #[error("failed to parse policy: {}{problem}", at(.line))]
    UnexpectedItem {
        /// 1-based line of the item (HCL only).
        line: Option<usize>,
        /// What is wrong.
        problem: String,
    },
    /// A `path` rule is invalid: bad pattern, unknown key or capability, wrong value type.
    #[error("failed to parse policy: {}path {path:?}: {problem}", at(.line))]
    InvalidRule {
        /// 1-based line of the `path` block (HCL only).
        line: Option<usize>,
        /// The path as written.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// `root` is built in: it has no text and cannot be written.
    #[error("cannot update \"root\" policy")]
    ReservedName,
}

fn at(line: &Option<usize>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

/// Keys a `path` rule may hold.
const RULE_KEYS: [&str; 9] = [
    "capabilities",
    "policy",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "comment",
    "control_group",
];

/// Parse policy `text` (HCL, JSON, or either base64-encoded) into a policy called `name`.
///
/// The caller lowercases and validates `name`; `root` (any case) is refused with
/// [`PolicyError::ReservedName`], since only [`super::root_policy`] may bypass checks. Empty text
/// gives a policy with no rules. [`Policy::raw`] keeps the decoded text.
pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
    if name.eq_ignore_ascii_case("root") {
        return Err(PolicyError::ReservedName);
    }
    let text = decode_base64(text);
    let rules = if text.trim_start().starts_with('{') {
        // A body of HCL cannot start with `{`, so this is unambiguous.
        parse_json(&text)?
    } else {
        parse_hcl(&text)?
    };
    Ok(Policy {
        name: name.to_owned(),
        raw: text.into_owned(),
        rules,
        root: false,
    })
}

/// The policy endpoints accept base64 of the text; HCL and JSON policies always contain a
/// character outside the base64 alphabet (a quote, brace or space), so a successful decode to
/// UTF-8 means it was encoded.
fn decode_base64(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Cow::Borrowed(text);
    }
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map_or(Cow::Borrowed(text), Cow::Owned)
}

fn parse_hcl(text: &str) -> Result<Vec<PathRule>, PolicyError> {
    let body = hcl::edit::parser::parse_body(text).map_err(|e| {
        // One line rather than the parser's multi-line drawing: this ends up in a JSON body.
        let at = e.location();
        PolicyError::Syntax(format!(
            "line {}, column {}: {}",
            at.line(),
            at.column(),
            e.message()
        ))
    })?;
    let mut rules = Vec::new();
    for item in body.iter() {
        let line = item.span().and_then(|span| line_of(text, span.start));
        match item {
            Structure::Attribute(attr) if attr.key.as_str() == "name" => {}
            Structure::Block(block) if block.ident.as_str() == "path" => {
                let [label] = block.labels.as_slice() else {
                    return Err(PolicyError::UnexpectedItem {
                        line,
                        problem: "a path block takes exactly one label, the path: \
                                  path \"secret/*\" { capabilities = [\"read\"] }"
                            .to_owned(),
                    });
                };
                let path = match label {
                    BlockLabel::String(s) => s.as_str(),
                    BlockLabel::Ident(i) => i.as_str(),
                };
                let invalid = |problem| PolicyError::InvalidRule {
                    line,
                    path: path.to_owned(),
                    problem,
                };
                let fields = body_to_map(&block.body).map_err(invalid)?;
                rules.push(rule_from_fields(path, &fields).map_err(invalid)?);
            }
            Structure::Attribute(attr) => {
                return Err(unexpected_top_level(line, attr.key.as_str()));
            }
            Structure::Block(block) => {
                return Err(unexpected_top_level(line, block.ident.as_str()));
            }
        }
    }
    Ok(rules)
}

fn unexpected_top_level(line: Option<usize>, key: &str) -> PolicyError {
    PolicyError::UnexpectedItem {
        line,
        problem: format!(
            "unexpected top-level key {key:?}: a policy holds `path \"...\" {{ ... }}` blocks"
        ),
    }
}

/// 1-based line number of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> Option<usize> {
    text.get(..offset)
        .map(|before| before.matches('\n').count() + 1)
}

/// A block body as a JSON object: attributes become keys, label-less nested blocks (HCL1's
/// `allowed_parameters { ... }` spelling) become nested objects.
fn body_to_map(body: &Body) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for item in body.iter() {
        let (key, value) = match item {
            Structure::Attribute(attr) => (attr.key.as_str(), expr_to_value(&attr.value)?),
            Structure::Block(block) if block.labels.is_empty() => (
                block.ident.as_str(),
                Value::Object(body_to_map(&block.body)?),
            ),
            // `factor "name" { ... }` (a control group's): kept as `factor: {name: {...}}`.
            Structure::Block(block) if block.ident.as_str() == "factor" => {
                let [label] = block.labels.as_slice() else {
                    return Err("a factor block takes exactly one label, its name".to_owned());
                };
                let label = match label {
                    BlockLabel::String(s) => s.as_str(),
                    BlockLabel::Ident(i) => i.as_str(),
                };
                let factors = map
                    .entry("factor")
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(factors) = factors else {
                    return Err("\"factor\" is set more than once".to_owned());
                };
                if factors
                    .insert(label.to_owned(), Value::Object(body_to_map(&block.body)?))
                    .is_some()
                {
                    return Err(format!("factor {label:?} is set more than once"));
                }
                continue;
            }
            Structure::Block(block) => {
                return Err(format!(
                    "unexpected labelled block {:?} inside a path rule",
                    block.ident.as_str()
                ))
            }
        };
        if map.insert(key.to_owned(), value).is_some() {
            return Err(format!("{key:?} is set more than once"));
        }
    }
    Ok(map)
}

/// Policies hold literals only: no variables, functions or interpolation.
fn expr_to_value(expr: &Expression) -> Result<Value, String> {
    Ok(match expr {
        Expression::Null(_) => Value::Null,
        Expression::Bool(b) => Value::Bool(*b.value()),
        Expression::Number(n) => {
            let n = n.value();
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("unsupported number {n}"))?
            }
        }
        Expression::String(s) => Value::String(s.value().clone()),
        Expression::Array(items) => {
            Value::Array(items.iter().map(expr_to_value).collect::<Result<_, _>>()?)
        }
        Expression::Object(object) => {
            let mut map = Map::new();
            for (key, value) in object.iter() {
                let key = match key {
                    ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                    ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                    ObjectKey::Expression(_) => {
                        return Err("map keys must be names or quoted strings".to_owned())
                    }
                };
                map.insert(key, expr_to_value(value.expr())?);
            }
            Value::Object(map)
        }
        Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            return Err(
                "templates (`${...}`, `%{...}`, heredocs) are not supported; \
                 write a plain quoted string"
                    .to_owned(),
            )
        }
        _ => {
            return Err(
                "only literal values (strings, numbers, booleans, lists, maps) are allowed"
                    .to_owned(),
            )
        }
    })
}

fn parse_json(text: &str) -> Result<Vec<PathRule>, PolicyError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| PolicyError::Syntax(format!("invalid JSON: {e}")))?;
    let Value::Object(top) = root else {
        return Err(PolicyError::Syntax(
            "a JSON policy must be an object".to_owned(),
        ));
    };
    let mut rules = Vec::new();
    for (key, value) in &top {
        match key.as_str() {
            "name" => {}
            "path" => collect_json_paths(value, &mut rules)?,
            other => return Err(unexpected_top_level(None, other)),
        }
    }
    Ok(rules)
}

/// `"path"` holds `{"<pattern>": {rule}}`, or (HCL1's JSON) a list of such objects, and a rule
/// may itself be a list of rule objects.
fn collect_json_paths(value: &Value, rules: &mut Vec<PathRule>) -> Result<(), PolicyError> {
    match value {
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| collect_json_paths(item, rules)),
        Value::Object(paths) => {
            for (path, rule) in paths {
                let invalid = |problem| PolicyError::InvalidRule {
                    line: None,
                    path: path.clone(),
                    problem,
                };
                let bodies = match rule {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                for body in bodies {
                    let Value::Object(fields) = body else {
                        return Err(invalid("a rule must be an object of keys".to_owned()));
                    };
                    rules.push(rule_from_fields(path, fields).map_err(invalid)?);
                }
            }
            Ok(())
        }
        _ => Err(PolicyError::UnexpectedItem {
            line: None,
            problem: "\"path\" must map each path to its rule".to_owned(),
        }),
    }
}

/// Validate one rule's keys. The error is the problem alone; the caller adds line and path.
fn rule_from_fields(path: &str, fields: &Map<String, Value>) -> Result<PathRule, String> {
    let pattern = PathPattern::parse(path)?;
    for key in fields.keys() {
        match key.as_str() {
            k if RULE_KEYS.contains(&k) => {}
            "mfa_methods" => {
                return Err(format!(
                    "{key:?} (a Vault Enterprise restriction) is not supported by leasehold; \
                     remove it rather than have it silently ignored"
                ))
            }
            _ => {
                return Err(format!(
                    "unknown key {key:?} (expected one of {})",
                    RULE_KEYS.join(", ")
                ))
            }
        }
    }
    let mut capabilities = CapSet::empty();
    if let Some(value) = fields.get("capabilities") {
        for word in string_list(value, "capabilities")? {
            capabilities.insert(word.parse::<Capability>().map_err(|e| e.to_string())?);
        }
    }
    if let Some(value) = fields.get("policy") {
        let Value::String(word) = value else {
            return Err("\"policy\" must be a string".to_owned());
        };
        capabilities = capabilities.union(legacy_capabilities(word)?);
    }
    let constraints = Constraints {
        allowed_parameters: parameter_values(fields, "allowed_parameters")?,
        denied_parameters: parameter_values(fields, "denied_parameters")?,
        required_parameters: match fields.get("required_parameters") {
            Some(v) => string_list(v, "required_parameters")?
                .into_iter()
                .map(str::to_ascii_lowercase)
                .collect(),
            None => Vec::new(),
        },
        min_wrapping_ttl: wrapping_ttl(fields, "min_wrapping_ttl")?,
        max_wrapping_ttl: wrapping_ttl(fields, "max_wrapping_ttl")?,
        control_group: fields
            .get("control_group")
            .map(|v| super::control_group::ControlGroup::parse(v, capabilities))
            .transpose()?,
    };
    if let (Some(min), Some(max)) = (constraints.min_wrapping_ttl, constraints.max_wrapping_ttl) {
        if max < min {
            return Err("max_wrapping_ttl cannot be less than min_wrapping_ttl".to_owned());
        }
    }
    Ok(PathRule {
        pattern,
        permissions: Permissions::new(capabilities, constraints),
    })
}

/// The pre-capabilities `policy = "..."` spelling.
fn legacy_capabilities(word: &str) -> Result<CapSet, String> {
    use Capability::*;
    let caps: &[Capability] = match word {
        "deny" => &[Deny],
        "read" => &[Read, List],
        "write" => &[Create, Read, Update, Delete, List],
        "sudo" => &[Create, Read, Update, Delete, List, Sudo],
        other => {
            return Err(format!(
                "invalid policy {other:?} (expected read, write, sudo or deny)"
            ))
        }
    };
    Ok(caps.iter().copied().collect())
}

fn string_list<'a>(value: &'a Value, key: &str) -> Result<Vec<&'a str>, String> {
    let not_list = || format!("{key:?} must be a list of strings");
    value
        .as_array()
        .ok_or_else(not_list)?
        .iter()
        .map(|v| v.as_str().ok_or_else(not_list))
        .collect()
}

fn parameter_values(fields: &Map<String, Value>, key: &str) -> Result<ParameterValues, String> {
    let Some(value) = fields.get(key) else {
        return Ok(ParameterValues::new());
    };
    let object = value
        .as_object()
        .ok_or_else(|| format!("{key:?} must map parameter names to lists of values"))?;
    object
        .iter()
        .map(|(name, values)| match values {
            Value::Array(list) => Ok((name.to_ascii_lowercase(), list.clone())),
            _ => Err(format!("{key:?}: the values of {name:?} must be a list")),
        })
        .collect()
}

fn wrapping_ttl(
    fields: &Map<String, Value>,
    key: &str,
) -> Result<Option<std::time::Duration>, String> {
    match fields.get(key) {
        None => Ok(None),
        Some(value) => {
            let ttl = parse_duration_value(value).map_err(|e| format!("{key}: {e}"))?;
            Ok(Some(ttl).filter(|d| !d.is_zero()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn caps(list: &[Capability]) -> CapSet {
        list.iter().copied().collect()
    }

    /// (path, capabilities) of each rule, in order.
    fn summary(policy: &Policy) -> Vec<(&str, CapSet)> {
        policy
            .rules()
            .iter()
            .map(|r| (r.path(), r.permissions().capabilities()))
            .collect()
    }

    fn err(text: &str) -> String {
        parse("p", text).unwrap_err().to_string()
    }

    const SAMPLE: &str = r#"
# Read credentials for the readonly role.
path "database/creds/readonly" {
  capabilities = ["read"]
}
path "aws/creds/+" { capabilities = ["read", "update"] }
path "/secret/data/app/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "database/config/*" {
  capabilities = ["deny", "read"]
}
"#;

    #[test]
    fn hcl_rules_in_order() {
        let p = parse("dev", SAMPLE).unwrap();
        assert_eq!(p.name(), "dev");
        assert_eq!(p.raw(), SAMPLE);
        assert!(!p.is_root());
        use Capability::*;
        assert_eq!(
            summary(&p),
            vec![
                ("database/creds/readonly", caps(&[Read])),
                ("aws/creds/+", caps(&[Read, Update])),
                (
                    "secret/data/app/*",
                    caps(&[Create, Read, Update, Delete, List])
                ),
                ("database/config/*", caps(&[Deny])),
            ]
        );
    }

    #[test]
    fn legacy_policy_word() {
        use Capability::*;
        let p = parse(
            "old",
            r#"
path "a" { policy = "read" }
path "b" { policy = "write" }
path "c" { policy = "sudo" }
path "d" { policy = "deny" }
path "e" {
  policy = "read"
  capabilities = ["update"]
}
"#,
        )
        .unwrap();
        assert_eq!(
            summary(&p),
            vec![
                ("a", caps(&[Read, List])),
                ("b", caps(&[Create, Read, Update, Delete, List])),
                ("c", caps(&[Create, Read, Update, Delete, List, Sudo])),
                ("d", caps(&[Deny])),
                ("e", caps(&[Read, Update, List])),
            ]
        );
        let e = err("path \"a\" {\n  policy = \"admin\"\n}");
        assert!(
            e.contains("line 1: path \"a\": invalid policy \"admin\""),
            "{e}"
        );
    }

    #[test]
    fn json_form() {
        use Capability::*;
        let p = parse(
            "j",
            r#"{
  "name": "ignored",
  "path": {
    "database/creds/ro": {"capabilities": ["read"]},
    "sys/leases/renew": [{"capabilities": ["update"]}]
  }
}"#,
        )
        .unwrap();
        assert_eq!(
            summary(&p),
            vec![
                ("database/creds/ro", caps(&[Read])),
                ("sys/leases/renew", caps(&[Update])),
            ]
        );
        let list_form = parse(
            "j",
            r#"{"path": [{"a/*": {"policy": "read"}}, {"b": {"capabilities": ["list"]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            summary(&list_form),
            vec![("a/*", caps(&[Read, List])), ("b", caps(&[List]))]
        );
    }

    #[test]
    fn base64_text_is_decoded() {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(SAMPLE);
        let p = parse("b", &encoded).unwrap();
        assert_eq!(p.raw(), SAMPLE);
        assert_eq!(p.rules().len(), 4);
    }

    #[test]
    fn empty_and_comment_only_text_has_no_rules() {
        assert!(parse("e", "").unwrap().rules().is_empty());
        assert!(parse("e", "# nothing\n// here\n")
            .unwrap()
            .rules()
            .is_empty());
        assert!(parse("e", "name = \"x\"\n").unwrap().rules().is_empty());
    }

    #[test]
    fn root_name_is_reserved() {
        assert_eq!(parse("root", ""), Err(PolicyError::ReservedName));
        assert_eq!(parse("ROOT", SAMPLE), Err(PolicyError::ReservedName));
    }

    #[test]
    fn parameters_and_wrapping_are_kept() {
        let p = parse(
            "params",
            r#"
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = {
    "Policies" = ["web", "db-*"]
    "ttl"      = []
  }
  denied_parameters = { "no_parent" = [true] }
  required_parameters = ["Policies"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = 3600
}
path "x" {
  capabilities = ["read"]
  allowed_parameters {
    name = ["a"]
  }
}
"#,
        )
        .unwrap();
        let perms = p.rules()[0].permissions();
        assert_eq!(
            perms.allowed_parameters()["policies"],
            vec![json!("web"), json!("db-*")]
        );
        assert!(perms.allowed_parameters()["ttl"].is_empty());
        assert_eq!(perms.denied_parameters()["no_parent"], vec![json!(true)]);
        assert_eq!(perms.required_parameters(), ["policies"]);
        assert_eq!(perms.min_wrapping_ttl(), Some(Duration::from_secs(60)));
        assert_eq!(perms.max_wrapping_ttl(), Some(Duration::from_secs(3600)));
        let block_form = p.rules()[1].permissions();
        assert_eq!(block_form.allowed_parameters()["name"], vec![json!("a")]);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let e = err("path \"a\" {\n  capabilities = [\"read\"\n}\n");
        assert!(
            e.starts_with("failed to parse policy: line 3, column 1: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let j = err("{\"path\": {\"a\": }}");
        assert!(j.contains("invalid JSON") && j.contains("line 1"), "{j}");
    }

    #[test]
    fn rule_errors_name_line_and_path() {
        let e = err("path \"ok\" {\n  capabilities = [\"read\"]\n}\n\npath \"bad\" {\n  capabilities = [\"reed\"]\n}\n");
        assert_eq!(
            e,
            "failed to parse policy: line 5: path \"bad\": unknown capability \"reed\" \
             (expected one of create, read, update, patch, delete, list, sudo, deny, subscribe)"
        );
        let unknown_key = err("path \"a\" {\n  capabilties = [\"read\"]\n}");
        assert!(
            unknown_key.contains("path \"a\": unknown key \"capabilties\""),
            "{unknown_key}"
        );
        let not_list = err("path \"a\" { capabilities = \"read\" }");
        assert!(not_list.contains("must be a list of strings"), "{not_list}");
        let star = err("path \"a/*/b\" { capabilities = [\"read\"] }");
        assert!(
            star.contains("path \"a/*/b\": `*` is only allowed"),
            "{star}"
        );
        let plus_star = err("path \"a/+*\" { capabilities = [\"read\"] }");
        assert!(plus_star.contains("`+*` is not allowed"), "{plus_star}");
        let template = err("path \"a\" { capabilities = [\"${var.x}\"] }");
        assert!(template.contains("templates"), "{template}");
        let variable = err("path \"a\" { capabilities = [read] }");
        assert!(variable.contains("only literal values"), "{variable}");
        let enterprise = err("path \"a\" {\n capabilities = [\"read\"]\n mfa_methods = [\"x\"]\n}");
        assert!(
            enterprise.contains("not supported by leasehold"),
            "{enterprise}"
        );
        let ttl = err("path \"a\" { max_wrapping_ttl = \"soon\" }");
        assert!(ttl.contains("max_wrapping_ttl"), "{ttl}");
        let order = err("path \"a\" {\n min_wrapping_ttl = 60\n max_wrapping_ttl = 30\n}");
        assert!(order.contains("cannot be less than"), "{order}");
        let params = err("path \"a\" { allowed_parameters = { x = \"y\" } }");
        assert!(
            params.contains("values of \"x\" must be a list"),
            "{params}"
        );
        // HCL refuses a repeated attribute itself; a nested block repeating one reaches us.
        let twice = err("path \"a\" {\n capabilities = [\"read\"]\n capabilities = [\"list\"]\n}");
        assert!(twice.contains("line 3, column 2"), "{twice}");
        let twice_block = err("path \"a\" {\n capabilities = [\"read\"]\n capabilities {\n }\n}");
        assert!(twice_block.contains("set more than once"), "{twice_block}");
    }

    #[test]
    fn top_level_errors() {
        let e = err("\n\npaths \"a\" { capabilities = [\"read\"] }");
        assert!(
            e.contains("line 3: unexpected top-level key \"paths\""),
            "{e}"
        );
        let two_labels = err("path \"a\" \"b\" { capabilities = [\"read\"] }");
        assert!(two_labels.contains("exactly one label"), "{two_labels}");
        let no_label = err("path { capabilities = [\"read\"] }");
        assert!(no_label.contains("exactly one label"), "{no_label}");
        let json = err(r#"{"rules": {}}"#);
        assert!(
            json.contains("unexpected top-level key \"rules\""),
            "{json}"
        );
        let json_rule = err(r#"{"path": {"a": ["read"]}}"#);
        assert!(
            json_rule.contains("path \"a\": a rule must be an object"),
            "{json_rule}"
        );
        let json_cap = err(r#"{"path": {"a": {"capabilities": ["fly"]}}}"#);
        assert!(
            json_cap.starts_with("failed to parse policy: path \"a\": unknown capability \"fly\""),
            "{json_cap}"
        );
    }
}
