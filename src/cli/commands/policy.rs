//! `policy write|read|list|delete|fmt`: ACL policies at `sys/policies/acl`, in the `vault`
//! CLI's shapes. `fmt` is local: it checks the file with the server's own policy parser, so a
//! file it accepts is one the server accepts, then rewrites it in the canonical HCL layout.

use std::io::Read as _;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::output::{Format, Output};

/// `policy ...`.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Upload policy NAME from FILE (or `-`, standard input).
    Write(Write),
    /// Print the text of policy NAME.
    Read(Read),
    /// The policies' names.
    List(List),
    /// Delete policy NAME.
    Delete(Delete),
    /// Rewrite an HCL policy FILE in place, formatted. Local: no server is asked. The file is
    /// first checked with the server's parser. Comments between blocks are kept; comments
    /// inside a block are dropped (a warning says so when there were any).
    Fmt(Fmt),
}

/// `policy write NAME FILE|-`.
#[derive(Debug, clap::Args)]
pub struct Write {
    /// The policy's name.
    pub name: String,
    /// The policy file (HCL or JSON), or `-` for standard input.
    pub file: String,
}

/// `policy read NAME`.
#[derive(Debug, clap::Args)]
pub struct Read {
    /// The policy's name.
    pub name: String,
    #[command(flatten)]
    pub out: Output,
}

/// `policy list`.
#[derive(Debug, clap::Args)]
pub struct List {
    #[command(flatten)]
    pub out: Output,
}

/// `policy delete NAME`.
#[derive(Debug, clap::Args)]
pub struct Delete {
    /// The policy's name.
    pub name: String,
}

/// `policy fmt FILE`.
#[derive(Debug, clap::Args)]
pub struct Fmt {
    /// The HCL policy file to rewrite.
    pub file: PathBuf,
}

impl PolicyCommand {
    /// Run.
    pub async fn run(self, client: &Client) -> Result<(), CliError> {
        match self {
            PolicyCommand::Write(c) => c.run(client).await,
            PolicyCommand::Read(c) => c.run(client).await,
            PolicyCommand::List(c) => c.run(client).await,
            PolicyCommand::Delete(c) => c.run(client).await,
            PolicyCommand::Fmt(c) => c.run(),
        }
    }
}

fn policy_path(name: &str) -> String {
    format!("sys/policies/acl/{}", name.trim().to_ascii_lowercase())
}

impl Write {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let text = if self.file == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::local(format!("reading standard input: {e}")))?;
            text
        } else {
            std::fs::read_to_string(&self.file)
                .map_err(|e| CliError::local(format!("Error opening policy file: {e}")))?
        };
        client
            .write(&policy_path(&self.name), &json!({ "policy": text }))
            .await?;
        println!("Success! Uploaded policy: {}", self.name);
        Ok(())
    }
}

impl Read {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = match client.read(&policy_path(&self.name)).await {
            Ok(a) => a,
            Err(e) if e.status() == Some(404) => {
                return Err(CliError::Server {
                    status: 404,
                    url: policy_path(&self.name),
                    errors: vec![format!("No policy named: {}", self.name)],
                })
            }
            Err(e) => return Err(e),
        };
        if self.out.field.is_some() || self.out.format() == Format::Json {
            return self.out.secret(&answer);
        }
        let text = answer
            .pointer("/data/policy")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // The text as stored, with exactly one newline after it.
        println!("{}", text.trim_end_matches('\n'));
        Ok(())
    }
}

impl List {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        let answer = client.list("sys/policies/acl").await?;
        if self.out.format() == Format::Json {
            return self.out.keys(&answer);
        }
        // Vault prints the bare names, no header.
        for name in answer
            .pointer("/data/keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            println!("{name}");
        }
        Ok(())
    }
}

impl Delete {
    async fn run(self, client: &Client) -> Result<(), CliError> {
        client.delete(&policy_path(&self.name)).await?;
        println!("Success! Deleted policy: {}", self.name);
        Ok(())
    }
}

impl Fmt {
    /// Run (locally).
    pub fn run(self) -> Result<(), CliError> {
        let shown = self.file.display();
        let text = std::fs::read_to_string(&self.file)
            .map_err(|e| CliError::local(format!("Error opening policy file {shown}: {e}")))?;
        let (formatted, lost) =
            format_policy(&text).map_err(|e| CliError::local(format!("{shown}: {e}")))?;
        if lost {
            eprintln!("Warning: comments inside blocks of {shown} were dropped");
        }
        std::fs::write(&self.file, formatted)
            .map_err(|e| CliError::local(format!("Error writing {shown}: {e}")))?;
        println!("Success! Formatted policy: {shown}");
        Ok(())
    }
}

/// Check `text` with the server's parser, then lay it out as canonical HCL. Comments between
/// top-level items (a file's header, a note above a `path` block) are kept, each above the item
/// it preceded; comments inside a block are lost (the second value is then `true`).
pub fn format_policy(text: &str) -> Result<(String, bool), String> {
    use hcl::edit::Span as _;
    if text.trim_start().starts_with('{') {
        return Err("policy fmt formats HCL; this is a JSON policy".into());
    }
    crate::auth::policy::parse("fmt", text).map_err(|e| e.to_string())?;
    let body = hcl::edit::parser::parse_body(text)
        .map_err(|e| format!("failed to parse policy: {}", e.message()))?;
    let mut out = String::new();
    let mut lost = false;
    let mut from = 0;
    for item in body.iter() {
        let span = item
            .span()
            .ok_or("failed to parse policy: an item without a position")?;
        let between = text.get(from..span.start).unwrap_or_default();
        let item_text = text.get(span.clone()).unwrap_or_default();
        lost |= has_comments(item_text);
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&comment_lines(between));
        out.push_str(&format_item(item_text)?);
        from = span.end;
    }
    let tail = comment_lines(text.get(from..).unwrap_or_default());
    if !tail.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&tail);
    }
    Ok((out, lost))
}

/// One top-level item, formatted with arrays on one line (`capabilities = ["read", "list"]`).
fn format_item(item: &str) -> Result<String, String> {
    use hcl::format::Format as _;
    let body = hcl::parse(item).map_err(|e| format!("failed to parse policy: {e}"))?;
    let mut formatter = hcl::format::Formatter::builder()
        .compact_arrays(true)
        .build_vec();
    let mut text = body
        .format_string(&mut formatter)
        .map_err(|e| format!("formatting: {e}"))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// The comments in the text between two items, one per line, unindented. Blank lines and
/// stray separators go.
fn comment_lines(between: &str) -> String {
    let mut out = String::new();
    let mut in_block = false;
    for line in between.lines() {
        let line = line.trim();
        if in_block || line.starts_with('#') || line.starts_with("//") || line.starts_with("/*") {
            out.push_str(line);
            out.push('\n');
            in_block = if in_block {
                !line.contains("*/")
            } else {
                line.starts_with("/*") && !line.contains("*/")
            };
        }
    }
    out
}

/// Whether HCL `text` has a comment outside its strings. Heredocs are not told apart (policies
/// do not use them), so a `#` in one counts: at worst a needless warning.
pub fn has_comments(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => return true,
            '/' if matches!(chars.peek(), Some('/' | '*')) => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_lays_out_a_valid_policy_and_refuses_an_invalid_one() {
        let (out, lost) = format_policy(
            "# ops team\n\n  # may read\npath   \"secret/*\"   {capabilities=[\"read\",\"list\"]}\npath \"sys/health\" { capabilities = [\"read\"] } # health\n// end\n",
        )
        .unwrap();
        assert_eq!(
            out,
            "# ops team\n# may read\npath \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n\n\
             path \"sys/health\" {\n  capabilities = [\"read\"]\n}\n\n# health\n// end\n"
        );
        assert!(!lost);
        let (out, lost) =
            format_policy("path \"x\" {\n  # inner\n  capabilities = [\"read\"]\n}\n").unwrap();
        assert!(lost, "{out}");
        assert!(!out.contains("inner"), "{out}");
        // The server's own checks: an unknown capability is refused before any formatting.
        let e = format_policy("path \"x\" { capabilities = [\"reed\"] }").unwrap_err();
        assert!(e.contains("failed to parse policy"), "{e}");
        assert!(format_policy("path \"x\" {").is_err());
        assert!(format_policy("{\"path\": {}}").is_err());
    }

    #[test]
    fn comments_are_found_outside_strings_only() {
        assert!(has_comments("# ops\npath \"x\" {}"));
        assert!(has_comments("path \"x\" {} // why"));
        assert!(!has_comments(
            "path \"secret/#x//y\" { capabilities = [\"read\"] }"
        ));
    }
}
