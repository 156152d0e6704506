//! `EndTxn`: commits or aborts the transaction (markers in every partition, then the
//! decision recorded by the log's coordinator).

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `EndTxn`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: EndTxnRequest,
) -> Result<EndTxnResponse, JoinError> {
    let mut response = EndTxnResponse::default();
    let id = &request.transactional_id.0;
    if !access.allows(Operation::Write, Resource::TransactionalId, id) {
        response.error_code = codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        return Ok(response);
    }
    let shared = broker.clone();
    let outcome = blocking(move || {
        shared.txns.with_instance(
            request.transactional_id.0.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            |instance| instance.end(request.committed),
        )
    })
    .await?;
    broker.data_changed();
    if let Err(refusal) = outcome {
        tracing::debug!(code = refusal.code, message = %refusal.message, "EndTxn refused");
        response.error_code = refusal.code;
    }
    Ok(response)
}
