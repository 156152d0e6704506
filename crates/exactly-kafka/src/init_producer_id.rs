//! `InitProducerId`: a fresh producer id for an idempotent producer (epoch 0), or, with a
//! transactional id, that id's producer with a new epoch (fencing older instances).

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::sync::{Arc, PoisonError};
use tokio::task::JoinError;

/// Handles `InitProducerId`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: InitProducerIdRequest,
) -> Result<InitProducerIdResponse, JoinError> {
    let shared = broker.clone();
    let allowed = match &request.transactional_id {
        Some(id) => access
            .allows(Operation::Write, Resource::TransactionalId, id)
            .then_some(())
            .ok_or(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        // An idempotent producer id is worth something only to a principal that may
        // write somewhere (Kafka asks the same).
        None => access
            .allows_some(Operation::Write, Resource::Topic)
            .then_some(())
            .ok_or(codes::CLUSTER_AUTHORIZATION_FAILED),
    };
    let outcome = blocking(move || match (allowed, request.transactional_id) {
        (Err(code), _) => Err(code),
        (Ok(()), Some(id)) => shared
            .txns
            .init(
                shared.log,
                id.0.as_str(),
                i64::from(request.transaction_timeout_ms),
            )
            .map_err(|r| r.code),
        (Ok(()), None) => {
            let mut ids = shared
                .producer_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match ids.allocate() {
                Ok(id) => i64::try_from(id)
                    .map(|id| (id, 0))
                    .map_err(|_| codes::UNKNOWN_SERVER_ERROR),
                Err(e) => {
                    tracing::warn!(error = %e, "allocating a producer id failed");
                    Err(codes::KAFKA_STORAGE_ERROR)
                }
            }
        }
    })
    .await?;
    let mut response = InitProducerIdResponse::default();
    match outcome {
        Ok((producer_id, epoch)) => {
            response.producer_id = ProducerId(producer_id);
            response.producer_epoch = epoch;
        }
        Err(code) => {
            response.error_code = code;
            response.producer_id = ProducerId(-1);
            response.producer_epoch = -1;
        }
    }
    broker.data_changed(); // an open transaction may have been aborted
    Ok(response)
}
