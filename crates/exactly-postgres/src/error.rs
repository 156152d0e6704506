//! Errors of connecting, and how driver errors become [`StoreError`]s.

use exactly_endpoint::StoreError;

/// Connecting a [`crate::PgStore`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The schema name is not `[a-z_][a-z0-9_]{0,62}`.
    #[error("invalid schema name {schema:?}: lower-case letters, digits and _ only")]
    BadSchema {
        /// The name given.
        schema: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {reason}")]
    Unreachable {
        /// Driver message.
        reason: String,
    },
    /// Creating the tables or taking the lock failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Maps a driver error. A closed connection, an error without a server-side code, or a
/// code of class 08 (connection exception) or 57 (operator intervention: the backend was
/// terminated, the server is shutting down) means the connection is gone; the outcome of
/// an in-flight `COMMIT` is then unknown to us, which the inbox makes safe to retry.
pub(crate) fn store_error(error: postgres::Error) -> StoreError {
    let lost = |code: &str| code.starts_with("08") || code.starts_with("57");
    match error.as_db_error() {
        Some(db) if !error.is_closed() && !lost(db.code().code()) => StoreError::Backend {
            reason: format!("{} ({})", db.message(), db.code().code()),
        },
        _ => StoreError::Connection {
            reason: error.to_string(),
        },
    }
}
