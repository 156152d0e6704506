//! Reading topics on JetStream to their end (blocking): the records of some partitions
//! from a sequence on, as `exactly log consume --log nats://…` prints them, and a whole
//! topic counted by lineage id, as `exactly nats verify` checks it. A start below what
//! retention kept is an error ([`NatsError::RetentionDeleted`]), never a silent skip.

use crate::blocking::{NatsLog, Topic};
use crate::error::NatsError;
use crate::lineage::{LineageAudit, LineageReport};
use crate::record::StoredRecord;
use std::ops::ControlFlow;

/// Records per read batch.
const BATCH_RECORDS: u64 = 1000;

/// Reads `partitions` of `topic` one after the other, each from sequence `from` (`None`:
/// its first kept record) to its end as of the call, handing every record to `emit`
/// until `max` records were read in all or `emit` breaks. Returns the records read.
pub fn read_partitions(
    log: &NatsLog,
    topic: &Topic,
    partitions: &[u32],
    from: Option<u64>,
    max: Option<u64>,
    emit: &mut dyn FnMut(u32, &StoredRecord) -> ControlFlow<()>,
) -> Result<u64, NatsError> {
    let limit = max.unwrap_or(u64::MAX);
    let mut read = 0u64;
    for &partition in partitions {
        let from = match from {
            Some(sequence) => sequence,
            None => log.partition_state(topic, partition)?.first_seq,
        };
        let mut reader = log.reader(topic, partition, from)?;
        while read < limit {
            // At most BATCH_RECORDS, which fits in usize.
            let want = (limit - read).min(BATCH_RECORDS) as usize;
            let batch = reader.next_batch(want)?;
            if batch.is_empty() {
                break;
            }
            for record in &batch {
                if emit(partition, record).is_break() {
                    return Ok(read);
                }
            }
            read += batch.len() as u64;
        }
    }
    Ok(read)
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
