//! Reading topics on JetStream to their end (blocking): the records of some partitions
//! from a sequence or a time on, to their ends or following them, as `exactly log consume
//! --log nats://…` prints them, and a whole
//! topic counted by lineage id, as `exactly nats verify` checks it. A start below what
//! retention kept is an error ([`NatsError::RetentionDeleted`]), never a silent skip.

use crate::blocking::{NatsLog, Topic};
use crate::error::NatsError;
use crate::lineage::{LineageAudit, LineageReport};
use crate::record::StoredRecord;
use std::ops::ControlFlow;
use std::time::Duration;

/// Records per read batch.
const BATCH_RECORDS: u64 = 1000;

/// Where reading a partition starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Its first kept record.
    First,
    /// This stream sequence (the first is 1).
    Sequence(u64),
    /// The first record the server stored at or after this time, ms since the Unix epoch
    /// ([`NatsLog::sequence_at_time`]).
    Time(i64),
}

/// What [`read_partitions`] reads.
#[derive(Clone, Debug)]
pub struct ReadPlan<'a> {
    /// The partitions, read one after the other.
    pub partitions: &'a [u32],
    /// Where each starts.
    pub start: Start,
    /// Stop after this many records in all (`None`: no limit).
    pub max: Option<u64>,
    /// Keep reading records as they arrive, looking for new ones this often when none
    /// came (`None`: stop at each partition's end as of the call).
    pub follow_poll: Option<Duration>,
}

/// Reads `plan.partitions` of `topic` one after the other, each from `plan.start` to its
/// end as of the call (and, following, again as records arrive), handing every record to
/// `emit` until `plan.max` records were read in all or `emit` breaks. Returns the records
/// read.
pub fn read_partitions(
    log: &NatsLog,
    topic: &Topic,
    plan: &ReadPlan<'_>,
    emit: &mut dyn FnMut(u32, &StoredRecord) -> ControlFlow<()>,
) -> Result<u64, NatsError> {
    let limit = plan.max.unwrap_or(u64::MAX);
    let mut next = Vec::new();
    for &partition in plan.partitions {
        let from = match plan.start {
            Start::Sequence(sequence) => sequence,
            Start::Time(time_ms) => log.sequence_at_time(topic, partition, time_ms)?,
            Start::First => log.partition_state(topic, partition)?.first_seq,
        };
        next.push((partition, from));
    }
    let mut read = 0u64;
    loop {
        let mut progressed = false;
        for (partition, next_seq) in &mut next {
            let drained = drain(log, topic, *partition, next_seq, limit - read, emit)?;
            read += drained.read;
            progressed |= drained.read > 0;
            if drained.stopped || read >= limit {
                return Ok(read);
            }
        }
        match plan.follow_poll {
            None => return Ok(read),
            Some(_) if progressed => {}
            Some(poll) => std::thread::sleep(poll),
        }
    }
}

/// What one pass over a partition did.
struct Drained {
    /// Records handed to `emit` and accepted.
    read: u64,
    /// `emit` asked to stop.
    stopped: bool,
}

/// Reads `partition` from `*next_seq` to its end as of now, at most `remaining` records,
/// and moves `*next_seq` past what was read.
fn drain(
    log: &NatsLog,
    topic: &Topic,
    partition: u32,
    next_seq: &mut u64,
    remaining: u64,
    emit: &mut dyn FnMut(u32, &StoredRecord) -> ControlFlow<()>,
) -> Result<Drained, NatsError> {
    let mut reader = log.reader(topic, partition, *next_seq)?;
    let mut read = 0u64;
    while read < remaining {
        // At most BATCH_RECORDS, which fits in usize.
        let want = (remaining - read).min(BATCH_RECORDS) as usize;
        let batch = reader.next_batch(want)?;
        if batch.is_empty() {
            break;
        }
        for record in &batch {
            if emit(partition, record).is_break() {
                return Ok(Drained {
                    read,
                    stopped: true,
                });
            }
            read += 1;
        }
    }
    *next_seq = reader.next_seq();
    Ok(Drained {
        read,
        stopped: false,
    })
}

/// A topic's records counted by lineage id.
#[derive(Clone, Debug)]
pub struct TopicAudit {
    /// Duplicates, gaps and records without an id.
    pub report: LineageReport,
    /// Retention deleted the oldest records of some partition: their positions then
    /// count as gaps.
    pub retention_truncated: bool,
}

/// Reads every partition of `topic` with a fresh reader and counts its records by lineage
/// id (the message id), not by JetStream's de-duplication state.
pub fn audit_topic(log: &NatsLog, topic: &Topic) -> Result<TopicAudit, NatsError> {
    let mut audit = LineageAudit::default();
    let mut retention_truncated = false;
    for partition in 0..topic.partitions() {
        let state = log.partition_state(topic, partition)?;
        retention_truncated |= state.first_seq > 1;
        let mut reader = log.reader(topic, partition, state.first_seq)?;
        loop {
            let batch = reader.next_batch(AUDIT_BATCH_RECORDS)?;
            if batch.is_empty() {
                break;
            }
            for record in &batch {
                audit.add(record.msg_id.as_deref());
            }
        }
    }
    Ok(TopicAudit {
        report: audit.report(),
        retention_truncated,
    })
}

/// Records per read batch of an audit.
const AUDIT_BATCH_RECORDS: usize = 4096;
