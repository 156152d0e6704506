//! [`TxnError`]: why a transactional operation failed.

use super::state::TxnState;
use crate::error::{AppendError, ReadError, TopicError};

/// Why a transactional operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    /// A newer instance (or a timeout abort) bumped the epoch: this instance is a zombie.
    #[error("transactional id '{transactional_id}' is fenced: epoch {epoch} < {current_epoch}")]
    Fenced {
        /// Transactional id.
        transactional_id: String,
        /// This instance's epoch.
        epoch: u16,
        /// The coordinator's epoch.
        current_epoch: u16,
    },
    /// The operation does not fit the transaction's state.
    #[error("cannot {operation} transaction '{transactional_id}' in state {state:?}")]
    InvalidState {
        /// Transactional id.
        transactional_id: String,
        /// Attempted operation.
        operation: &'static str,
        /// Current state.
        state: TxnState,
    },
    /// The transaction ran past its timeout and was aborted.
    #[error("transaction '{transactional_id}' timed out after {timeout_ms} ms and was aborted")]
    TimedOut {
        /// Transactional id.
        transactional_id: String,
        /// The timeout.
        timeout_ms: i64,
    },
    /// The id's previous transaction is decided but its marker for a partition outside
    /// this handle's write scope is not written: a new transaction would overwrite the
    /// decision that completes it.
    #[error(
        "transaction '{transactional_id}' is decided but its marker for {topic}/{partition} \
         is not written; open the log owning '{topic}' to complete it"
    )]
    PendingOutsideScope {
        /// Transactional id.
        transactional_id: String,
        /// A topic still waiting for the marker.
        topic: String,
        /// Its partition.
        partition: u32,
    },
    /// Internal topics cannot be written directly.
    #[error("topic '{topic}' is internal")]
    InternalTopic {
        /// The topic.
        topic: String,
    },
    /// Transaction state in `__transactions` does not parse.
    #[error("corrupt transaction record at offset {offset}: {reason}")]
    CorruptState {
        /// Offset in `__transactions`.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// A transaction or position record could not be serialised (nothing was written).
    #[error("encoding the {what} record of '{key}' failed: {reason}")]
    Encode {
        /// Which record: "transaction state" or "consumer position".
        what: &'static str,
        /// Its transactional id or group/topic/partition key.
        key: String,
        /// The serialiser's message.
        reason: String,
    },
    /// A coordinator snapshot (transactions or consumer positions) could not be read or
    /// written.
    #[error("coordinator snapshot {path}: {reason}")]
    SnapshotIo {
        /// The snapshot file.
        path: std::path::PathBuf,
        /// What failed.
        reason: String,
    },
    /// A coordinator snapshot does not check (magic, length, CRC, contents) or does not fit
    /// the records of its topic.
    #[error("corrupt coordinator snapshot {path}: {reason}")]
    SnapshotCorrupt {
        /// The snapshot file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A coordinator snapshot has a format version this build does not know.
    #[error("coordinator snapshot {path} has unknown format version {version}")]
    SnapshotVersion {
        /// The snapshot file.
        path: std::path::PathBuf,
        /// Its version.
        version: u32,
    },
    /// The thread that makes trailing transaction markers durable could not be started.
    #[error("starting the transaction marker syncer thread: {reason}")]
    SyncerStart {
        /// The operating system's error.
        reason: String,
    },
    /// An append failed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Creating an internal topic failed.
    #[error(transparent)]
    Topic(#[from] TopicError),
}
