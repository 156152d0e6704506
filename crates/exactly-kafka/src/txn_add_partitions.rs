//! `AddPartitionsToTxn` (v0–v3): starts the transaction if needed and admits partitions.

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `AddPartitionsToTxn`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: AddPartitionsToTxnRequest,
) -> Result<AddPartitionsToTxnResponse, JoinError> {
    let id = request.v3_and_below_transactional_id.0.to_string();
    // As Kafka: nothing is added unless everything may be; the denied part is named, the
    // rest is answered OPERATION_NOT_ATTEMPTED.
    let refused: Option<Vec<i16>> =
        match access.allows(Operation::Write, Resource::TransactionalId, &id) {
            false => Some(vec![
                codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
                request.v3_and_below_topics.len()
            ]),
            true => {
                let writable: Vec<bool> = request
                    .v3_and_below_topics
                    .iter()
                    .map(|t| access.allows(Operation::Write, Resource::Topic, &t.name.0))
                    .collect();
                writable.contains(&false).then(|| {
                    let code = |w: &bool| match w {
                        true => codes::OPERATION_NOT_ATTEMPTED,
                        false => codes::TOPIC_AUTHORIZATION_FAILED,
                    };
                    writable.iter().map(code).collect()
                })
            }
        };
    if let Some(topic_codes) = refused {
        let mut response = AddPartitionsToTxnResponse::default();
        response.results_by_topic_v3_and_below = request
            .v3_and_below_topics
            .into_iter()
            .zip(topic_codes)
            .map(|(topic, code)| {
                let mut result = AddPartitionsToTxnTopicResult::default();
                result.results_by_partition = topic
                    .partitions
                    .iter()
                    .map(|&p| {
                        let mut out = AddPartitionsToTxnPartitionResult::default();
                        out.partition_index = p;
                        out.partition_error_code = code;
                        out
                    })
                    .collect();
                result.name = topic.name;
                result
            })
            .collect();
        return Ok(response);
    }
    let shared = broker.clone();
    let results = blocking(move || {
        let (producer_id, epoch) = (
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
        );
        request
            .v3_and_below_topics
            .into_iter()
            .map(|topic| {
                let name = topic.name.0.to_string();
                let mut result = AddPartitionsToTxnTopicResult::default();
                result.results_by_partition = topic
                    .partitions
                    .iter()
                    .map(|&p| {
                        let mut out = AddPartitionsToTxnPartitionResult::default();
                        out.partition_index = p;
                        let added = shared.txns.with_instance(&id, producer_id, epoch, |i| {
                            let p = u32::try_from(p).map_err(|_| crate::txn_state::Refusal {
                                code: codes::UNKNOWN_TOPIC_OR_PARTITION,
                                message: "negative partition".into(),
                            })?;
                            i.add_partition(shared.log, &name, p)
                        });
                        if let Err(refusal) = added {
                            out.partition_error_code = refusal.code;
                        }
                        out
                    })
                    .collect();
                result.name = topic.name;
                result
            })
            .collect()
    })
    .await?;
    let mut response = AddPartitionsToTxnResponse::default();
    response.results_by_topic_v3_and_below = results;
    Ok(response)
}
