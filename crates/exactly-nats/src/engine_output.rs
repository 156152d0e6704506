//! [`NatsOutput`]: topics on JetStream as the engine's [`Output`] — a job's outputs,
//! dead letters, audit records and journal.
//!
//! JetStream has no prepared transactions, so exactly-once runs in the engine's
//! write-ahead (idempotent) sink mode: a checkpoint's outputs are stored in its manifest
//! first, and once the manifest is durable they are published here, pipelined, each with
//! a deterministic message id — its lineage `w.<job>.p<partition>.<n>`, where `n` counts
//! the job's outputs in that partition (the manifest's base sequence plus the index) —
//! and conditional on the partition's last sequence.
//!
//! Publishing a manifest's outputs to a partition (`publish_partition`):
//! 1. read the tail; a tail written under a higher epoch means a newer instance of the
//!    job took over: [`NatsError::Fenced`], stop;
//! 2. find the job's last output there by lineage id (one lookup when the tail is ours)
//!    and skip the manifest's outputs up to it — fewer than the manifest's base is a gap
//!    (outputs deleted), more than its end are outputs no checkpoint accounts for: both
//!    are errors, never skipped;
//! 3. publish the rest with `expected_last` = the tail's sequence; on a refused
//!    expectation, a lost acknowledgment or a timeout go back to 1 (bounded).
//!
//! After a publish that stored every record contiguously, the partition's last sequence
//! and the job's output count there are remembered, and the next checkpoint's publish to
//! that partition starts at step 3 with them (two API requests fewer per partition and
//! checkpoint). This skips nothing the tail read would have caught: if anyone else
//! appended since (a newer instance, a zombie, another writer), the first conditional
//! publish is refused and the round goes back to 1, which reads the tail and fences.
//!
//! Correctness never depends on JetStream's duplicate window: step 2 reads what is
//! stored. A zombie (an instance replaced while paused) cannot double anything either: its
//! conditional publish is refused once anyone appended, and its next tail read is fenced.
//! Plain appends (at-least-once, at-most-once) carry ids unique to the writer's epoch.

use crate::blocking::{NatsLog, Topic};
use crate::error::NatsError;
use crate::fence::check_fence;
use crate::lineage::split_lineage;
use crate::publish::PublishAck;
use crate::record::{OutRecord, StoredRecord};
use crate::scan::last_with_id_prefix;
use crate::topic::TopicOptions;
use exactly_engine::{journal_topic, JournalEntry, Manifest, Output, RecoveryReport, RunError};
use exactly_log::{Log, Record};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Rounds of "read the tail, publish the rest" before a partition's publish fails.
const PUBLISH_ROUNDS_MAX: u32 = 8;

/// A partition's last sequence and how many of the job's outputs it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ResumePoint {
    last_seq: u64,
    written: u64,
}

/// A job's outputs on a NATS JetStream server or cluster.
pub struct NatsOutput<'a> {
    pub(crate) log: &'a NatsLog,
    pub(crate) address: String,
    /// This instance's epoch: stamped on everything it writes; a higher one at a tail
    /// fences it.
    pub(crate) epoch: u64,
    /// Options of the topics it creates.
    options: TopicOptions,
    topics: Mutex<BTreeMap<String, Topic>>,
    /// Per (topic, partition), the next number of a plain append's id in this epoch.
    appended: Mutex<BTreeMap<(String, u32), u64>>,
    /// Per (topic, partition), where this instance's last write-ahead publish left it.
    resume_points: Mutex<BTreeMap<(String, u32), ResumePoint>>,
    job: String,
}

/// The id prefix of job `job`'s write-ahead outputs in `partition`.
pub fn write_ahead_prefix(job: &str, partition: u32) -> String {
    format!("w.{job}.p{partition}.")
}

impl<'a> NatsOutput<'a> {
    /// The outputs of job `job` on `log` (reached at `address`, for messages), written
    /// under `epoch`; topics it creates get `options`.
    pub fn new(
        log: &'a NatsLog,
        address: &str,
        job: &str,
        epoch: u64,
        options: TopicOptions,
    ) -> Self {
        Self {
            log,
            address: address.to_string(),
            epoch,
            options,
            topics: Mutex::new(BTreeMap::new()),
            appended: Mutex::new(BTreeMap::new()),
            resume_points: Mutex::new(BTreeMap::new()),
            job: job.to_string(),
        }
    }

    pub(crate) fn error(&self, what: String, source: impl Into<NatsError>) -> RunError {
        let source: NatsError = source.into();
        RunError::Output {
            what,
            output: self.address.clone(),
            source: Box::new(source),
        }
    }

    /// The open topic `name`, `None` if it does not exist.
    pub(crate) fn topic(&self, name: &str) -> Result<Option<Topic>, NatsError> {
        let mut topics = lock(&self.topics);
        if let Some(topic) = topics.get(name) {
            return Ok(Some(topic.clone()));
        }
        match self.log.open_topic(name) {
            Ok(topic) => {
                topics.insert(name.to_string(), topic.clone());
                Ok(Some(topic))
            }
            Err(NatsError::TopicNotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Job `job`'s journal topic, `None` if it does not exist.
    fn journal(&self, job: &str) -> Result<Option<Topic>, RunError> {
        let name = journal_topic(job);
        self.topic(&name)
            .map_err(|e| self.error(format!("opening journal {name}"), e))
    }

    fn existing(&self, name: &str) -> Result<Topic, RunError> {
        match self.topic(name) {
            Ok(Some(topic)) => Ok(topic),
            Ok(None) => Err(RunError::InvalidOutput {
                topic: name.to_string(),
                reason: format!("it does not exist on {}", self.address),
            }),
            Err(error) => Err(self.error(format!("opening topic {name}"), error)),
        }
    }

    /// Publishes `records` (the manifest's write-ahead outputs of one partition, the first
    /// numbered `base`) after the job's last output there; returns the records stored.
    fn publish_partition(
        &self,
        topic: &Topic,
        partition: u32,
        base: u64,
        records: &[Record],
        manifest_id: u64,
    ) -> Result<u64, RunError> {
        let prefix = write_ahead_prefix(&self.job, partition);
        let where_ = format!("{}/{partition}", topic.name());
        let fail = |error: NatsError| self.error(format!("publishing outputs to {where_}"), error);
        let mut stored = 0;
        let key = (topic.name().to_string(), partition);
        for round in 0..PUBLISH_ROUNDS_MAX {
            let remembered = lock(&self.resume_points).remove(&key);
            let point = match remembered {
                Some(point) if round == 0 => point,
                _ => self.resume_point(topic, partition, &prefix).map_err(fail)?,
            };
            let (last_seq, written) = (point.last_seq, point.written);
            let skip = match written.checked_sub(base) {
                Some(skip) if skip <= records.len() as u64 => skip as usize,
                Some(_) => return Err(beyond(manifest_id, &where_, written, base, records.len())),
                None => return Err(missing(manifest_id, &where_, written, base)),
            };
            let Some(rest) = records.get(skip..).filter(|rest| !rest.is_empty()) else {
                lock(&self.resume_points).insert(key, point);
                return Ok(stored);
            };
            let out: Vec<OutRecord> = rest
                .iter()
                .zip(base + skip as u64..)
                .map(|(record, n)| out_record(format!("{prefix}{n}"), self.epoch, record))
                .collect();
            match self.log.publish(topic, partition, &out, Some(last_seq)) {
                Ok(acks) => {
                    if let Some(next) = after_publish(point, &acks) {
                        lock(&self.resume_points).insert(key, next);
                    }
                    return Ok(stored + new_records(&acks));
                }
                Err(failure) => {
                    stored += new_records(&failure.acked);
                    match failure.error {
                        // Someone appended (a zombie's in-flight publish, a takeover) or the
                        // outcome is unknown: the tail says which.
                        NatsError::WrongLastSequence { .. }
                        | NatsError::Publish { .. }
                        | NatsError::Timeout { .. } => {
                            tracing::warn!(partition = %where_, error = %failure.error, "publish interrupted; reading the tail again");
                        }
                        error => return Err(fail(error)),
                    }
                }
            }
        }
        Err(fail(NatsError::Timeout {
            operation: format!(
                "publishing outputs of checkpoint {manifest_id} ({PUBLISH_ROUNDS_MAX} rounds of tail and publish)"
            ),
            timeout_ms: 0,
        }))
    }

    /// The partition's last sequence and how many of the job's outputs (by lineage id) it
    /// holds; [`NatsError::Fenced`] if a newer epoch wrote the tail.
    fn resume_point(
        &self,
        topic: &Topic,
        partition: u32,
        prefix: &str,
    ) -> Result<ResumePoint, NatsError> {
        let stream = topic.stream(partition)?;
        let tail = self.log.tail(topic, partition)?;
        check_fence(&stream, tail.as_ref(), self.epoch)?;
        let last_seq = match &tail {
            Some(tail) => tail.sequence,
            // Empty (or purged): its last sequence is still what the next publish expects.
            None => self.log.partition_state(topic, partition)?.last_seq,
        };
        let ours = match tail {
            Some(tail) if has_prefix(&tail, prefix) => Some(tail),
            Some(_) => last_with_id_prefix(self.log, topic, partition, prefix)?,
            None => None,
        };
        Ok(ResumePoint {
            last_seq,
            written: outputs_held(&stream, ours.as_ref())?,
        })
    }

    /// Outputs of job `job` held in `partition` of `topic` (by lineage id).
    pub(crate) fn held(&self, topic: &Topic, partition: u32, job: &str) -> Result<u64, NatsError> {
        let stream = topic.stream(partition)?;
        let prefix = write_ahead_prefix(job, partition);
        let ours = last_with_id_prefix(self.log, topic, partition, &prefix)?;
        outputs_held(&stream, ours.as_ref())
    }
}

/// How many outputs a partition holds whose last one (by lineage id) is `ours`.
fn outputs_held(stream: &str, ours: Option<&StoredRecord>) -> Result<u64, NatsError> {
    let Some(record) = ours else {
        return Ok(0);
    };
    let number = record
        .msg_id
        .as_deref()
        .and_then(split_lineage)
        .map(|(_, n)| n);
    match number {
        Some(n) => Ok(n + 1),
        None => Err(NatsError::BadRecord {
            stream: stream.to_string(),
            sequence: record.sequence,
            source: crate::record::RecordLayoutError::BadMsgId(record.msg_id.clone()),
        }),
    }
}

fn has_prefix(record: &StoredRecord, prefix: &str) -> bool {
    record
        .msg_id
        .as_deref()
        .is_some_and(|id| id.starts_with(prefix))
}

/// Where a publish of `acks.len()` records conditional on `from.last_seq` left the
/// partition, if every record was stored new and contiguously after it (a duplicate, or
/// a sequence out of line, leaves the tail to be read again).
fn after_publish(from: ResumePoint, acks: &[PublishAck]) -> Option<ResumePoint> {
    let contiguous = acks
        .iter()
        .zip(from.last_seq + 1..)
        .all(|(ack, expected)| !ack.duplicate && ack.sequence == expected);
    let count = acks.len() as u64;
    contiguous.then_some(ResumePoint {
        last_seq: from.last_seq + count,
        written: from.written + count,
    })
}

fn new_records(acks: &[PublishAck]) -> u64 {
    acks.iter().filter(|ack| !ack.duplicate).count() as u64
}

pub(crate) fn out_record(msg_id: String, epoch: u64, record: &Record) -> OutRecord {
    OutRecord {
        origin: None,
        msg_id,
        epoch: Some(epoch),
        key: record.key.clone(),
        timestamp_ms: record.timestamp.0,
        value: record.value.clone(),
    }
}

fn beyond(id: u64, target: &str, written: u64, base: u64, len: usize) -> RunError {
    RunError::IncompatibleCheckpoint {
        id,
        reason: format!(
            "{target} holds {written} outputs of this job, past the {len} the checkpoint \
             accounts for from number {base}"
        ),
    }
}

fn missing(id: u64, target: &str, written: u64, base: u64) -> RunError {
    RunError::IncompatibleCheckpoint {
        id,
        reason: format!(
            "{target} holds {written} outputs of this job, but the checkpoint's start at \
             number {base}: outputs before it were deleted"
        ),
    }
}

/// A lock whose holder panicked still guards a consistent map (every update is one
/// insert), so the data is used as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Output for NatsOutput<'_> {
    fn describe(&self) -> String {
        format!("NATS JetStream {}", self.address)
    }

    fn partition_count(&self, topic: &str) -> Result<Option<u32>, RunError> {
        let found = self
            .topic(topic)
            .map_err(|e| self.error(format!("opening topic {topic}"), e))?;
        Ok(found.map(|t| t.partitions()))
    }

    fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<u32, RunError> {
        if let Some(count) = self.partition_count(topic)? {
            return Ok(count);
        }
        let created = self
            .log
            .create_topic(topic, partitions, self.options.clone())
            .map_err(|e| self.error(format!("creating topic {topic}"), e))?;
        lock(&self.topics).insert(topic.to_string(), created);
        Ok(partitions)
    }

    fn append_bytes_max(&self) -> usize {
        // One record is one message: a batch is not bounded by the message size, but an
        // audit record (half of this, by the sink's rule) must fit in one message.
        self.options.max_message_bytes as usize
    }

    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<(), RunError> {
        let open = self.existing(topic)?;
        let first = {
            let mut counters = lock(&self.appended);
            let next = counters.entry((topic.to_string(), partition)).or_insert(0);
            let first = *next;
            *next += records.len() as u64;
            first
        };
        let prefix = format!("a.{}.e{}.p{partition}.", self.job, self.epoch);
        let out: Vec<OutRecord> = records
            .iter()
            .zip(first..)
            .map(|(record, n)| out_record(format!("{prefix}{n}"), self.epoch, record))
            .collect();
        self.log
            .publish(&open, partition, &out, None)
            .map_err(|failure| {
                self.error(format!("appending to {topic}/{partition}"), failure.error)
            })?;
        Ok(())
    }

    fn transactional_log(&self) -> Option<&Log> {
        None
    }

    fn settle(
        &self,
        _job: &str,
        _manifest: Option<&Manifest>,
        _report: &mut RecoveryReport,
    ) -> Result<(), RunError> {
        // Nothing is ever left open: there are no transactions, and a manifest's partly
        // published outputs are completed by `publish_ahead`, which recovery calls next.
        Ok(())
    }

    fn outputs_beyond(
        &self,
        job: &str,
        topics: &[String],
        manifest: Option<&Manifest>,
    ) -> Result<Option<String>, RunError> {
        let accounted = match manifest {
            Some(manifest) => manifest.sequences_after(),
            None => BTreeMap::new(),
        };
        for name in topics {
            let open = self
                .topic(name)
                .map_err(|e| self.error(format!("opening topic {name}"), e))?;
            // A topic that does not exist holds no outputs of the job.
            let Some(open) = open else { continue };
            for partition in 0..open.partitions() {
                let held = self
                    .held(&open, partition, job)
                    .map_err(|e| self.error(format!("reading {name}/{partition}"), e))?;
                let expected = match accounted.get(&(name.clone(), partition)) {
                    Some(n) => *n,
                    // The checkpoint never wrote ahead there: it accounts for no output.
                    None => 0,
                };
                if held > expected {
                    return Ok(Some(format!(
                        "{name} partition {partition} on {} holds {held} outputs of this job, \
                         the checkpoint accounts for {expected}",
                        self.address
                    )));
                }
            }
        }
        Ok(None)
    }

    fn publish_ahead(&self, job: &str, manifest: &Manifest) -> Result<u64, RunError> {
        debug_assert_eq!(job, self.job, "an output belongs to one job");
        let mut published = 0;
        for ((topic, partition), records) in &manifest.write_ahead {
            let base = *manifest
                .sequences
                .get(&(topic.clone(), *partition))
                .ok_or_else(|| RunError::IncompatibleCheckpoint {
                    id: manifest.id,
                    reason: format!(
                        "its write-ahead outputs of {topic}/{partition} have no base sequence"
                    ),
                })?;
            let open = self.existing(topic)?;
            published += self.publish_partition(&open, *partition, base, records, manifest.id)?;
        }
        Ok(published)
    }

    fn journal_append(&self, entry: &JournalEntry, now_ms: i64) -> Result<(), RunError> {
        let topic = self.journal(&entry.job)?;
        crate::engine_journal::append(self.log, &self.address, self.epoch, topic, entry, now_ms)
    }

    fn journal_last(&self, job: &str) -> Result<Option<JournalEntry>, RunError> {
        let topic = self.journal(job)?;
        crate::engine_journal::last(self.log, &self.address, topic, job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(sequence: u64, duplicate: bool) -> PublishAck {
        PublishAck {
            sequence,
            duplicate,
        }
    }

    #[test]
    fn a_contiguous_publish_is_remembered_anything_else_is_read_again() {
        let from = ResumePoint {
            last_seq: 10,
            written: 4,
        };
        let stored = [ack(11, false), ack(12, false), ack(13, false)];
        assert_eq!(
            after_publish(from, &stored),
            Some(ResumePoint {
                last_seq: 13,
                written: 7
            })
        );
        let with_duplicate = [ack(11, false), ack(5, true)];
        assert_eq!(after_publish(from, &with_duplicate), None);
        let with_gap = [ack(11, false), ack(13, false)];
        assert_eq!(after_publish(from, &with_gap), None);
        assert_eq!(after_publish(from, &[]), Some(from));
    }
}
