//! `TxnOffsetCommit`: a group's positions written inside the transaction (the log's
//! `__consumer_offsets`), visible to `OffsetFetch` exactly when the transaction commits.

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::group::positions::{self, AskedTopic};
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `TxnOffsetCommit`: the principal must be allowed to write the transactional
/// id, read the group and read each topic; all allowed positions are written together,
/// so every allowed partition gets the same code.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: TxnOffsetCommitRequest,
) -> Result<TxnOffsetCommitResponse, JoinError> {
    let asked: Vec<AskedTopic> = request
        .topics
        .into_iter()
        .map(|t| AskedTopic {
            name: t.name,
            partitions: t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
                .collect(),
        })
        .collect();
    let checked = positions::check(&asked, access);
    let (id, group) = (request.transactional_id.0, request.group_id.0);
    let refused = match (
        access.allows(Operation::Write, Resource::TransactionalId, &id),
        access.allows(Operation::Read, Resource::Group, &group),
        checked.invalid,
    ) {
        (false, _, _) => Some(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        (true, false, _) => Some(codes::GROUP_AUTHORIZATION_FAILED),
        (true, true, true) => Some(codes::INVALID_REQUEST),
        (true, true, false) => None,
    };
    let code = match refused {
        Some(code) => code,
        None if checked.positions.is_empty() => codes::NONE,
        None => {
            let (shared, positions) = (broker.clone(), checked.positions.clone());
            let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
            blocking(move || {
                let outcome = shared
                    .txns
                    .with_instance(&id, producer_id, epoch, |instance| {
                        instance.commit_offsets(&group, &positions)
                    });
                match outcome {
                    Ok(()) => codes::NONE,
                    Err(refusal) => refusal.code,
                }
            })
            .await?
        }
    };
    let mut response = TxnOffsetCommitResponse::default();
    response.topics = positions::answer(
        asked,
        &checked,
        code,
        |index, code| {
            let mut partition = TxnOffsetCommitResponsePartition::default();
            partition.partition_index = index;
            partition.error_code = code;
            partition
        },
        |name, partitions| {
            let mut out = TxnOffsetCommitResponseTopic::default();
            out.name = name;
            out.partitions = partitions;
            out
        },
    );
    Ok(response)
}
