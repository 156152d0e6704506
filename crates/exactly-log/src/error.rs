//! One error enum per operation, each with the structured fields a caller needs.

use crate::batch::EncodeError;
use exactly_core::{Offset, ProducerEpoch, ProducerId, Sequence};
use std::io;
use std::path::PathBuf;

/// Why a log could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The configuration is out of range.
    #[error("invalid log config: {0}")]
    BadConfig(String),
    /// A file could not be read or written.
    #[error("I/O error on {path}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Completing interrupted transactions failed.
    #[error("recovering transactions failed: {reason}")]
    Transactions {
        /// Why.
        reason: String,
    },
    /// Another process has the log directory open.
    #[error("log directory is locked by another process ({path})")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Another process owns `topic` (a scoped writer holds its lock).
    #[error("topic '{topic}' is owned by another process (lock {path})")]
    TopicLocked {
        /// The topic.
        topic: String,
        /// Its lock file.
        path: PathBuf,
    },
    /// Data before the tail is damaged: refusing to open rather than skip it.
    #[error("corrupt log file {file} at byte {position}: {reason}")]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte position of the first damaged batch.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// The active segment's valid data ends below what the log had evidence was durable:
    /// acknowledged records are damaged or missing. Recovery refuses to cut them as a torn
    /// write; `exactly log repair` cuts them explicitly.
    #[error(
        "durable data damaged in {file} at byte {position}: offsets {first_lost_offset}..{durable_next_offset} \
         were durable ({evidence}) but {reason}; run `exactly log repair` to cut them explicitly"
    )]
    DurableDataLost {
        /// The active segment file.
        file: PathBuf,
        /// Byte position of the first invalid byte (the end of the valid batches).
        position: u64,
        /// First offset that cannot be read.
        first_lost_offset: Offset,
        /// Offset after the last record known to be durable.
        durable_next_offset: Offset,
        /// Which evidence: the durable-end file's byte position or a producer snapshot.
        evidence: String,
        /// What recovery found at `position`.
        reason: String,
    },
}

/// Why a topic could not be created or looked up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Names are 1–200 characters of `[A-Za-z0-9._-]`, not starting with a dot.
    #[error("invalid topic name '{name}': {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Partition count outside 1..=10_000.
    #[error("invalid partition count {partitions}: want 1..=10000")]
    InvalidPartitions {
        /// The rejected count.
        partitions: u32,
    },
    /// The topic exists with a different partition count.
    #[error("topic '{topic}' already exists with {partitions} partitions")]
    AlreadyExists {
        /// Topic name.
        topic: String,
        /// Its partition count.
        partitions: u32,
    },
    /// No such topic.
    #[error("unknown topic '{topic}'")]
    UnknownTopic {
        /// Topic name.
        topic: String,
    },
    /// A file could not be written.
    #[error("I/O error on {path}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The log was opened read-only.
    #[error("the log is open read-only")]
    ReadOnly,
    /// The log was opened with a write scope that does not own the topic.
    #[error("topic '{topic}' is not in this process's write scope")]
    NotOwned {
        /// Topic name.
        topic: String,
    },
    /// Creating the partitions failed while opening them.
    #[error(transparent)]
    Open(#[from] Box<OpenError>),
}

/// Why an append was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// No such topic.
    #[error("unknown topic '{topic}'")]
    UnknownTopic {
        /// Topic name.
        topic: String,
    },
    /// Partition index out of range.
    #[error("topic '{topic}' has {partitions} partitions; {partition} does not exist")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Requested partition.
        partition: u32,
        /// Partition count.
        partitions: u32,
    },
    /// The records cannot form a batch (empty, too large).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A newer epoch of this producer id has appended: this instance is a zombie.
    #[error("producer {producer_id} epoch {epoch} is fenced by epoch {current_epoch}")]
    ProducerFenced {
        /// Producer id.
        producer_id: ProducerId,
        /// The epoch of the refused append.
        epoch: ProducerEpoch,
        /// The epoch the partition knows.
        current_epoch: ProducerEpoch,
    },
    /// A marker or transactional batch was refused: an older transaction of the producer is
    /// still open in the partition (its own marker was lost) and must be reconciled first.
    #[error(
        "producer {producer_id}: a transaction of epoch {open_epoch} is still open here; \
         a marker or batch of epoch {marker_epoch} cannot end or join it"
    )]
    OlderTransactionOpen {
        /// Producer id.
        producer_id: ProducerId,
        /// Epoch of the open transaction.
        open_epoch: ProducerEpoch,
        /// Epoch of the refused marker or batch.
        marker_epoch: ProducerEpoch,
    },
    /// The batch does not continue the producer's sequence: records in between are missing.
    #[error("producer {producer_id}: out-of-order sequence {got}, expected {expected}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: ProducerId,
        /// The sequence the partition expects next.
        expected: Sequence,
        /// The first sequence of the refused batch.
        got: Sequence,
    },
    /// The batch's sequence numbers would overflow u64.
    #[error("producer {producer_id}: sequences from {base_sequence} overflow u64")]
    SequenceOverflow {
        /// Producer id.
        producer_id: ProducerId,
        /// The first sequence of the refused batch.
        base_sequence: Sequence,
    },
    /// The partition already remembers the maximum number of producer ids.
    #[error("partition remembers {max} producers already; new producer {producer_id} refused")]
    TooManyProducers {
        /// The refused producer id.
        producer_id: ProducerId,
        /// The configured limit.
        max: usize,
    },
    /// The log was opened read-only (a follower of another process).
    #[error("the log is open read-only")]
    ReadOnly,
    /// The log was opened with a write scope that does not own the topic.
    #[error("topic '{topic}' is not in this process's write scope")]
    NotOwned {
        /// Topic name.
        topic: String,
    },
    /// Topics starting with `__` are written by the log itself.
    #[error("topic '{topic}' is internal")]
    InternalTopic {
        /// The topic.
        topic: String,
    },
    /// A write or sync failed; the log stopped accepting work (fail-stop).
    #[error("log is fail-stopped after an I/O error: {reason}")]
    FailStopped {
        /// The first error.
        reason: String,
    },
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No such topic.
    #[error("unknown topic '{topic}'")]
    UnknownTopic {
        /// Topic name.
        topic: String,
    },
    /// Partition index out of range.
    #[error("topic '{topic}' has {partitions} partitions; {partition} does not exist")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Requested partition.
        partition: u32,
        /// Partition count.
        partitions: u32,
    },
    /// The offset is before the log start (deleted by retention) or past the end.
    #[error("offset {requested} out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// Requested offset.
        requested: Offset,
        /// First offset still stored.
        start: Offset,
        /// Offset the next record will get.
        end: Offset,
    },
    /// A stored batch failed its checks.
    #[error("corrupt batch in {file} at byte {position}: {reason}")]
    Corrupt {
        /// Segment file.
        file: PathBuf,
        /// Byte position of the batch.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read.
    #[error("I/O error on {path}")]
    Io {
        /// Segment file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The log stopped after an I/O error.
    #[error("log is fail-stopped after an I/O error: {reason}")]
    FailStopped {
        /// The first error.
        reason: String,
    },
    /// A scan's read at `offset` made no progress although the scan's end lies beyond it
    /// (the partition's state contradicts itself; the scan stops rather than spin).
    #[error(
        "scan of {topic}/{partition} made no progress at offset {offset} before its end {end}"
    )]
    ScanStalled {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: u32,
        /// Where the read started.
        offset: Offset,
        /// Where the scan was to stop.
        end: Offset,
    },
}

/// Why a flush, retention run or close failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaintenanceError {
    /// The log stopped after an I/O error.
    #[error("log is fail-stopped after an I/O error: {reason}")]
    FailStopped {
        /// The first error.
        reason: String,
    },
}
