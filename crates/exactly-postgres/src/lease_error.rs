//! Errors of the PostgreSQL lease store ([`LeaseStoreError`]), of the commit fence run in
//! another transaction ([`CommitRefused`]), and how a driver error is classified: lost
//! connection, conflict to retry (serialization failure, deadlock), or a refusal.
//!
//! None of these is a refusal by the protocol: those are the `Response`s themselves
//! (`exactly_cluster::LeaseError` and friends), exactly as the model returns them.

use crate::error::{connection_lost, describe};
use exactly_cluster::LeaseError;

/// SQLSTATE of a serialization failure: the transaction was rolled back, run it again.
const SERIALIZATION_FAILURE: &str = "40001";
/// SQLSTATE of a detected deadlock: this transaction was chosen as the victim.
const DEADLOCK_DETECTED: &str = "40P01";

/// The lease store could not answer a request. Errors name the store by database, schema
/// and job (`location`), never by its connection string, which may hold a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseStoreError {
    /// The configuration cannot work (schema name, connection string, a fixed clock
    /// beyond a `bigint`).
    #[error("invalid lease store configuration: {reason}")]
    BadConfig {
        /// What is wrong.
        reason: String,
    },
    /// The connection was lost (or could not be opened) and the reconnect policy gave up,
    /// or it was lost while `COMMIT` was in flight. Transient: the next call reconnects.
    #[error("{location}: {what}: connection lost{}: {reason}",
        if *outcome_unknown { " during COMMIT (the request may or may not have been applied)" } else { "" })]
    ConnectionLost {
        /// Where the store is.
        location: String,
        /// The operation.
        what: String,
        /// Whether the request may have been applied: the answer was lost with the
        /// connection, exactly as if the network had dropped it. Otherwise it was
        /// certainly not applied.
        outcome_unknown: bool,
        /// Driver message.
        reason: String,
    },
    /// Serialization failures or deadlocks every time, up to the retry bound. Transient.
    #[error("{location}: {what}: still conflicting after {attempts} attempts: {reason}")]
    Contention {
        /// Where the store is.
        location: String,
        /// The operation.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The last conflict, as the server described it.
        reason: String,
    },
    /// The server refused a statement (not a conflict, not a lost connection).
    #[error("{location}: {what}: refused by PostgreSQL: {reason}")]
    Database {
        /// Where the store is.
        location: String,
        /// The operation.
        what: String,
        /// SQLSTATE, when the server sent one.
        code: Option<String>,
        /// The server's diagnosis (severity, code, message, detail, hint).
        reason: String,
    },
    /// A row read back does not decode (a value out of range, a malformed assignment, a
    /// missing job row): the tables were changed outside this store. Never defaulted.
    #[error("{location}: bad data in {table}: {reason}")]
    BadData {
        /// Where the store is.
        location: String,
        /// The table.
        table: String,
        /// What does not decode.
        reason: String,
    },
    /// The job is stored with another task list: a job's task list is fixed while it runs.
    #[error("{location}: job {job:?} is stored with tasks {stored:?}, not {given:?}")]
    TaskListMismatch {
        /// Where the store is.
        location: String,
        /// The job.
        job: String,
        /// The stored task list.
        stored: Vec<u32>,
        /// The task list given at connect.
        given: Vec<u32>,
    },
}

impl LeaseStoreError {
    /// Whether calling again (the store reconnects) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::ConnectionLost { .. } | Self::Contention { .. })
    }
}

/// Why [`check_commit_in`](crate::lease_store::check_commit_in) refuses a checkpoint
/// commit. Either way the caller must roll its transaction back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitRefused {
    /// The lease does not allow the commit: fenced by a newer epoch or another owner,
    /// released, expired, or no such task — exactly the model's
    /// `LeaseTable::check_commit` refusal.
    #[error("commit refused by the lease: {0}")]
    Lease(#[from] LeaseError),
    /// The check could not run (lost connection, a serialization failure of the caller's
    /// own transaction, bad data). Nothing is known about the lease; the caller may run
    /// its whole transaction again if [`LeaseStoreError::is_transient`].
    #[error(transparent)]
    Store(#[from] LeaseStoreError),
}

/// How one failed database step is handled.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connection is gone: reconnect; the transaction did not commit unless it was
    /// the `COMMIT` itself that failed.
    Lost(String),
    /// Serialization failure or deadlock: the transaction was rolled back; run it again.
    Conflict(String),
    /// The server refused a statement.
    Refused {
        /// SQLSTATE, when sent.
        code: Option<String>,
        /// The server's diagnosis.
        reason: String,
    },
    /// A row read back does not decode.
    BadData {
        /// The table.
        table: &'static str,
        /// What does not decode.
        reason: String,
    },
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Self {
        if connection_lost(&error) {
            return Self::Lost(describe(&error));
        }
        let code = error.as_db_error().map(|db| db.code().code().to_string());
        match code.as_deref() {
            Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED) => Self::Conflict(describe(&error)),
            _ => Self::Refused {
                code,
                reason: describe(&error),
            },
        }
    }
}

impl Failure {
    /// A value read from `table` that does not decode.
    pub(crate) fn bad(table: &'static str, reason: impl Into<String>) -> Self {
        Self::BadData {
            table,
            reason: reason.into(),
        }
    }

    /// The error a caller sees when this failure ends the operation (`outcome_unknown`:
    /// the failure struck the `COMMIT`).
    pub(crate) fn into_error(
        self,
        location: &str,
        what: &str,
        outcome_unknown: bool,
    ) -> LeaseStoreError {
        match self {
            Self::Lost(reason) => LeaseStoreError::ConnectionLost {
                location: location.to_string(),
                what: what.to_string(),
                outcome_unknown,
                reason,
            },
            Self::Conflict(reason) => LeaseStoreError::Contention {
                location: location.to_string(),
                what: what.to_string(),
                attempts: 1,
                reason,
            },
            Self::Refused { code, reason } => LeaseStoreError::Database {
                location: location.to_string(),
                what: what.to_string(),
                code,
                reason,
            },
            Self::BadData { table, reason } => LeaseStoreError::BadData {
                location: location.to_string(),
                table: table.to_string(),
                reason,
            },
        }
    }
}
