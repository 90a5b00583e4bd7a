//! What can go wrong in a CLI command, and the exit code it gives, as the `vault` CLI's: 1 for a
//! local error (bad arguments, unreachable server, unreadable file), 2 for an error the server
//! answered.

use std::fmt;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Ours: arguments, files, the connection. Exit 1.
    Local(String),
    /// The server said no. Exit 2.
    Server {
        /// HTTP status.
        status: u16,
        /// What was asked.
        url: String,
        /// Vault's `errors`.
        errors: Vec<String>,
    },
    /// A check's verdict, already printed (`audit verify`): exit with this code, say nothing more.
    Verdict(u8),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Local(_) => 1,
            CliError::Server { .. } => 2,
            CliError::Verdict(code) => *code,
        }
    }

    /// A local error.
    pub fn local(msg: impl Into<String>) -> Self {
        CliError::Local(msg.into())
    }

    /// The HTTP status of a server error.
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Server { status, .. } => Some(*status),
            CliError::Local(_) | CliError::Verdict(_) => None,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Local(m) => write!(f, "{m}"),
            CliError::Verdict(_) => Ok(()),
            CliError::Server {
                status,
                url,
                errors,
            } => {
                writeln!(
                    f,
                    "Error making API request.\n\nURL: {url}\nCode: {status}. Errors:\n"
                )?;
                if errors.is_empty() {
                    write!(f, "* (no message)")
                } else {
                    let lines: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
                    write!(f, "{}", lines.join("\n"))
                }
            }
        }
    }
}
