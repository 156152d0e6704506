//! A log's partitions and transactions as `exactly log describe` prints them: typed,
//! serializable rows a program can print or check.

use crate::error::ReadError;
use crate::log::Log;
use crate::txn::{TxnError, TxnState};
use serde::Serialize;
use std::path::PathBuf;

/// A torn tail recovery cut when the log was opened.
#[derive(Clone, Debug, Serialize)]
pub struct RecoveryRow {
    /// Always `"truncated torn tail"`.
    pub recovery: &'static str,
    /// The file cut.
    pub file: PathBuf,
    /// The byte it was cut at.
    pub at: u64,
    /// Bytes removed.
    pub bytes_removed: u64,
    /// Why.
    pub reason: String,
}

/// One open transaction in a partition.
#[derive(Clone, Debug, Serialize)]
pub struct OpenTransaction {
    /// Its producer.
    pub producer_id: u64,
    /// The producer's epoch.
    pub epoch: u16,
    /// Its first offset in the partition.
    pub first_offset: u64,
}

/// One partition: offsets, sizes, producers and transactions.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionRow {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// First offset still stored.
    pub start_offset: u64,
    /// Offset the next record gets.
    pub end_offset: u64,
    /// End of what `read_committed` readers see.
    pub last_stable_offset: u64,
    /// The producer of the oldest open transaction, which holds the last stable offset
    /// back.
    pub lso_held_by_producer: Option<u64>,
    /// Transactions open in the partition.
    pub open_transactions: Vec<OpenTransaction>,
    /// Aborted transactions the partition remembers.
    pub aborted_transactions: usize,
    /// Segment files.
    pub segments: usize,
    /// Bytes stored.
    pub bytes: u64,
    /// Idempotent producers the partition remembers.
    pub producers: usize,
}

/// One transactional id in the coordinator.
#[derive(Clone, Debug, Serialize)]
pub struct TransactionRow {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: u64,
    /// Its epoch.
    pub epoch: u16,
    /// Its state (`Ongoing`, `CompleteCommit`, …).
    pub state: String,
    /// The partitions it wrote, as `topic/partition`.
    pub partitions: Vec<String>,
    /// Its timeout.
    pub timeout_ms: i64,
}

/// Why a log could not be described.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    /// The topic asked for does not exist.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// A partition could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The transaction coordinator could not be read.
    #[error(transparent)]
    Txn(#[from] TxnError),
}

/// The torn tails recovery cut when `log` was opened.
pub fn recovery_rows(log: &Log) -> Vec<RecoveryRow> {
    log.recovery_events()
        .into_iter()
        .map(|event| RecoveryRow {
            recovery: "truncated torn tail",
            file: event.file,
            at: event.truncated_at,
            bytes_removed: event.bytes_removed,
            reason: event.reason,
        })
        .collect()
}

/// Every partition of every topic (or of `only`), in topic order.
pub fn partition_rows(log: &Log, only: Option<&str>) -> Result<Vec<PartitionRow>, DescribeError> {
    let topics = log.topics();
    if let Some(wanted) = only {
        if !topics.iter().any(|(name, _)| name == wanted) {
            return Err(DescribeError::UnknownTopic(wanted.to_string()));
        }
    }
    let mut rows = Vec::new();
    for (topic, partitions) in topics {
        if only.is_some_and(|wanted| wanted != topic) {
            continue;
        }
        for partition in 0..partitions {
            let info = log.partition_info(&topic, partition)?;
            // The oldest open transaction is the one holding the last stable offset back.
            let holding = info
                .open_transactions
                .iter()
                .min_by_key(|t| t.first_offset)
                .map(|t| t.producer_id);
            let open = info.open_transactions.iter().map(|t| OpenTransaction {
                producer_id: t.producer_id,
                epoch: t.epoch,
                first_offset: t.first_offset,
            });
            rows.push(PartitionRow {
                topic: topic.clone(),
                partition,
                start_offset: info.start_offset.0,
                end_offset: info.end_offset.0,
                last_stable_offset: info.last_stable_offset.0,
                lso_held_by_producer: holding,
                open_transactions: open.collect(),
                aborted_transactions: info.aborted_transactions,
                segments: info.segments,
                bytes: info.bytes,
                producers: info.producers,
            });
        }
    }
    Ok(rows)
}

/// The coordinator's transactional ids: all of them, or with `live_only` those whose
/// transaction is not finished.
pub fn transaction_rows(log: &Log, live_only: bool) -> Result<Vec<TransactionRow>, DescribeError> {
    let mut rows = Vec::new();
    for txn in log.transactions()? {
        let live = !matches!(
            txn.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        );
        if live || !live_only {
            rows.push(TransactionRow {
                transactional_id: txn.transactional_id,
                producer_id: txn.producer_id,
                epoch: txn.epoch,
                state: format!("{:?}", txn.state),
                partitions: txn
                    .partitions
                    .iter()
                    .map(|(t, p)| format!("{t}/{p}"))
                    .collect(),
                timeout_ms: txn.timeout_ms,
            });
        }
    }
    Ok(rows)
}
