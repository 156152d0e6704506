//! The idempotent sink mode: outputs are written **ahead in the manifest** and published
//! after it with deterministic ids, so a replay is de-duplicated by the log.
//!
//! At checkpoint *n* the sinks hand their outputs to the coordinator instead of writing
//! them. The manifest stores them per output partition with the partition's base
//! sequence; once the manifest is durable the
//! coordinator appends them as the job's idempotent producer. Output *i* of checkpoint *n*
//! in partition *p* has the id (producer, *p*, base_p(n) + *i*), where base_p(n) counts the
//! outputs of the checkpoints before *n* — a function of the committed history only. After
//! a crash, recovery publishes the newest manifest's outputs again: the log reports what it
//! already holds (its producer state) and only the rest is appended. No transaction is
//! needed, and readers see outputs without waiting for markers.

use super::chunks::chunks;
use super::error::RunError;
use super::manifest::{Manifest, Target};
use exactly_core::{ProducerEpoch, ProducerId, Sequence};
use exactly_log::{AppendError, Log, ProducerStamp};
use std::collections::BTreeMap;

/// The sequence of a partition's first write-ahead output (the job's idempotent producer
/// has written nothing there before).
pub(crate) const FIRST_SEQUENCE: u64 = 0;

/// Bytes per append, at most (and at most half the log's batch limit).
const APPEND_BYTES_MAX: usize = 1 << 20;

/// The idempotent producer id of job `job`: derived from its name, below the range the
/// transaction coordinator allocates from (2^62).
pub(crate) fn producer_id(job: &str) -> ProducerId {
    let hash = xxhash_rust::xxh3::xxh3_64(format!("exactly-engine/{job}").as_bytes());
    ProducerId(hash & ((1u64 << 62) - 1))
}

/// Next sequence per output partition, carried from manifest to manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sequences(BTreeMap<Target, u64>);

impl Sequences {
    /// The sequences after `manifest`'s outputs.
    pub fn after(manifest: &Manifest) -> Self {
        Self(manifest.sequences_after())
    }

    /// The next sequence of `target`: 0 if the job never wrote it ahead (its idempotent
    /// producer has written nothing there).
    pub fn next(&self, target: &Target) -> u64 {
        match self.0.get(target) {
            Some(&next) => next,
            None => FIRST_SEQUENCE,
        }
    }
}

/// Publishes `manifest`'s write-ahead outputs, skipping what the log already holds.
/// Returns the records appended.
pub(crate) fn publish(log: &Log, job: &str, manifest: &Manifest) -> Result<u64, RunError> {
    let producer_id = producer_id(job);
    let bytes_max = APPEND_BYTES_MAX.min(log.config().batch_bytes_max as usize / 2);
    let mut appended = 0;
    for ((topic, partition), records) in &manifest.write_ahead {
        let (topic, partition) = (topic.as_str(), *partition);
        let base = *manifest
            .sequences
            .get(&(topic.to_string(), partition))
            .ok_or_else(|| RunError::IncompatibleCheckpoint {
                id: manifest.id,
                reason: format!(
                    "its write-ahead outputs of {topic}/{partition} have no base sequence"
                ),
            })?;
        let written = log
            .producer_state(topic, partition, producer_id)?
            .and_then(|s| s.last_sequence)
            .map_or(0, |last| last.0 + 1);
        let skip = written.saturating_sub(base) as usize;
        let mut sequence = base + skip as u64;
        // More of this producer's records in the partition than the manifest wrote ahead:
        // the partition holds outputs no restored manifest accounts for. Publishing nothing
        // and going on would skip them silently.
        let unpublished = records
            .get(skip..)
            .ok_or_else(|| RunError::IncompatibleCheckpoint {
                id: manifest.id,
                reason: format!(
                    "{topic}/{partition} holds {written} records of its write-ahead producer, \
                 past the {} the manifest accounts for from sequence {base}",
                    records.len()
                ),
            })?;
        for chunk in chunks(unpublished, bytes_max) {
            let stamp = ProducerStamp {
                producer_id,
                epoch: ProducerEpoch(0),
                base_sequence: Sequence(sequence),
            };
            log.append(topic, partition, chunk, Some(stamp))
                .map_err(|e: AppendError| {
                    tracing::error!(topic = %topic, partition, error = %e, "publishing write-ahead outputs");
                    RunError::Append(e)
                })?;
            sequence += chunk.len() as u64;
            appended += chunk.len() as u64;
        }
    }
    Ok(appended)
}
