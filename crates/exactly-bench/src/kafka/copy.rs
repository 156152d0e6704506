//! Copy rounds: librdkafka's consume-transform-produce loop through the server, in
//! transactions committed every interval (`send_offsets_to_transaction` +
//! `commit_transaction`), and the same loop without transactions (flush the producer, then
//! commit the consumer's offsets, every interval: at-least-once).

use super::consume::{assign_from_start, consumer_config};
use super::deliveries::Deliveries;
use super::produce::{producer_config, send};
use crate::error::{BenchError, Context};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// Longest wait for a commit or a flush.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a round waits without an input record.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One copy loop's clients.
struct Loop {
    consumer: BaseConsumer,
    producer: BaseProducer<Deliveries>,
    transactional: bool,
    input: String,
}

impl Loop {
    /// Makes the records read so far (`next`: the input offset after them) durable and
    /// the input position with them.
    fn commit(&self, next: i64) -> Result<(), BenchError> {
        let mut positions = TopicPartitionList::new();
        positions
            .add_partition_offset(&self.input, 0, Offset::Offset(next))
            .during("listing positions")?;
        if self.transactional {
            let group = self.consumer.group_metadata().ok_or_else(|| {
                BenchError::Check("the consumer has no group metadata".to_string())
            })?;
            self.producer
                .send_offsets_to_transaction(&positions, &group, COMMIT_TIMEOUT)
                .during("sending offsets to the transaction")?;
            self.producer
                .commit_transaction(COMMIT_TIMEOUT)
                .during("committing")?;
        } else {
            self.producer.flush(COMMIT_TIMEOUT).during("flushing")?;
            self.consumer
                .commit(&positions, CommitMode::Sync)
                .during("committing offsets")?;
        }
        Ok(())
    }
}

/// Records per second of copying the first `records` records of partition 0 of `input`
/// to partition 0 of `output` (value reversed), committing every `commit_interval`.
pub(crate) fn round(
    addr: &str,
    input: &str,
    output: &str,
    records: u64,
    transactional: bool,
    commit_interval: Duration,
) -> Result<f64, BenchError> {
    let group = format!("bench-copy-{output}");
    let mut config = producer_config(addr);
    if transactional {
        config.set("transactional.id", &group);
    }
    let copier = Loop {
        consumer: consumer_config(addr, &group)
            .create()
            .during("creating the consumer")?,
        producer: config
            .create_with_context(Deliveries::default())
            .during("creating the producer")?,
        transactional,
        input: input.to_string(),
    };
    if transactional {
        copier
            .producer
            .init_transactions(COMMIT_TIMEOUT)
            .during("initializing transactions")?;
    }
    let started = Instant::now();
    assign_from_start(&copier.consumer, input)?;
    let (mut copied, mut next) = (0u64, 0i64);
    let (mut last_commit, mut last_record) = (Instant::now(), Instant::now());
    let mut open = false;
    while copied < records {
        if transactional && !open {
            copier.producer.begin_transaction().during("beginning")?;
            open = true;
        }
        match copier.consumer.poll(Duration::from_millis(10)) {
            Some(Ok(message)) => {
                let Some(payload) = message.payload() else {
                    return Err(BenchError::Check("an input record without a value".into()));
                };
                let mut value = payload.to_vec();
                value.reverse();
                send(
                    &copier.producer,
                    BaseRecord::to(output).partition(0).payload(&value[..]),
                )?;
                copied += 1;
                next = message.offset() + 1;
                last_record = Instant::now();
            }
            Some(Err(error)) => return Err(error).during("consuming"),
            None if last_record.elapsed() > IDLE_TIMEOUT => {
                return Err(BenchError::Check(format!(
                    "the copy read {copied} of {records} records, then nothing for {IDLE_TIMEOUT:?}"
                )))
            }
            None => {}
        }
        copier.producer.poll(Duration::ZERO);
        if copied == records || last_commit.elapsed() >= commit_interval {
            copier.commit(next)?;
            open = false;
            last_commit = Instant::now();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    match copier.producer.context().counts() {
        (delivered, 0) if delivered == records => Ok(records as f64 / elapsed),
        (delivered, failed) => Err(BenchError::Check(format!(
            "copy: {delivered} of {records} records acknowledged, {failed} failed"
        ))),
    }
}
