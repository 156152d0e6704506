//! The job journal: one log topic per job (`exactly.job.<name>`, one partition) with an
//! entry per manifest written, appended durably **after** the manifest and **before** any
//! of its outputs are committed or published.
//!
//! So every committed effect of checkpoint *n* implies a journal entry for *n*, and the
//! evidence lives in the log, not next to the checkpoints: if the checkpoint files (or all
//! of `.jobs/`) are deleted, recovery finds the journal ahead of the newest checkpoint on
//! disk and refuses instead of applying the input again. The journal is written with plain
//! appends (no transactions), so every entry is visible to `read_committed` readers at
//! once; entries are in increasing checkpoint order, so only the last one is read.

use super::error::RunError;
use super::topology::Topology;
use exactly_core::{Offset, Timestamp};
use exactly_log::{Durability, Isolation, Log, Record};
use serde::{Deserialize, Serialize};

/// Prefix of every job journal topic; no job may read or write such a topic otherwise.
pub const JOURNAL_TOPIC_PREFIX: &str = "exactly.job.";

/// The journal topic of job `job`.
pub fn journal_topic(job: &str) -> String {
    format!("{JOURNAL_TOPIC_PREFIX}{job}")
}

/// One journal entry: a manifest that was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The job.
    pub job: String,
    /// The manifest id.
    pub checkpoint: u64,
    /// The job's topology at that checkpoint.
    pub topology: Topology,
}

/// Appends the entry for manifest `checkpoint`; durable when this returns.
pub(crate) fn append(log: &Log, entry: &JournalEntry, now_ms: i64) -> Result<(), RunError> {
    let value = serde_json::to_vec(entry).map_err(|e| RunError::Encode {
        what: "a journal entry",
        source: exactly_state::SnapshotError::Encode(e.to_string()),
    })?;
    let record = Record {
        timestamp: Timestamp(now_ms),
        key: Some(entry.job.as_bytes().to_vec()),
        value,
    };
    let topic = journal_topic(&entry.job);
    log.append(&topic, 0, &[record], None).inspect_err(
        |error| tracing::error!(topic = %topic, %error, "appending a journal entry"),
    )?;
    if log.config().durability != Durability::Immediate {
        // The entry must be durable before any output of its checkpoint is committed.
        log.flush().map_err(|error| {
            tracing::error!(topic = %topic, %error, "syncing a journal entry");
            RunError::Flush(error)
        })?;
    }
    Ok(())
}

/// The newest journal entry of `job`, if its journal has any.
pub(crate) fn last(log: &Log, job: &str) -> Result<Option<JournalEntry>, RunError> {
    let topic = journal_topic(job);
    if log.partition_count(&topic).is_none() {
        return Ok(None);
    }
    let info = log.partition_info(&topic, 0)?;
    if info.end_offset.0 <= info.start_offset.0 {
        return Ok(None);
    }
    let offset = info.end_offset.0 - 1;
    let batch = log
        .read_with(&topic, 0, Offset(offset), 1, Isolation::ReadCommitted)
        .inspect_err(|error| tracing::error!(topic = %topic, %error, "reading the journal"))?;
    let Some(record) = batch.records.into_iter().next() else {
        return Ok(None);
    };
    let entry: JournalEntry =
        serde_json::from_slice(&record.value).map_err(|e| RunError::Journal {
            topic: topic.clone(),
            offset: record.offset.0,
            reason: e.to_string(),
        })?;
    if entry.job != job {
        return Err(RunError::Journal {
            topic,
            offset: record.offset.0,
            reason: format!("entry of job {:?}", entry.job),
        });
    }
    Ok(Some(entry))
}
