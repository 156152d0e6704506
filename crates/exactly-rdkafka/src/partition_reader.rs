//! [`PartitionReader`]: one partition of the input topic, read through its own librdkafka
//! consumer assigned by hand at the position the engine asks for.
//!
//! **Why an empty read is honest.** The engine treats a read that returns nothing as
//! "nothing committed past this position" (a job that does not follow its input stops
//! when every partition reads empty). A Kafka consumer that has nothing to deliver yet
//! cannot tell "at the end" from "still fetching", so the consumer runs with
//! `enable.partition.eof`: a read returns empty only after librdkafka reported the end of
//! the partition (the last stable offset under `read_committed`) and nothing arrived since;
//! otherwise it keeps polling, up to the stall timeout (a broker restart is ridden out
//! by librdkafka reconnecting).

use crate::error::InputError;
use crate::options::KafkaInputOptions;
use crate::record::to_stored_record;
use exactly_engine::runtime::InputBatch;
use exactly_log::StoredRecord;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// How long one poll waits while a read has nothing yet: short, so a read that finds
/// the end returns soon after librdkafka reports it.
const POLL_STEP: Duration = Duration::from_millis(50);

/// The librdkafka settings of every input consumer (before the caller's own).
pub fn consumer_config(options: &KafkaInputOptions) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.bootstrap_servers)
        .set("client.id", "exactly-input")
        // Required by librdkafka for a consumer; never joined: partitions are assigned
        // by hand and positions live in the job's checkpoint, not in the group.
        .set("group.id", "exactly-input")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("allow.auto.create.topics", "false")
        // An idle partition answers its long poll within this, so its end is learnt soon.
        .set("fetch.wait.max.ms", "100")
        // Reconnect quickly after a broker restart.
        .set("reconnect.backoff.max.ms", "1000");
    for (key, value) in &options.client_settings {
        config.set(key, value);
    }
    config
}

/// What one poll brought.
enum Polled {
    Record(StoredRecord),
    End,
    Nothing,
}

/// One partition's consumer and where the engine is in it.
pub struct PartitionReader {
    consumer: BaseConsumer,
    topic: String,
    partition: u32,
    stall_timeout: Duration,
    /// The position of the next record the engine has not been given (`None`: the
    /// consumer is not assigned yet).
    next: Option<u64>,
    /// librdkafka reported the end of the partition and no record arrived since.
    at_end: bool,
    /// A record `wait` polled, at or after `next`, not yet given to the engine.
    held: Option<StoredRecord>,
    /// The last transient error librdkafka reported (for a stall's message).
    last_error: Option<KafkaError>,
}

impl PartitionReader {
    /// A reader of `partition` (not yet assigned: the first read assigns it).
    pub fn new(options: &KafkaInputOptions, partition: u32) -> Result<Self, InputError> {
        let consumer = consumer_config(options)
            .create::<BaseConsumer>()
            .map_err(|source| InputError::Client {
                topic: options.topic.clone(),
                partition: Some(partition),
                source,
            })?;
        Ok(Self {
            consumer,
            topic: options.topic.clone(),
            partition,
            stall_timeout: options.stall_timeout,
            next: None,
            at_end: false,
            held: None,
            last_error: None,
        })
    }

    /// Up to `records_max` committed records from `position` (see the module
    /// documentation for when it returns none).
    pub fn read(&mut self, position: u64, records_max: usize) -> Result<InputBatch, InputError> {
        self.position_at(position)?;
        let mut records = Vec::new();
        let started = Instant::now();
        while records.len() < records_max.max(1) {
            let record = match self.held.take() {
                Some(record) => Some(record),
                None => {
                    let wait = match records.is_empty() && !self.at_end {
                        true => POLL_STEP,
                        false => Duration::ZERO,
                    };
                    match self.poll(wait)? {
                        Polled::Record(record) => Some(record),
                        Polled::End => break,
                        Polled::Nothing if !records.is_empty() || self.at_end => break,
                        Polled::Nothing => None,
                    }
                }
            };
            match record {
                Some(record) => {
                    self.next = Some(record.offset.0 + 1);
                    self.at_end = false;
                    records.push(record);
                }
                None => self.check_stall(position, started)?,
            }
        }
        let next_position = match self.next {
            Some(next) => next,
            // Nothing read yet: the next read starts where this one was asked to.
            None => position,
        };
        Ok(InputBatch {
            records,
            next_position,
        })
    }

    /// Waits up to `timeout` for a record at or after `position`; the record is kept for
    /// the next read.
    pub fn wait(&mut self, position: u64, timeout: Duration) -> Result<(), InputError> {
        if self.next != Some(position) || self.held.is_some() {
            return Ok(()); // the next read returns at once anyway
        }
        if let Polled::Record(record) = self.poll(timeout)? {
            self.held = Some(record);
        }
        Ok(())
    }

    /// Assigns the partition at `position` unless the consumer already delivers from
    /// there (the common case: the engine reads on from where the last read ended).
    fn position_at(&mut self, position: u64) -> Result<(), InputError> {
        if self.next == Some(position) {
            return Ok(());
        }
        let offset = i64::try_from(position).map_err(|_| InputError::PositionTooLarge(position))?;
        let assign_error = |source| InputError::Assign {
            topic: self.topic.clone(),
            partition: self.partition,
            position,
            source,
        };
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.topic, self.partition_i32(), Offset::Offset(offset))
            .map_err(assign_error)?;
        self.consumer.assign(&assignment).map_err(assign_error)?;
        self.next = Some(position);
        self.at_end = false;
        self.held = None;
        Ok(())
    }

    /// One poll of the consumer.
    fn poll(&mut self, timeout: Duration) -> Result<Polled, InputError> {
        match self.consumer.poll(timeout) {
            None => Ok(Polled::Nothing),
            Some(Ok(message)) => {
                let record = to_stored_record(&message, &self.topic, self.partition)?;
                // librdkafka drops records below the assigned offset itself; a record
                // before the engine's position would be a replay the engine did not ask for.
                match self.next {
                    Some(next) if record.offset.0 < next => Ok(Polled::Nothing),
                    _ => Ok(Polled::Record(record)),
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                self.at_end = true;
                Ok(Polled::End)
            }
            Some(Err(error)) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) => {
                Err(InputError::Fatal {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    source: error,
                })
            }
            Some(Err(error)) => {
                // Transport errors while a broker restarts: librdkafka retries by itself.
                tracing::warn!(topic = %self.topic, partition = self.partition, %error, "Kafka input");
                self.last_error = Some(error);
                Ok(Polled::Nothing)
            }
        }
    }

    fn check_stall(&self, position: u64, started: Instant) -> Result<(), InputError> {
        let waited = started.elapsed();
        if waited < self.stall_timeout {
            return Ok(());
        }
        Err(InputError::Stalled {
            topic: self.topic.clone(),
            partition: self.partition,
            position,
            waited,
            last_error: match &self.last_error {
                Some(error) => error.to_string(),
                None => "none".to_string(),
            },
        })
    }

    fn partition_i32(&self) -> i32 {
        // `KafkaInput` creates readers only for partitions the broker listed, and Kafka
        // counts partitions in an i32, so the index fits.
        #[allow(clippy::expect_used)]
        i32::try_from(self.partition).expect("partition indexes come from an i32 count")
    }
}
