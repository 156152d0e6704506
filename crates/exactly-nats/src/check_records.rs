//! The engine's job checks (`exactly run check --log nats://…`) reading JetStream: every
//! record a topic's streams keep now, numbered as the job's NATS input numbers them
//! (stream sequence − 1), so the audit's lineages name the same records.

use crate::blocking::NatsLog;
use crate::error::NatsError;
use exactly_engine::jobs::{CheckError, CommittedRecords, EachRecord};

/// Records read per request.
const BATCH_RECORDS: usize = 4096;

fn failed(topic: &str, partition: Option<u32>, error: &NatsError) -> CheckError {
    let topic = match partition {
        Some(partition) => format!("{topic}/{partition}"),
        None => topic.to_string(),
    };
    tracing::warn!(%topic, %error, "reading a topic for a check failed");
    CheckError::Backend {
        topic,
        reason: error.to_string(),
    }
}

impl CommittedRecords for NatsLog {
    fn for_each_record(&self, topic: &str, each: &mut EachRecord<'_>) -> Result<bool, CheckError> {
        let open = match self.open_topic(topic) {
            Ok(open) => open,
            Err(NatsError::TopicNotFound { .. }) => return Ok(false),
            Err(error) => return Err(failed(topic, None, &error)),
        };
        for partition in 0..open.partitions() {
            let read_failed = |error: NatsError| failed(topic, Some(partition), &error);
            let first = self
                .partition_state(&open, partition)
                .map_err(read_failed)?
                .first_seq;
            let mut reader = self.reader(&open, partition, first).map_err(read_failed)?;
            loop {
                let batch = reader.next_batch(BATCH_RECORDS).map_err(read_failed)?;
                if batch.is_empty() {
                    break;
                }
                for record in batch {
                    // Sequences start at 1; the job's input numbers records from 0.
                    each(partition, record.sequence - 1, &record.value)?;
                }
            }
        }
        Ok(true)
    }
}
