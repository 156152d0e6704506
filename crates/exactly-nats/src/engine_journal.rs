//! A job's journal on JetStream: topic `exactly.job.<job>` (one partition), one JSON
//! entry per manifest written, appended after the manifest is durable and before any of
//! its outputs are published — so recovery can tell that checkpoints were lost (the
//! journal is ahead of the newest one).
//!
//! Entry *n* carries the id `j.<job>.<n>` and the writer's epoch, and is appended with the
//! same tail protocol as outputs: read the tail (a higher epoch fences the writer; an
//! entry ≥ *n* is already there), then publish conditional on the tail's sequence.

use crate::blocking::{NatsLog, Topic};
use crate::error::NatsError;
use crate::fence::check_fence;
use crate::record::OutRecord;
use exactly_engine::{journal_topic, JournalEntry, RunError};

/// Rounds of "read the tail, publish" before an append fails.
const APPEND_ROUNDS_MAX: u32 = 8;

/// Appends `entry`; durable (acknowledged by JetStream) when it returns.
/// (`topic`: the journal, `None` if it does not exist; `address` names the server in
/// errors.)
pub(crate) fn append(
    log: &NatsLog,
    address: &str,
    epoch: u64,
    topic: Option<Topic>,
    entry: &JournalEntry,
    now_ms: i64,
) -> Result<(), RunError> {
    let name = journal_topic(&entry.job);
    let fail =
        |error: NatsError| output_error(address, format!("appending to journal {name}"), error);
    let value = serde_json::to_vec(entry).map_err(|e| RunError::Encode {
        what: "a journal entry",
        source: exactly_state::SnapshotError::Encode(e.to_string()),
    })?;
    let topic = match topic {
        Some(topic) => topic,
        None => {
            return Err(RunError::InvalidOutput {
                topic: name,
                reason: "the journal topic does not exist".into(),
            })
        }
    };
    let record = OutRecord {
        origin: None,
        msg_id: format!("j.{}.{}", entry.job, entry.checkpoint),
        epoch: Some(epoch),
        key: Some(entry.job.as_bytes().to_vec()),
        timestamp_ms: now_ms,
        value,
    };
    for _round in 0..APPEND_ROUNDS_MAX {
        let stream = topic.stream(0).map_err(fail)?;
        let tail = log.tail(&topic, 0).map_err(fail)?;
        check_fence(&stream, tail.as_ref(), epoch).map_err(fail)?;
        let last_seq = match &tail {
            Some(tail) => {
                if decode(&name, tail.sequence, &tail.value)?.checkpoint >= entry.checkpoint {
                    return Ok(());
                }
                tail.sequence
            }
            None => log.partition_state(&topic, 0).map_err(fail)?.last_seq,
        };
        match log.publish(&topic, 0, std::slice::from_ref(&record), Some(last_seq)) {
            Ok(_) => return Ok(()),
            Err(failure) => match failure.error {
                NatsError::WrongLastSequence { .. }
                | NatsError::Publish { .. }
                | NatsError::Timeout { .. } => continue,
                error => return Err(fail(error)),
            },
        }
    }
    Err(fail(NatsError::Timeout {
        operation: format!("appending entry {} to {name}", entry.checkpoint),
        timeout_ms: 0,
    }))
}

/// The newest entry of `job`'s journal `topic` (`None`: it does not exist), if it has any.
pub(crate) fn last(
    log: &NatsLog,
    address: &str,
    topic: Option<Topic>,
    job: &str,
) -> Result<Option<JournalEntry>, RunError> {
    let name = journal_topic(job);
    let fail = |error: NatsError| output_error(address, format!("reading journal {name}"), error);
    let Some(topic) = topic else {
        return Ok(None);
    };
    let Some(tail) = log.tail(&topic, 0).map_err(fail)? else {
        return Ok(None);
    };
    let entry = decode(&name, tail.sequence, &tail.value)?;
    if entry.job != job {
        return Err(RunError::Journal {
            topic: name,
            offset: tail.sequence - 1,
            reason: format!("entry of job {:?}", entry.job),
        });
    }
    Ok(Some(entry))
}

fn decode(topic: &str, sequence: u64, value: &[u8]) -> Result<JournalEntry, RunError> {
    serde_json::from_slice(value).map_err(|e| RunError::Journal {
        topic: topic.to_string(),
        // Offsets are sequences − 1 (sequences start at 1).
        offset: sequence - 1,
        reason: e.to_string(),
    })
}

fn output_error(address: &str, what: String, source: NatsError) -> RunError {
    RunError::Output {
        what,
        output: address.to_string(),
        source: Box::new(source),
    }
}
