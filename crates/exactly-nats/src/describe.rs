//! A log's topics on JetStream as `exactly log describe --log nats://…` prints them: per
//! partition its first and next sequence (as the embedded log's start and end offsets),
//! its record count, and the topic's options.

use crate::blocking::NatsLog;
use crate::error::NatsError;
use crate::topic::TopicOptions;
use serde::Serialize;

/// One partition of a topic.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionRow {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The partition's stream.
    pub stream: String,
    /// Sequence of the first record kept.
    pub start_offset: u64,
    /// Sequence the next record gets.
    pub end_offset: u64,
    /// Records kept.
    pub records: u64,
    /// The topic's options.
    pub options: TopicOptions,
}

/// Every partition of every topic (or of `only`).
pub fn describe(log: &NatsLog, only: Option<&str>) -> Result<Vec<PartitionRow>, NatsError> {
    let topics = match only {
        Some(topic) => vec![topic.to_string()],
        None => log.list_topics()?,
    };
    let mut rows = Vec::new();
    for name in topics {
        let topic = log.open_topic(&name)?;
        for partition in 0..topic.partitions() {
            let state = log.partition_state(&topic, partition)?;
            rows.push(PartitionRow {
                topic: name.clone(),
                partition,
                stream: topic.stream(partition)?,
                start_offset: state.first_seq,
                end_offset: state.last_seq + 1,
                records: state.messages,
                options: topic.meta().options.clone(),
            });
        }
    }
    Ok(rows)
}
