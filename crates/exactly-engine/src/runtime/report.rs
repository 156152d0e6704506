//! What a run reports: [`RunReport`], [`RecoveryReport`] and the [`StatusFile`] rewritten
//! at each checkpoint. A leaf module: it uses no other file of the crate.

use crate::types::Guarantee;
use exactly_core::Timestamp;
use serde::{Deserialize, Serialize};

/// The status file (`status.json` in the state directory), rewritten at each checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    /// Job name.
    pub job: String,
    /// Guarantee.
    pub guarantee: Guarantee,
    /// Parallelism.
    pub parallelism: u32,
    /// Newest complete checkpoint.
    pub checkpoint_id: u64,
    /// Its clock (ms).
    pub checkpoint_clock_ms: i64,
    /// The min clock over tasks when it completed (ms).
    pub min_clock_ms: i64,
    /// Records read in this run.
    pub records_in: u64,
    /// Wall time of the update (ms since the epoch).
    pub updated_ms: i64,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// What recovery found and did.
    pub recovery: RecoveryReport,
    /// Checkpoints completed in this run.
    pub checkpoints: u64,
    /// Input records read in this run (replays included).
    pub records_in: u64,
    /// Output records written in this run.
    pub records_out: u64,
    /// Dead letters written in this run (rejected input records).
    pub dead_letters: u64,
    /// Id of the last checkpoint.
    pub last_checkpoint_id: u64,
    /// The clock of the last checkpoint.
    pub clock: Timestamp,
}

/// What recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The checkpoint restored, if any.
    pub checkpoint_id: Option<u64>,
    /// Its clock.
    pub checkpoint_clock: Option<Timestamp>,
    /// Newer checkpoint files that were damaged and skipped.
    pub skipped_damaged: usize,
    /// Prepared sink transactions committed (their manifest was durable).
    pub committed_transactions: usize,
    /// Open or prepared sink transactions aborted (their checkpoint never completed).
    pub aborted_transactions: usize,
    /// Write-ahead outputs of the newest manifest that were not yet in the log
    /// (idempotent sink mode).
    pub republished_outputs: u64,
    /// The newest checkpoint the job's journal records, if it is newer than the one
    /// restored (at-least-once only: the others refuse to run).
    pub journal_ahead: Option<u64>,
}
