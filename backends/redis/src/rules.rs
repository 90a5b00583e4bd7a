//! A role's creation statements as ACL rules, the way Vault's Redis plugin reads them: a JSON
//! list of rules such as `["~*", "+@read"]`. Each statement string may be such a list, or plain
//! rules separated by blanks (`+@read ~app:*`). No statements means Vault's default,
//! `["~*", "+@read"]`.
//!
//! Rules that set the user's passwords or its on/off state are refused: the driver sets those
//! (`on >password`), and a role that could add `nopass` or a password of its own choosing would
//! make the leased credential not the only way in, or no way in at all.

use leasehold_database::DriverError;

/// Vault's default rules for a role without creation statements.
pub const DEFAULT_RULES: &[&str] = &["~*", "+@read"];

/// The ACL rules of `statements`, checked; see the module docs.
pub fn parse_rules<S: AsRef<str>>(statements: &[S]) -> Result<Vec<String>, DriverError> {
    let mut rules = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        let text = statement.as_ref().trim();
        if text.starts_with('[') {
            let list: Vec<String> = serde_json::from_str(text).map_err(|e| {
                DriverError::Refused(format!(
                    "creation statement {} is not a JSON list of ACL rules: {e}",
                    i + 1
                ))
            })?;
            rules.extend(list.into_iter().map(|r| r.trim().to_owned()));
        } else {
            rules.extend(text.split_whitespace().map(str::to_owned));
        }
    }
    rules.retain(|r| !r.is_empty());
    for rule in &rules {
        check_rule(rule)?;
    }
    if rules.is_empty() {
        rules = DEFAULT_RULES.iter().map(|r| (*r).to_owned()).collect();
    }
    Ok(rules)
}

fn check_rule(rule: &str) -> Result<(), DriverError> {
    // A password rule carries a password (or its hash): do not echo it.
    if rule.starts_with(['>', '<', '#', '!']) {
        return Err(DriverError::Refused(
            "creation statements may not set or remove passwords (>, <, #, ! rules): the driver \
             sets the lease's password"
                .into(),
        ));
    }
    let lower = rule.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "on" | "off" | "nopass" | "resetpass" | "reset"
    ) {
        return Err(DriverError::Refused(format!(
            "ACL rule {rule:?} is not allowed in creation statements: the driver turns the user \
             on with the lease's password"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lists_plain_rules_and_the_default() {
        assert_eq!(
            parse_rules(&[
                r#"["+@read", "~app:*"]"#.to_owned(),
                "+ping  &chan".to_owned()
            ])
            .unwrap(),
            vec!["+@read", "~app:*", "+ping", "&chan"]
        );
        assert_eq!(parse_rules::<String>(&[]).unwrap(), DEFAULT_RULES);
        assert_eq!(parse_rules(&[" ".to_owned()]).unwrap(), DEFAULT_RULES);
    }

    #[test]
    fn password_and_state_rules_are_refused() {
        for bad in [
            ">secret",
            "<secret",
            "#abcd",
            "!abcd",
            "nopass",
            "NOPASS",
            "off",
            "on",
            "reset",
            "resetpass",
        ] {
            let err = parse_rules(&[format!(r#"["+@read", "{bad}"]"#)]).unwrap_err();
            assert!(matches!(err, DriverError::Refused(_)), "{bad}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        assert!(parse_rules(&["[\"+@read\"".to_owned()]).is_err());
        assert!(parse_rules(&["[1, 2]".to_owned()]).is_err());
    }
}
