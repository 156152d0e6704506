//! `Produce`: record batches v2 into the log. Plain batches are appended as they are;
//! idempotent batches carry their producer id, epoch and sequence into the log's producer
//! table (which de-duplicates retries and refuses gaps and fenced epochs); transactional
//! batches go through the transactional id's live producer ([`crate::txn_state`]).
//!
//! acks: the log acknowledges an append once it is durable (its default durability), so
//! `acks=1` and `acks=all` both answer after the fsync; `acks=0` appends and answers
//! nothing.

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::record_batch::{decode_batches, DecodeLimits, ProducedBatch};
use crate::security::{Access, Operation, Resource};
use exactly_core::{ProducerEpoch, ProducerId, Sequence};
use exactly_log::{AppendOutcome, ProducerStamp};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `Produce`; `None` for `acks=0` (no response is sent).
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: ProduceRequest,
) -> Result<Option<ProduceResponse>, JoinError> {
    let acks = request.acks;
    let (shared, access) = (broker.clone(), access.clone());
    let responses = blocking(move || produce(&shared, &access, request)).await?;
    broker.data_changed();
    let mut response = ProduceResponse::default();
    response.responses = responses;
    Ok((acks != 0).then_some(response))
}

/// A partition's result: its base offset, or an error code and message.
type Outcome = Result<i64, (i16, String)>;

/// Why nothing of a topic's data is written, before looking at its batches.
fn refusal(
    access: &Access,
    acks: i16,
    transactional_id: Option<&str>,
    topic: &str,
) -> Option<(i16, String)> {
    if !(-1..=1).contains(&acks) {
        return Some((
            codes::INVALID_REQUIRED_ACKS,
            "acks must be 0, 1 or -1".into(),
        ));
    }
    if let Some(id) = transactional_id {
        if !access.allows(Operation::Write, Resource::TransactionalId, id) {
            let message = format!("{} may not use transactional id {id}", access.principal());
            return Some((codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED, message));
        }
    }
    match access.allows(Operation::Write, Resource::Topic, topic) {
        true => None,
        false => Some((
            codes::TOPIC_AUTHORIZATION_FAILED,
            format!("{} may not write to {topic}", access.principal()),
        )),
    }
}

fn produce(broker: &Broker, access: &Access, request: ProduceRequest) -> Vec<TopicProduceResponse> {
    let acks = request.acks;
    let transactional_id = request.transactional_id.map(|t| t.0.to_string());
    request
        .topic_data
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let refused = refusal(access, acks, transactional_id.as_deref(), &name);
            let mut response = TopicProduceResponse::default();
            response.partition_responses = topic
                .partition_data
                .into_iter()
                .map(|data| {
                    let outcome = match (&refused, data.records.as_deref()) {
                        (Some(refusal), _) => Err(refusal.clone()),
                        (None, None) => {
                            Err((codes::CORRUPT_MESSAGE, "null record set".to_string()))
                        }
                        (None, Some(records)) => produce_partition(
                            broker,
                            transactional_id.as_deref(),
                            &name,
                            data.index,
                            records,
                        ),
                    };
                    let mut partition = PartitionProduceResponse::default();
                    partition.index = data.index;
                    partition.log_append_time_ms = -1;
                    match outcome {
                        Ok(base_offset) => partition.base_offset = base_offset,
                        Err((code, message)) => {
                            partition.error_code = code;
                            partition.base_offset = -1;
                            partition.error_message = Some(StrBytes::from_string(message));
                        }
                    }
                    partition
                })
                .collect();
            response.name = topic.name;
            response
        })
        .collect()
}

fn produce_partition(
    broker: &Broker,
    transactional_id: Option<&str>,
    topic: &str,
    partition: i32,
    bytes: &[u8],
) -> Outcome {
    let partition = u32::try_from(partition).map_err(|_| {
        (
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            "negative partition".to_string(),
        )
    })?;
    let limits = DecodeLimits {
        records_max: broker.options.batch_records_max,
        decompressed_bytes_max: broker.options.decompressed_batch_bytes_max,
    };
    let batches =
        decode_batches(bytes, limits).map_err(|e| (codes::CORRUPT_MESSAGE, e.to_string()))?;
    let mut first_offset = None;
    for batch in batches {
        let base = append_batch(broker, transactional_id, topic, partition, batch)?;
        first_offset.get_or_insert(base);
    }
    first_offset.ok_or((codes::CORRUPT_MESSAGE, "no record batch".to_string()))
}

fn append_batch(
    broker: &Broker,
    transactional_id: Option<&str>,
    topic: &str,
    partition: u32,
    batch: ProducedBatch,
) -> Outcome {
    if batch.control || batch.records.is_empty() {
        return Err((codes::INVALID_REQUEST, "control or empty batch".into()));
    }
    let producer = batch.producer;
    if batch.transactional {
        let Some(id) = transactional_id else {
            return Err((
                codes::INVALID_REQUEST,
                "transactional batch without transactional id".into(),
            ));
        };
        return broker
            .txns
            .with_instance(id, producer.producer_id, producer.epoch, |instance| {
                instance.send(topic, partition, producer.base_sequence, &batch.records)
            })
            .map_err(|r| (r.code, r.message));
    }
    let stamp = match producer.producer_id {
        -1 => None,
        id => Some(ProducerStamp {
            producer_id: ProducerId(
                u64::try_from(id)
                    .map_err(|_| (codes::INVALID_REQUEST, "negative producer id".to_string()))?,
            ),
            epoch: ProducerEpoch(
                u16::try_from(producer.epoch)
                    .map_err(|_| (codes::INVALID_PRODUCER_EPOCH, "negative epoch".to_string()))?,
            ),
            base_sequence: Sequence(u64::try_from(producer.base_sequence).map_err(|_| {
                (
                    codes::OUT_OF_ORDER_SEQUENCE_NUMBER,
                    "negative sequence".to_string(),
                )
            })?),
        }),
    };
    let outcome = broker
        .log
        .append(topic, partition, &batch.records, stamp)
        .map_err(|e| (codes::append_error(&e), e.to_string()))?;
    let base = match outcome {
        AppendOutcome::Appended { base_offset, .. } => base_offset,
        AppendOutcome::Duplicate {
            original: Some((base_offset, _)),
        } => base_offset,
        // Written long ago: the client counts this code as success.
        AppendOutcome::Duplicate { original: None } => {
            return Err((
                codes::DUPLICATE_SEQUENCE_NUMBER,
                "duplicate of an old batch".into(),
            ))
        }
    };
    i64::try_from(base.0).map_err(|_| (codes::UNKNOWN_SERVER_ERROR, "offset beyond i64".into()))
}
