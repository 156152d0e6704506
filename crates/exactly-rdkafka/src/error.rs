//! [`InputError`]: why a Kafka topic could not be read. A leaf module.

use rdkafka::error::KafkaError;
use std::time::Duration;

/// Why a [`crate::KafkaInput`] could not read its topic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// librdkafka refused the configuration or could not create a client.
    #[error("creating the Kafka consumer for {topic} partition {partition:?}")]
    Client {
        /// The topic.
        topic: String,
        /// The partition (`None`: the metadata client).
        partition: Option<u32>,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The topic's metadata could not be read.
    #[error("reading the metadata of topic {topic}")]
    Metadata {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The broker named the topic with an error other than "unknown topic".
    #[error("the broker reports topic {topic}: {code}")]
    TopicError {
        /// The topic.
        topic: String,
        /// The Kafka error code, as librdkafka names it.
        code: String,
    },
    /// Assigning a partition at a position failed.
    #[error("assigning {topic} partition {partition} at offset {position}")]
    Assign {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset asked for.
        position: u64,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// A partition the engine asked for does not exist.
    #[error("topic {topic} has {partitions} partitions; {partition} does not exist")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: u32,
    },
    /// A position does not fit a Kafka offset (`i64`).
    #[error("position {0} is past the largest Kafka offset")]
    PositionTooLarge(u64),
    /// The broker delivered a record with a negative offset.
    #[error("{topic} partition {partition}: the broker delivered offset {offset}")]
    NegativeOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset delivered.
        offset: i64,
    },
    /// A record carries no timestamp (message formats before v1); the engine's clocks
    /// need one.
    #[error("{topic} partition {partition} offset {offset} has no timestamp")]
    NoTimestamp {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The record's offset.
        offset: u64,
    },
    /// librdkafka reported an error it will not recover from.
    #[error("{topic} partition {partition}: fatal consumer error")]
    Fatal {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// No record and no end of partition for longer than the stall timeout.
    #[error(
        "{topic} partition {partition}: nothing read at offset {position} for {waited:?} \
         (last client error: {last_error})"
    )]
    Stalled {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset the read waits at.
        position: u64,
        /// How long it waited.
        waited: Duration,
        /// The last error librdkafka reported while waiting (`none` if none).
        last_error: String,
    },
    /// Another thread panicked while reading this partition.
    #[error("{topic} partition {partition}: a reader thread panicked")]
    Poisoned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
}
