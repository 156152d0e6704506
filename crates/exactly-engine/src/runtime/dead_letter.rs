//! Bad input: what a job does with an input record its parse step rejects. It is never
//! skipped: either it becomes a dead letter, written exactly once with the outputs of the
//! checkpoint that consumed it (same transaction, or same write-ahead manifest), or the job
//! stops with [`RunError::BadInput`] before committing past it.

use super::error::RunError;
use exactly_log::{Record, StoredRecord};
use serde::{Deserialize, Serialize};

/// What happens to an input record the job's parse step rejects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum BadInputPolicy {
    /// Write it to the job's dead-letter topic, exactly once with the outputs.
    #[default]
    DeadLetter,
    /// Stop the job with a typed error naming the record; nothing at or after it is
    /// committed.
    Fail,
}

/// The value of a dead-letter record (JSON); its key and timestamp are the original's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The input topic.
    pub topic: String,
    /// The input partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
    /// Why the job rejected it.
    pub reason: String,
    /// The original value, when it is UTF-8.
    pub value: Option<String>,
    /// The original value in hex, when it is not UTF-8.
    pub value_hex: Option<String>,
}

/// The dead-letter record of `record` (read from `topic`, `partition`).
pub(crate) fn dead_letter_record(
    topic: &str,
    partition: u32,
    record: StoredRecord,
    reason: String,
) -> Result<Record, RunError> {
    let (value, value_hex) = match String::from_utf8(record.value) {
        Ok(text) => (Some(text), None),
        Err(bytes) => {
            let hex = bytes
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (None, Some(hex))
        }
    };
    let letter = DeadLetter {
        topic: topic.to_string(),
        partition,
        offset: record.offset.0,
        reason,
        value,
        value_hex,
    };
    let encoded = serde_json::to_vec(&letter).map_err(|e| RunError::Encode {
        what: "a dead letter",
        source: exactly_state::SnapshotError::Encode(e.to_string()),
    })?;
    Ok(Record {
        timestamp: record.timestamp,
        key: record.key,
        value: encoded,
    })
}
