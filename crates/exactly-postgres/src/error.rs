//! Errors of connecting, and how driver errors become [`StoreError`]s.

use exactly_endpoint::StoreError;
use postgres::error::DbError;

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
    /// The connection string does not parse.
    #[error("invalid PostgreSQL connection string: {reason}")]
    BadUrl {
        /// Driver message.
        reason: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {reason}")]
    Unreachable {
        /// Driver message, with the server's diagnosis when it sent one.
        reason: String,
    },
    /// Creating the tables or taking the lock failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConnectError {
    /// Whether retrying later may succeed: the server was unreachable or the connection
    /// was lost while setting up (not a bad schema name, URL or a refused statement).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Store(StoreError::Connection { .. })
        )
    }
}

/// Maps a driver error. A closed connection, an error without a server-side code, a code
/// of class 08 (connection exception) or 57 (operator intervention: the backend was
/// terminated, the server is shutting down), or a FATAL error (the server ended the
/// session) means the connection is gone; the outcome of
/// an in-flight `COMMIT` is then unknown to us, which the inbox makes safe to retry.
/// Otherwise the server refused the statement: its severity, code, message, detail and
/// hint are kept.
pub(crate) fn store_error(error: postgres::Error) -> StoreError {
    let mapped = match error.as_db_error() {
        Some(db) if !connection_lost(&error) => StoreError::Database {
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
        },
        _ => StoreError::Connection {
            reason: describe(&error),
        },
    };
    // Quiet by default (`RUST_LOG=exactly_postgres=warn` shows it): the caller gets the
    // typed error; the log keeps the failure where it happened.
    tracing::warn!(error = %mapped, "PostgreSQL operation failed");
    mapped
}

/// Whether a driver error means the connection is gone (closed, no server-side code, a
/// code of class 08 — connection exception — or 57 — operator intervention: the backend
/// was terminated, the server is shutting down —, or any error of severity FATAL or
/// PANIC, after which the server ends the session: e.g. 25P03, a transaction left idle
/// past `idle_in_transaction_session_timeout` because its process was paused), not that
/// the server refused a statement. (Seen in the NATS zombie test: a job SIGSTOPped inside
/// its checkpoint commit got "FATAL 25P03" back as a server error, not as a closed
/// connection, on resuming, and gave up instead of retrying — where the retry finds the
/// writer fenced. Which of the two forms the driver reports depends on timing, so no test
/// here can force it.)
pub(crate) fn connection_lost(error: &postgres::Error) -> bool {
    let lost = |code: &str| code.starts_with("08") || code.starts_with("57");
    match error.as_db_error() {
        Some(db) => {
            error.is_closed()
                || lost(db.code().code())
                || matches!(db.severity(), "FATAL" | "PANIC")
        }
        None => true,
    }
}

/// The whole story of a driver error on one line: the server's diagnosis when it sent
/// one (the driver's own text is only "db error"), else the driver's message and its
/// causes, each once.
pub(crate) fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return describe_db(db);
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

fn describe_db(db: &DbError) -> String {
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!(" (detail: {detail})"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!(" (hint: {hint})"));
    }
    text
}

/// Where a store is, for errors and logs: database, schema and job — never the URL, which
/// may carry a password.
pub(crate) fn store_location(url: &str, schema: &str, job: &str) -> String {
    let database = url
        .parse::<postgres::Config>()
        .ok()
        .and_then(|c| c.get_dbname().map(str::to_string));
    let database = match database.as_deref() {
        Some(database) => database.to_string(),
        // The URL names none (or does not parse here; connecting reports why).
        None => "(the server's default)".to_string(),
    };
    format!("postgresql database {database} schema {schema} job {job}")
}
