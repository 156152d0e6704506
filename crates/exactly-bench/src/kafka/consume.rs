//! Consume rounds: librdkafka's `read_committed` consumer reading a partition from the
//! server over loopback, and the log's own `read_committed` reads of the same records
//! in-process.

use crate::error::{BenchError, Context};
use exactly_core::Offset;
use exactly_log::{Isolation, Log};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};
use std::time::{Duration, Instant};

/// Longest a round waits without a record.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A `read_committed` consumer with partitions assigned by hand, offsets never committed
/// automatically.
pub(crate) fn consumer_config(addr: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    config
}

/// Assigns partition 0 of `topic` from its beginning.
pub(crate) fn assign_from_start(consumer: &BaseConsumer, topic: &str) -> Result<(), BenchError> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, KafkaOffset::Beginning)
        .during("assigning")?;
    consumer.assign(&assignment).during("assigning")
}

/// Records per second of librdkafka reading the first `records` records of partition 0
/// of `topic`.
pub(crate) fn rdkafka_round(addr: &str, topic: &str, records: u64) -> Result<f64, BenchError> {
    let consumer: BaseConsumer = consumer_config(addr, "bench-consume")
        .create()
        .during("creating the consumer")?;
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .during("reading metadata")?;
    let started = Instant::now();
    assign_from_start(&consumer, topic)?;
    let (mut read, mut bytes) = (0u64, 0usize);
    let mut last_record = Instant::now();
    while read < records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                read += 1;
                bytes += message.payload_len();
                last_record = Instant::now();
            }
            Some(Err(error)) => return Err(error).during("consuming"),
            None if last_record.elapsed() > IDLE_TIMEOUT => {
                return Err(BenchError::Check(format!(
                    "librdkafka read {read} of {records} records, then nothing for {IDLE_TIMEOUT:?}"
                )))
            }
            None => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    Ok(records as f64 / elapsed)
}

/// Records per second of the log reading the same records in-process.
pub(crate) fn in_process_round(log: &Log, topic: &str, records: u64) -> Result<f64, BenchError> {
    let started = Instant::now();
    let (mut read, mut bytes, mut offset) = (0u64, 0usize, Offset(0));
    while read < records {
        let batch = log
            .read_with(topic, 0, offset, 4096, Isolation::ReadCommitted)
            .during("reading in-process")?;
        if batch.records.is_empty() {
            return Err(BenchError::Check(format!(
                "the log holds {read} of {records} records"
            )));
        }
        read += batch.records.len() as u64;
        bytes += batch.records.iter().map(|r| r.value.len()).sum::<usize>();
        offset = batch.next_offset;
    }
    let elapsed = started.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    Ok(records as f64 / elapsed)
}
