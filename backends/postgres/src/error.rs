//! Sorting PostgreSQL and pool failures into [`DriverError`]'s cases: an outage (the target is
//! unreachable, refused our login, is shutting down or out of connections) or a refusal of a
//! statement. The texts name what we were doing; values are scrubbed later by the engine.

use deadpool_postgres::PoolError;
use leasehold_database::DriverError;
use leasehold_pg_tls::with_causes;

/// A tokio-postgres error met while doing `context`.
/// A conflict with a concurrent transaction that aborted ours and is worth retrying as a whole:
/// serialization failure, deadlock, or the catalog's "tuple concurrently updated" (two
/// transactions granting on the same schema at once, which concurrent issues routinely do).
pub(crate) fn is_transient(err: &tokio_postgres::Error) -> bool {
    match err.as_db_error() {
        Some(db) => match db.code().code() {
            "40001" | "40P01" => true,
            "XX000" => db.message().contains("concurrently updated"),
            _ => false,
        },
        None => false,
    }
}

pub(crate) fn from_pg(context: &str, err: &tokio_postgres::Error) -> DriverError {
    match err.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let text = format!(
                "{context}: {}: {} (SQLSTATE {code})",
                db.severity(),
                db.message()
            );
            // Classes 08 (connection), 28 (authorization), 53 (resources, e.g. too many
            // connections) and 57 (operator intervention, e.g. shutdown): the target, not the SQL.
            match code.get(..2) {
                Some("08" | "28" | "53" | "57") => DriverError::Unreachable(text),
                _ => DriverError::Rejected(text),
            }
        }
        // Not an answer from the server: I/O, a closed connection, a timeout, TLS. The causes
        // say which (tokio-postgres's own text is only "error performing TLS handshake").
        None => DriverError::Unreachable(format!("{context}: {}", with_causes(err))),
    }
}

/// A failure to get a pooled connection: whatever it was (refused, TLS, login, a timeout),
/// no statement of the call was sent, which is what [`DriverError::NotConnected`] promises.
pub(crate) fn from_pool(err: PoolError) -> DriverError {
    let text = match err {
        PoolError::Backend(e) => match from_pg("cannot connect to the database", &e) {
            DriverError::Unreachable(t) | DriverError::Rejected(t) => t,
            other => other.to_string(),
        },
        PoolError::Timeout(kind) => format!(
            "cannot connect to the database: timed out {}",
            match kind {
                deadpool_postgres::TimeoutType::Wait => "waiting for a free connection",
                deadpool_postgres::TimeoutType::Create => "opening a connection",
                deadpool_postgres::TimeoutType::Recycle => "checking a pooled connection",
            }
        ),
        PoolError::Closed => {
            "the connection pool was closed (the connection was reconfigured or reset); try again"
                .into()
        }
        PoolError::NoRuntimeSpecified => "connection pool misconfigured: no runtime".into(),
        PoolError::PostCreateHook(e) => format!("cannot prepare a new connection: {e}"),
    };
    DriverError::NotConnected(text)
}
