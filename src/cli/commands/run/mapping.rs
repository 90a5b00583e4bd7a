//! Where the leased fields go: `-env NAME=FIELD` into the child's environment, `-file
//! PATH[=FIELD]` into a file (0600, created new, removed at the end), or — with neither — every
//! field as `<ROLE>_<FIELD>` (the last segment of the secret's path and the field, upper-cased,
//! anything but letters and digits turned into `_`): `database/creds/migrate` gives
//! `MIGRATE_USERNAME` and `MIGRATE_PASSWORD`.
//!
//! A FIELD is `field` when there is one `-secret`; with several it names its secret as
//! `PATH:field` (the path as given to `-secret`) or `N:field` (N counts the `-secret` flags from
//! 1). Everything is checked before anything is leased, so a typo costs no credential.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::cli::error::CliError;

/// A field of one of the secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// Index into the `-secret` list.
    pub secret: usize,
    /// The field of its `data`.
    pub field: String,
}

/// What to do with the fields, checked against the `-secret` list.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// `NAME` ← field.
    pub env: Vec<(String, FieldRef)>,
    /// File ← one field's raw value, or (None) every secret's data as JSON.
    pub files: Vec<(PathBuf, Option<FieldRef>)>,
    /// Neither `-env` nor `-file`: every field under its default name.
    pub defaults: bool,
}

/// What a secret gave: its fields, values as text.
pub type Fields = Vec<(String, SecretString)>;

impl Plan {
    /// Parse `-env` and `-file` against `secrets`.
    pub fn parse(secrets: &[String], env: &[String], files: &[String]) -> Result<Plan, CliError> {
        let mut plan = Plan {
            env: Vec::new(),
            files: Vec::new(),
            defaults: env.is_empty() && files.is_empty(),
        };
        for spec in env {
            let Some((name, field)) = spec.split_once('=') else {
                return Err(CliError::local(format!(
                    "-env {spec:?}: expected NAME=FIELD (e.g. PGUSER=username)"
                )));
            };
            if !is_env_name(name) {
                return Err(CliError::local(format!(
                    "-env {spec:?}: {name:?} is not a valid environment variable name"
                )));
            }
            plan.env
                .push((name.to_owned(), field_ref(field, secrets, "-env", spec)?));
        }
        for spec in files {
            let (path, field) = match spec.rsplit_once('=') {
                Some((path, field)) => (path, Some(field_ref(field, secrets, "-file", spec)?)),
                None => (spec.as_str(), None),
            };
            if path.is_empty() {
                return Err(CliError::local(format!("-file {spec:?}: no path")));
            }
            plan.files.push((PathBuf::from(path), field));
        }
        if plan.defaults {
            let mut seen = BTreeMap::new();
            for (i, s) in secrets.iter().enumerate() {
                if let Some(other) = seen.insert(default_prefix(s), i) {
                    return Err(CliError::local(format!(
                        "-secret {} and -secret {s} would both export {}_*: map the fields with -env",
                        secrets.get(other).map_or("", String::as_str),
                        default_prefix(s)
                    )));
                }
            }
        }
        Ok(plan)
    }

    /// The child's variables from what was leased (`fields[i]` is secret i's).
    pub fn environment(
        &self,
        secrets: &[String],
        fields: &[Fields],
    ) -> Result<Vec<(String, SecretString)>, CliError> {
        if self.defaults {
            let mut out = Vec::new();
            for (path, fields) in secrets.iter().zip(fields) {
                let prefix = default_prefix(path);
                for (name, value) in fields {
                    out.push((format!("{prefix}_{}", upper(name)), value.clone()));
                }
            }
            return Ok(out);
        }
        self.env
            .iter()
            .map(|(name, r)| Ok((name.clone(), lookup(r, secrets, fields)?)))
            .collect()
    }

    /// Write the files; the paths written (to remove at the end, even if a later one failed,
    /// so the error carries them too).
    pub fn write_files(
        &self,
        secrets: &[String],
        fields: &[Fields],
        written: &mut Vec<PathBuf>,
    ) -> Result<(), CliError> {
        for (path, field) in &self.files {
            let content = match field {
                Some(r) => lookup(r, secrets, fields)?,
                None => SecretString::from(all_as_json(secrets, fields)?),
            };
            write_private(path, &content)?;
            written.push(path.clone());
        }
        Ok(())
    }
}

/// Remove what [`Plan::write_files`] wrote; failures said on stderr (the run still ends).
pub fn remove_files(written: &[PathBuf]) -> bool {
    let mut ok = true;
    for path in written {
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("Error: could not remove {}: {e}", path.display());
                ok = false;
            }
        }
    }
    ok
}

/// A new file, readable by us only. An existing file is refused rather than overwritten: it
/// could be someone else's, or a link planted to make us write a secret elsewhere.
fn write_private(path: &Path, content: &SecretString) -> Result<(), CliError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CliError::local(format!("-file {}: {e}", path.display())))?;
    f.write_all(content.expose_secret().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CliError::local(format!("-file {}: {e}", path.display())))
}

/// With one secret its data; with several, each one's data under its path.
fn all_as_json(secrets: &[String], fields: &[Fields]) -> Result<String, CliError> {
    let object = |f: &Fields| -> serde_json::Map<String, serde_json::Value> {
        f.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::Value::String(v.expose_secret().to_owned()),
                )
            })
            .collect()
    };
    let value = match fields {
        [only] => serde_json::Value::Object(object(only)),
        _ => serde_json::Value::Object(
            secrets
                .iter()
                .zip(fields)
                .map(|(p, f)| (p.clone(), serde_json::Value::Object(object(f))))
                .collect(),
        ),
    };
    serde_json::to_string_pretty(&value).map_err(|e| CliError::local(format!("-file: {e}")))
}

fn lookup(r: &FieldRef, secrets: &[String], fields: &[Fields]) -> Result<SecretString, CliError> {
    let path = secrets.get(r.secret).map_or("", String::as_str);
    fields
        .get(r.secret)
        .and_then(|f| f.iter().find(|(k, _)| *k == r.field))
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            let have: Vec<&str> = fields
                .get(r.secret)
                .map(|f| f.iter().map(|(k, _)| k.as_str()).collect())
                .unwrap_or_default();
            CliError::local(format!(
                "{path} has no field {:?} (it has: {})",
                r.field,
                have.join(", ")
            ))
        })
}

/// `field`, `PATH:field` or `N:field`.
fn field_ref(
    spec: &str,
    secrets: &[String],
    flag: &str,
    whole: &str,
) -> Result<FieldRef, CliError> {
    let bad = |why: String| CliError::local(format!("{flag} {whole:?}: {why}"));
    let (secret, field) = match spec.rsplit_once(':') {
        None if secrets.len() == 1 => (0, spec),
        None => {
            return Err(bad(
                "with several -secret, say whose field: PATH:field or N:field (N counts -secret from 1)"
                    .into(),
            ))
        }
        Some((which, field)) => {
            let by_index = which
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=secrets.len()).contains(n))
                .map(|n| n - 1);
            let by_path = || {
                secrets
                    .iter()
                    .position(|s| s.trim_matches('/') == which.trim_matches('/'))
            };
            match by_index.or_else(by_path) {
                Some(i) => (i, field),
                None => {
                    return Err(bad(format!(
                        "{which:?} is neither a -secret path nor a number from 1 to {}",
                        secrets.len()
                    )))
                }
            }
        }
    };
    if field.is_empty() {
        return Err(bad("no field name".into()));
    }
    Ok(FieldRef {
        secret,
        field: field.to_owned(),
    })
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `database/creds/migrate` → `MIGRATE`.
pub fn default_prefix(path: &str) -> String {
    let last = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    let p = upper(last);
    if p.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{p}")
    } else {
        p
    }
}

fn upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn fields(v: &[(&str, &str)]) -> Fields {
        v.iter()
            .map(|(k, x)| ((*k).to_owned(), SecretString::from(*x)))
            .collect()
    }

    #[test]
    fn one_secret_plain_fields() {
        let secrets = s(&["database/creds/migrate"]);
        let plan = Plan::parse(
            &secrets,
            &s(&["PGUSER=username", "PGPASSWORD=password"]),
            &[],
        )
        .unwrap();
        let env = plan
            .environment(&secrets, &[fields(&[("username", "u"), ("password", "p")])])
            .unwrap();
        let env: Vec<(&str, &str)> = env
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(env, [("PGUSER", "u"), ("PGPASSWORD", "p")]);
    }

    #[test]
    fn several_secrets_need_qualified_fields() {
        let secrets = s(&["database/creds/migrate", "aws/creds/deploy"]);
        assert!(Plan::parse(&secrets, &s(&["PGUSER=username"]), &[]).is_err());
        let plan = Plan::parse(
            &secrets,
            &s(&[
                "PGUSER=database/creds/migrate:username",
                "AWS_ACCESS_KEY_ID=2:access_key",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            plan.env[0].1,
            FieldRef {
                secret: 0,
                field: "username".into()
            }
        );
        assert_eq!(
            plan.env[1].1,
            FieldRef {
                secret: 1,
                field: "access_key".into()
            }
        );
        assert!(Plan::parse(&secrets, &s(&["X=3:f"]), &[]).is_err());
        assert!(Plan::parse(&secrets, &s(&["X=kv/x:f"]), &[]).is_err());
        assert!(Plan::parse(&secrets, &s(&["1X=1:f"]), &[]).is_err());
        assert!(Plan::parse(&secrets, &s(&["X=1:"]), &[]).is_err());
    }

    #[test]
    fn defaults_are_prefixed_by_role() {
        let secrets = s(&["database/creds/migrate", "aws/creds/deploy-prod"]);
        let plan = Plan::parse(&secrets, &[], &[]).unwrap();
        assert!(plan.defaults);
        let env = plan
            .environment(
                &secrets,
                &[fields(&[("username", "u")]), fields(&[("access_key", "a")])],
            )
            .unwrap();
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["MIGRATE_USERNAME", "DEPLOY_PROD_ACCESS_KEY"]);
        // Two roles of the same name on different mounts would collide.
        assert!(Plan::parse(&s(&["db1/creds/app", "db2/creds/app"]), &[], &[]).is_err());
        assert_eq!(default_prefix("x/creds/1st"), "_1ST");
    }

    #[test]
    fn a_missing_field_is_named() {
        let secrets = s(&["database/creds/migrate"]);
        let plan = Plan::parse(&secrets, &s(&["X=nope"]), &[]).unwrap();
        let err = plan
            .environment(&secrets, &[fields(&[("username", "u")])])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"nope\"") && err.contains("username"),
            "{err}"
        );
    }

    #[test]
    fn files_are_private_new_and_removed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let secrets = s(&["database/creds/migrate"]);
        let all = dir.path().join("creds.json");
        let pw = dir.path().join("pw");
        let plan = Plan::parse(
            &secrets,
            &[],
            &[
                all.display().to_string(),
                format!("{}=password", pw.display()),
            ],
        )
        .unwrap();
        assert!(!plan.defaults);
        let mut written = Vec::new();
        let leased = [fields(&[("username", "u"), ("password", "p")])];
        plan.write_files(&secrets, &leased, &mut written).unwrap();
        assert_eq!(std::fs::read_to_string(&pw).unwrap(), "p");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&all).unwrap()).unwrap();
        assert_eq!(json["username"], "u");
        let mode = std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second run into the same paths refuses to overwrite.
        assert!(plan
            .write_files(&secrets, &leased, &mut Vec::new())
            .is_err());
        assert!(remove_files(&written));
        assert!(!pw.exists() && !all.exists());
    }
}
