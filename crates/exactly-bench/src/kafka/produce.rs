//! Produce rounds: librdkafka's idempotent producer (`acks=all`, batched) into the server
//! over loopback, and the same records appended in-process by the log's idempotent
//! producer in batches of the size librdkafka sends.

use super::deliveries::Deliveries;
use crate::error::{BenchError, Context};
use exactly_core::{ProducerEpoch, ProducerId, Sequence, Timestamp};
use exactly_log::{Log, ProducerStamp, Record};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::{Duration, Instant};

/// Longest wait for the last acknowledgments of a round.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(300);

/// The benchmark's producer settings: idempotent, `acks=all`, batches up to 1 MB
/// lingering 5 ms, no compression.
pub(crate) fn producer_config(addr: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("compression.type", "none")
        .set("queue.buffering.max.kbytes", "1048576");
    config
}

/// Sends `record`, serving delivery reports while librdkafka's queue is full.
pub(crate) fn send<C: rdkafka::producer::ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> Result<(), BenchError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(1));
                record = back;
            }
            Err((error, _)) => return Err(error).during("sending a record"),
        }
    }
}

/// Records per second of `records` records of `record_bytes` bytes sent by librdkafka
/// to partition 0 of `topic` and all acknowledged.
pub(crate) fn rdkafka_round(
    addr: &str,
    topic: &str,
    records: u64,
    record_bytes: usize,
) -> Result<f64, BenchError> {
    let producer: BaseProducer<Deliveries> = producer_config(addr)
        .create_with_context(Deliveries::default())
        .during("creating the producer")?;
    // Connected before the clock starts.
    producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .during("reading metadata")?;
    let value = vec![b'x'; record_bytes];
    let started = Instant::now();
    for _ in 0..records {
        send(
            &producer,
            BaseRecord::to(topic).partition(0).payload(&value[..]),
        )?;
    }
    producer.flush(FLUSH_TIMEOUT).during("flushing")?;
    let elapsed = started.elapsed().as_secs_f64();
    match producer.context().counts() {
        (delivered, 0) if delivered == records => Ok(records as f64 / elapsed),
        (delivered, failed) => Err(BenchError::Check(format!(
            "librdkafka: {delivered} of {records} records acknowledged, {failed} failed"
        ))),
    }
}

/// Records per second of the same records appended to partition 0 of `topic` of `log`
/// in-process, `batch_records` per durable idempotent append.
pub(crate) fn in_process_round(
    log: &Log,
    topic: &str,
    producer_id: u64,
    records: u64,
    record_bytes: usize,
    batch_records: u64,
) -> Result<f64, BenchError> {
    let started = Instant::now();
    let mut next = 0u64;
    while next < records {
        let count = (records - next).min(batch_records);
        let batch: Vec<Record> = (0..count)
            .map(|_| Record {
                timestamp: Timestamp(0),
                key: None,
                value: vec![b'x'; record_bytes],
            })
            .collect();
        let stamp = ProducerStamp {
            producer_id: ProducerId(producer_id),
            epoch: ProducerEpoch(0),
            base_sequence: Sequence(next),
        };
        log.append(topic, 0, &batch, Some(stamp))
            .during("appending in-process")?;
        next += count;
    }
    Ok(records as f64 / started.elapsed().as_secs_f64())
}
