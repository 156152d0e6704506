//! Generated input for the built-in jobs published to a topic on JetStream (blocking):
//! the same records `exactly_engine::generate` writes to the embedded log, each with the
//! lineage id `gen.<id>`, chained on each partition's last sequence. Ids continue after
//! the records already in the topic, so generating again adds new records.

use crate::blocking::NatsLog;
use crate::error::NatsError;
use crate::record::OutRecord;
use crate::topic::TopicOptions;
use exactly_engine::generate::{key_of, GenError, GenKind, GenSummary, CHUNK_RECORDS};
use std::collections::BTreeMap;

/// Why generated input could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishGeneratedError {
    /// The records could not be generated.
    #[error(transparent)]
    Generate(#[from] GenError),
    /// The server refused or failed.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// A publish failed part-way (what was acknowledged stays).
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishFailure),
}

/// Publishes `count` generated records of `kind` to `topic_name` (created with
/// `partitions` and `options` if missing), ids continuing after the records
/// already there.
pub fn publish_generated(
    log: &NatsLog,
    topic_name: &str,
    partitions: u32,
    options: &TopicOptions,
    count: u64,
    seed: u64,
    kind: GenKind,
) -> Result<GenSummary, PublishGeneratedError> {
    kind.check()?;
    let topic = match log.open_topic(topic_name) {
        Ok(topic) => topic,
        Err(NatsError::TopicNotFound { .. }) => {
            log.create_topic(topic_name, partitions, options.clone())?
        }
        Err(error) => return Err(error.into()),
    };
    let mut last_seqs = Vec::new();
    let mut start = 0;
    for partition in 0..topic.partitions() {
        let state = log.partition_state(&topic, partition)?;
        start += state.messages;
        last_seqs.push(state.last_seq);
    }
    let end = start + count;
    let mut first = start;
    while first < end {
        let round = CHUNK_RECORDS.min(end - first);
        let mut by_partition: BTreeMap<u32, Vec<OutRecord>> = BTreeMap::new();
        for (record, id) in kind.records(seed, first, round)?.into_iter().zip(first..) {
            let partition = topic.partition_for_key(key_of(&record));
            by_partition.entry(partition).or_default().push(OutRecord {
                origin: None,
                msg_id: format!("gen.{id}"),
                epoch: None,
                key: record.key,
                timestamp_ms: record.timestamp.0,
                value: record.value,
            });
        }
        for (partition, records) in by_partition {
            let last = last_seqs
                .get_mut(partition as usize)
                .expect("partition_for_key is below the partition count, one entry each");
            let acks = log.publish(&topic, partition, &records, Some(*last))?;
            if let Some(ack) = acks.last() {
                *last = ack.sequence;
            }
        }
        first += round;
    }
    Ok(GenSummary {
        topic: topic_name.to_string(),
        partitions: topic.partitions(),
        written: count,
        first_id: start,
        total: end,
    })
}
