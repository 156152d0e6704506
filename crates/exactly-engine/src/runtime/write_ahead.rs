//! The idempotent sink mode: outputs are written **ahead in the manifest** and published
//! after it with deterministic ids, so a replay is de-duplicated by the log.
//!
//! At checkpoint *n* the sinks hand their outputs to the coordinator instead of writing
//! them. The manifest stores them per output partition (`out/<topic>/<partition>`) with the
//! partition's base sequence (`seq/<topic>/<partition>`); once the manifest is durable the
//! coordinator appends them as the job's idempotent producer. Output *i* of checkpoint *n*
//! in partition *p* has the id (producer, *p*, base_p(n) + *i*), where base_p(n) counts the
//! outputs of the checkpoints before *n* — a function of the committed history only. After
//! a crash, recovery publishes the newest manifest's outputs again: the log reports what it
//! already holds (its producer state) and only the rest is appended. No transaction is
//! needed, and readers see outputs without waiting for markers.

use super::chunks::chunks;
use super::error::RunError;
use exactly_core::{ProducerEpoch, ProducerId, Sequence, Timestamp};
use exactly_log::{AppendError, Log, ProducerStamp, Record};
use exactly_state::{Checkpoint, SnapshotError};
use std::collections::BTreeMap;

/// Bytes per append, at most (and at most half the log's batch limit).
const APPEND_BYTES_MAX: usize = 1 << 20;

/// `(topic, partition)`.
pub(crate) type Target = (String, u32);

/// The idempotent producer id of job `job`: derived from its name, below the range the
/// transaction coordinator allocates from (2^62).
pub(crate) fn producer_id(job: &str) -> ProducerId {
    let hash = xxhash_rust::xxh3::xxh3_64(format!("exactly-engine/{job}").as_bytes());
    ProducerId(hash & ((1u64 << 62) - 1))
}

fn output_name((topic, partition): &Target) -> String {
    format!("out/{topic}/{partition}")
}

fn sequence_name((topic, partition): &Target) -> String {
    format!("seq/{topic}/{partition}")
}

fn parse_target(name: &str, prefix: &str) -> Option<Target> {
    let rest = name.strip_prefix(prefix)?;
    let (topic, partition) = rest.rsplit_once('/')?;
    Some((topic.to_string(), partition.parse().ok()?))
}

fn encode(records: &[Record]) -> Result<Vec<u8>, RunError> {
    type RowRef<'a> = (i64, &'a Option<Vec<u8>>, &'a Vec<u8>);
    let rows: Vec<RowRef<'_>> = records
        .iter()
        .map(|r| (r.timestamp.0, &r.key, &r.value))
        .collect();
    postcard::to_allocvec(&rows).map_err(|e| RunError::Encode {
        what: "write-ahead outputs",
        source: SnapshotError::Encode(e.to_string()),
    })
}

fn decode(bytes: &[u8]) -> Result<Vec<Record>, SnapshotError> {
    type Row = (i64, Option<Vec<u8>>, Vec<u8>);
    let rows: Vec<Row> =
        postcard::from_bytes(bytes).map_err(|e| SnapshotError::Decode(e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|(timestamp, key, value)| Record {
            timestamp: Timestamp(timestamp),
            key,
            value,
        })
        .collect())
}

/// Next sequence per output partition, carried from manifest to manifest.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sequences(BTreeMap<Target, u64>);

impl Sequences {
    /// The sequences after `checkpoint`'s outputs.
    pub fn after(checkpoint: &Checkpoint) -> Result<Self, RunError> {
        let mut next = BTreeMap::new();
        for (name, value) in &checkpoint.metadata {
            if let (Some(target), Ok(base)) = (parse_target(name, "seq/"), value.parse::<u64>()) {
                next.insert(target, base);
            }
        }
        for (target, records) in outputs(checkpoint)? {
            *next.entry(target).or_insert(0) += records.len() as u64;
        }
        Ok(Self(next))
    }

    /// The next sequence of `target` (0 if the job never wrote it ahead).
    pub fn next(&self, target: &Target) -> u64 {
        self.0.get(target).copied().unwrap_or(0)
    }

    /// Writes `outputs` into `checkpoint` with their base sequences, and every known
    /// partition's sequence so it carries to the next manifest.
    pub fn record(
        &self,
        checkpoint: &mut Checkpoint,
        outputs: BTreeMap<Target, Vec<Record>>,
    ) -> Result<(), RunError> {
        for (target, base) in &self.0 {
            checkpoint
                .metadata
                .insert(sequence_name(target), base.to_string());
        }
        for (target, records) in outputs {
            let base = self.0.get(&target).copied().unwrap_or(0);
            checkpoint
                .metadata
                .insert(sequence_name(&target), base.to_string());
            checkpoint
                .states
                .insert(output_name(&target), encode(&records)?);
        }
        Ok(())
    }
}

/// The outputs a manifest holds, by partition.
pub(crate) fn outputs(checkpoint: &Checkpoint) -> Result<Vec<(Target, Vec<Record>)>, RunError> {
    checkpoint
        .states
        .iter()
        .filter_map(|(name, bytes)| parse_target(name, "out/").map(|t| (t, bytes)))
        .map(|(target, bytes)| {
            let records = decode(bytes).map_err(RunError::WriteAhead)?;
            Ok((target, records))
        })
        .collect()
}

/// Publishes `checkpoint`'s write-ahead outputs, skipping what the log already holds.
/// Returns the records appended.
pub(crate) fn publish(log: &Log, job: &str, checkpoint: &Checkpoint) -> Result<u64, RunError> {
    let producer_id = producer_id(job);
    let bytes_max = APPEND_BYTES_MAX.min(log.config().batch_bytes_max as usize / 2);
    let mut appended = 0;
    for ((topic, partition), records) in outputs(checkpoint)? {
        let name = sequence_name(&(topic.clone(), partition));
        let base: u64 = checkpoint
            .metadata
            .get(&name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| RunError::IncompatibleCheckpoint {
                id: checkpoint.id,
                reason: format!("its write-ahead outputs have no valid base sequence {name}"),
            })?;
        let written = log
            .producer_state(&topic, partition, producer_id)?
            .and_then(|s| s.last_sequence)
            .map_or(0, |last| last.0 + 1);
        let skip = written.saturating_sub(base) as usize;
        let mut sequence = base + skip as u64;
        for chunk in chunks(records.get(skip..).unwrap_or_default(), bytes_max) {
            let stamp = ProducerStamp {
                producer_id,
                epoch: ProducerEpoch(0),
                base_sequence: Sequence(sequence),
            };
            log.append(&topic, partition, chunk, Some(stamp))
                .map_err(|e: AppendError| RunError::Append(e))?;
            sequence += chunk.len() as u64;
            appended += chunk.len() as u64;
        }
    }
    Ok(appended)
}
