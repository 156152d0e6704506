//! [`KafkaInput`]: the engine's [`Input`] over a Kafka topic — one [`PartitionReader`]
//! per partition, each behind its own lock (the engine's source threads read disjoint
//! partitions, so the locks are never contended).

use crate::error::InputError;
use crate::options::KafkaInputOptions;
use crate::partition_reader::{consumer_config, PartitionReader};
use exactly_engine::runtime::{Input, InputBatch, RunError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaRespErr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A Kafka topic as a job's input, read committed from positions kept in the job's
/// checkpoint (see the crate documentation).
pub struct KafkaInput {
    topic: String,
    /// `None`: the broker does not know the topic.
    partitions: Option<u32>,
    readers: Vec<Mutex<PartitionReader>>,
}

impl KafkaInput {
    /// Reads the topic's partition count from the broker and creates one consumer per
    /// partition (assigned at the first read).
    pub fn connect(options: KafkaInputOptions) -> Result<Self, InputError> {
        let partitions = partition_count(&options)?;
        let readers = match partitions {
            Some(count) => (0..count)
                .map(|partition| PartitionReader::new(&options, partition).map(Mutex::new))
                .collect::<Result<Vec<_>, _>>()?,
            // No such topic: no readers; the engine reports the unknown topic.
            None => Vec::new(),
        };
        Ok(Self {
            topic: options.topic,
            partitions,
            readers,
        })
    }

    fn reader(&self, partition: u32) -> Result<MutexGuard<'_, PartitionReader>, InputError> {
        let reader =
            self.readers
                .get(partition as usize)
                .ok_or_else(|| InputError::UnknownPartition {
                    topic: self.topic.clone(),
                    partition,
                    partitions: self.readers.len() as u32,
                })?;
        reader.lock().map_err(|_| InputError::Poisoned {
            topic: self.topic.clone(),
            partition,
        })
    }

    fn run_error(&self, error: InputError) -> RunError {
        RunError::Input {
            input: self.topic.clone(),
            source: Box::new(error),
        }
    }
}

impl Input for KafkaInput {
    fn name(&self) -> &str {
        &self.topic
    }

    fn partitions(&self) -> Option<u32> {
        self.partitions
    }

    fn read(
        &self,
        partition: u32,
        position: u64,
        records_max: usize,
    ) -> Result<InputBatch, RunError> {
        self.reader(partition)
            .and_then(|mut reader| reader.read(position, records_max))
            .map_err(|error| self.run_error(error))
    }

    fn wait(&self, partition: u32, position: u64, timeout: Duration) -> Result<(), RunError> {
        self.reader(partition)
            .and_then(|mut reader| reader.wait(position, timeout))
            .map_err(|error| self.run_error(error))
    }
}

/// The topic's partition count as the broker reports it; `None` if it does not know the
/// topic.
fn partition_count(options: &KafkaInputOptions) -> Result<Option<u32>, InputError> {
    let topic = &options.topic;
    let consumer = consumer_config(options)
        .create::<BaseConsumer>()
        .map_err(|source| InputError::Client {
            topic: topic.clone(),
            partition: None,
            source,
        })?;
    let metadata = consumer
        .fetch_metadata(Some(topic), options.metadata_timeout)
        .map_err(|source| InputError::Metadata {
            topic: topic.clone(),
            source,
        })?;
    let Some(listed) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match listed.error() {
        None => Ok(Some(listed.partitions().len() as u32)),
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => Ok(None),
        Some(code) => Err(InputError::TopicError {
            topic: topic.clone(),
            code: format!("{code:?}"),
        }),
    }
}
