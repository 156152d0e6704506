//! `AddOffsetsToTxn`: starts the transaction if needed; the offsets themselves come with
//! `TxnOffsetCommit`.

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `AddOffsetsToTxn`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: AddOffsetsToTxnRequest,
) -> Result<AddOffsetsToTxnResponse, JoinError> {
    let mut response = AddOffsetsToTxnResponse::default();
    let id = &request.transactional_id.0;
    if !access.allows(Operation::Write, Resource::TransactionalId, id) {
        response.error_code = codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        return Ok(response);
    }
    if !access.allows(Operation::Read, Resource::Group, &request.group_id.0) {
        response.error_code = codes::GROUP_AUTHORIZATION_FAILED;
        return Ok(response);
    }
    let shared = broker.clone();
    let outcome = blocking(move || {
        shared.txns.with_instance(
            request.transactional_id.0.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            |instance| instance.add_offsets(),
        )
    })
    .await?;
    if let Err(refusal) = outcome {
        response.error_code = refusal.code;
    }
    Ok(response)
}
