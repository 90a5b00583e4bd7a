//! `k=v` arguments as the `vault` CLI takes them: `k=v` a string, `k=@file` the file's contents,
//! `k=-` standard input, and a lone `-` a JSON object on standard input.

use std::io::Read;

use serde_json::{Map, Value};

use super::error::CliError;

/// Parse `pairs` into a request body.
pub fn parse_pairs(pairs: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut body = Map::new();
    let mut stdin_used = false;
    for pair in pairs {
        if pair == "-" {
            take_stdin(&mut stdin_used)?;
            let text = read_stdin()?;
            let parsed: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::local(format!("stdin: not a JSON object: {e}")))?;
            let Value::Object(obj) = parsed else {
                return Err(CliError::local("stdin: not a JSON object"));
            };
            body.extend(obj);
            continue;
        }
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::local(format!(
                "invalid key/value pair {pair:?}: format must be key=value"
            )));
        };
        if key.is_empty() {
            return Err(CliError::local(format!(
                "invalid key/value pair {pair:?}: empty key"
            )));
        }
        let value = if value == "-" {
            take_stdin(&mut stdin_used)?;
            read_stdin()?
        } else if let Some(path) = value.strip_prefix('@') {
            std::fs::read_to_string(path)
                .map_err(|e| CliError::local(format!("{key}=@{path}: {e}")))?
        } else {
            value.to_owned()
        };
        body.insert(key.to_owned(), Value::String(value));
    }
    Ok(body)
}

fn take_stdin(used: &mut bool) -> Result<(), CliError> {
    if *used {
        return Err(CliError::local("standard input can be read only once"));
    }
    *used = true;
    Ok(())
}

fn read_stdin() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::local(format!("reading standard input: {e}")))?;
    Ok(text.trim_end_matches('\n').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_files() {
        let dir = std::env::temp_dir().join(format!("lh-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("policy.hcl");
        std::fs::write(&f, "path \"x\" {}").unwrap();
        let body = parse_pairs(&[
            "ttl=1h".into(),
            format!("policy=@{}", f.display()),
            "eq=a=b".into(),
        ])
        .unwrap();
        assert_eq!(body["ttl"], "1h");
        assert_eq!(body["policy"], "path \"x\" {}");
        assert_eq!(body["eq"], "a=b");
        assert!(parse_pairs(&["novalue".into()]).is_err());
        assert!(parse_pairs(&["=x".into()]).is_err());
        assert!(parse_pairs(&["p=@/nonexistent/file".into()]).is_err());
    }
}
