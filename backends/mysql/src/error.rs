//! Sorting MySQL failures into [`DriverError`]'s cases: an outage (the server is unreachable,
//! refused our login, is shutting down or out of connections) or a refusal of a statement. The
//! texts name what we were doing; values are scrubbed later by the engine.

use leasehold_database::DriverError;
use mysql_async::{Error, ServerError};

/// `KILL` of a connection that has already ended (ER_NO_SUCH_THREAD).
pub(crate) const NO_SUCH_THREAD: u16 = 1094;
/// A syntax error (ER_PARSE_ERROR): the server predates the statement (`ACCOUNT LOCK` before
/// MySQL 5.7.6 / MariaDB 10.4).
pub(crate) const PARSE_ERROR: u16 = 1064;

/// Server errors that say the server, not our SQL, is the problem: too many connections
/// (1040), shutdown in progress (1053), user connection limit (1203, 1226), host blocked
/// (1129), a killed or timed-out connection (1927, 4031).
const OUTAGE_CODES: &[u16] = &[1040, 1053, 1203, 1226, 1129, 1927, 4031];

/// A failure while getting a connection: whatever the reason (wrong password, unknown host,
/// refused), the target cannot be used as configured.
pub(crate) fn connecting(err: &Error) -> DriverError {
    match err {
        Error::Url(e) => DriverError::InvalidConfig(format!("invalid connection_url: {e}")),
        Error::Server(e) => {
            DriverError::Unreachable(format!("cannot connect to the database: {}", describe(e)))
        }
        other => DriverError::Unreachable(format!("cannot connect to the database: {other}")),
    }
}

/// A failure of a statement run while doing `context`.
pub(crate) fn from_mysql(context: &str, err: &Error) -> DriverError {
    match err {
        Error::Server(e) => {
            let text = format!("{context}: {}", describe(e));
            // SQLSTATE class 08 is a connection exception, 28 an authorization failure.
            if OUTAGE_CODES.contains(&e.code) || e.state.starts_with("08") {
                DriverError::Unreachable(text)
            } else {
                DriverError::Rejected(text)
            }
        }
        Error::Url(e) => DriverError::InvalidConfig(format!("{context}: {e}")),
        // Not an answer from the server: I/O, a closed connection, a protocol failure.
        other => DriverError::Unreachable(format!("{context}: {other}")),
    }
}

/// The server's error code, if `err` is an answer from the server.
pub(crate) fn server_code(err: &Error) -> Option<u16> {
    match err {
        Error::Server(e) => Some(e.code),
        _ => None,
    }
}

fn describe(e: &ServerError) -> String {
    format!(
        "{} (MySQL error {}, SQLSTATE {})",
        e.message, e.code, e.state
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, state: &str) -> Error {
        Error::Server(ServerError {
            code,
            message: "boom".into(),
            state: state.into(),
        })
    }

    #[test]
    fn outages_and_refusals_are_told_apart() {
        assert!(matches!(
            from_mysql("x", &server(1064, "42000")),
            DriverError::Rejected(_)
        ));
        assert!(matches!(
            from_mysql("x", &server(1040, "08004")),
            DriverError::Unreachable(_)
        ));
        assert!(matches!(
            from_mysql("x", &server(1053, "08S01")),
            DriverError::Unreachable(_)
        ));
        // Even an access-denied answer means "unreachable as configured" when connecting.
        assert!(matches!(
            connecting(&server(1045, "28000")),
            DriverError::Unreachable(_)
        ));
        let text = from_mysql("creation statement 2 failed", &server(1146, "42S02")).to_string();
        assert_eq!(
            text,
            "creation statement 2 failed: boom (MySQL error 1146, SQLSTATE 42S02)"
        );
        assert_eq!(server_code(&server(1094, "HY000")), Some(NO_SUCH_THREAD));
    }
}
