//! Sorting Redis failures into [`DriverError`]'s cases: an outage (the server is unreachable,
//! refused our login, is loading or read-only) or a refusal of a command. The texts name what we
//! were doing; values are scrubbed later by the engine.

use leasehold_database::DriverError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// A failure while connecting: whatever the reason (wrong password, refused, timed out), the
/// target cannot be used as configured.
pub(crate) fn connecting(err: &RedisError) -> DriverError {
    match err.kind() {
        ErrorKind::InvalidClientConfig => {
            DriverError::InvalidConfig(format!("invalid connection settings: {err}"))
        }
        _ => DriverError::Unreachable(format!("cannot connect to the database: {err}")),
    }
}

/// A failure of a command run while doing `context`.
pub(crate) fn from_redis(context: &str, err: &RedisError) -> DriverError {
    let text = format!("{context}: {err}");
    if is_broken(err) {
        return DriverError::Unreachable(text);
    }
    match err.kind() {
        ErrorKind::AuthenticationFailed
        | ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly,
        ) => DriverError::Unreachable(text),
        _ => DriverError::Rejected(text),
    }
}

/// The connection itself failed: it must be replaced, not reused.
pub(crate) fn is_broken(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_connection_refusal()
}

/// Redis's answer to `CLIENT KILL USER` for a user that does not exist.
pub(crate) fn is_no_such_user(err: &RedisError) -> bool {
    err.detail().is_some_and(|d| d.contains("No such user"))
        || err.to_string().contains("No such user")
}
