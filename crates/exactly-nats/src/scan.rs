//! Finding a producer's last record in a partition (blocking): how a producer resumes
//! without trusting the duplicate window.

use crate::blocking::{NatsLog, Topic};
use crate::error::NatsError;
use crate::record::StoredRecord;

/// Records read per batch while scanning.
const SCAN_BATCH_RECORDS: usize = 4096;

/// The last record of `partition` whose message id starts with `id_prefix`, `None` if it
/// holds none. One lookup when the tail is that producer's (the usual case of a single
/// writer); otherwise one ordered read of the whole partition.
pub fn last_with_id_prefix(
    log: &NatsLog,
    topic: &Topic,
    partition: u32,
    id_prefix: &str,
) -> Result<Option<StoredRecord>, NatsError> {
    last_matching(log, topic, partition, &|record: &StoredRecord| {
        record
            .msg_id
            .as_deref()
            .is_some_and(|id| id.starts_with(id_prefix))
    })
}

/// The last record of `partition` for which `ours` holds, `None` if none does. One
/// lookup when the tail is such a record; otherwise one ordered read of the whole
/// partition.
pub fn last_matching(
    log: &NatsLog,
    topic: &Topic,
    partition: u32,
    ours: &dyn Fn(&StoredRecord) -> bool,
) -> Result<Option<StoredRecord>, NatsError> {
    match log.tail(topic, partition)? {
        None => return Ok(None),
        Some(tail) if ours(&tail) => return Ok(Some(tail)),
        Some(_) => {}
    }
    let first = log.partition_state(topic, partition)?.first_seq;
    let mut reader = log.reader(topic, partition, first)?;
    let mut last = None;
    loop {
        let batch = reader.next_batch(SCAN_BATCH_RECORDS)?;
        if batch.is_empty() {
            return Ok(last);
        }
        if let Some(found) = batch.into_iter().rev().find(|r| ours(r)) {
            last = Some(found);
        }
    }
}
