//! `OffsetCommit` and `OffsetFetch`: a group's positions in the log's
//! `__consumer_offsets` (durable when the commit is answered; read back `read_committed`,
//! so positions committed inside a transaction appear exactly when it commits).

use super::positions::{self, AskedTopic};
use crate::broker::{blocking, Broker};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `OffsetCommit`: checks the principal's rights and the member's generation,
/// then writes every allowed position of the request together.
pub async fn commit(
    broker: &Arc<Broker>,
    access: &Access,
    request: OffsetCommitRequest,
) -> Result<OffsetCommitResponse, JoinError> {
    let group_id = request.group_id.0.to_string();
    let member_id = request.member_id.to_string();
    let generation = request.generation_id_or_member_epoch;
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
    let mut code = match access.allows(Operation::Read, Resource::Group, &group_id) {
        false => codes::GROUP_AUTHORIZATION_FAILED,
        true => match broker.groups.with_group(&group_id, |group, now_ms| {
            group.check_commit(&member_id, generation, now_ms)
        }) {
            Ok(()) => codes::NONE,
            Err(code) => code,
        },
    };
    if code == codes::NONE && checked.invalid {
        code = codes::INVALID_REQUEST;
    }
    if code == codes::NONE && !checked.positions.is_empty() {
        let (log, positions) = (broker.log, checked.positions.clone());
        code = blocking(move || match log.commit_offsets(&group_id, &positions) {
            Ok(()) => codes::NONE,
            Err(e) => {
                tracing::warn!(error = %e, "committing offsets failed");
                codes::txn_error(&e)
            }
        })
        .await?;
    }
    let mut response = OffsetCommitResponse::default();
    response.topics = positions::answer(
        asked,
        &checked,
        code,
        |index, code| {
            let mut partition = OffsetCommitResponsePartition::default();
            partition.partition_index = index;
            partition.error_code = code;
            partition
        },
        |name, partitions| {
            let mut out = OffsetCommitResponseTopic::default();
            out.name = name;
            out.partitions = partitions;
            out
        },
    );
    Ok(response)
}

/// Handles `OffsetFetch` (v1–v7: one group): -1 for partitions without a position. The
/// principal must be allowed to describe the group and each topic; asking for every
/// topic lists only those it may describe.
pub async fn fetch(
    broker: &Arc<Broker>,
    access: &Access,
    request: OffsetFetchRequest,
) -> Result<OffsetFetchResponse, JoinError> {
    let mut response = OffsetFetchResponse::default();
    let group_id = request.group_id.0.to_string();
    if !access.allows(Operation::Describe, Resource::Group, &group_id) {
        // v2+ read the top-level code; v1 clients read the partitions'.
        let code = codes::GROUP_AUTHORIZATION_FAILED;
        response.error_code = code;
        let asked = request.topics.into_iter().flatten();
        response.topics = asked
            .map(|t| answer_topic(t.name, t.partition_indexes, |_| Err(code)))
            .collect();
        return Ok(response);
    }
    let log = broker.log;
    let committed = blocking(move || log.committed_offsets(&group_id)).await?;
    let committed = match committed {
        Ok(committed) => committed,
        Err(e) => {
            tracing::warn!(error = %e, "reading committed offsets failed");
            response.error_code = codes::txn_error(&e);
            return Ok(response);
        }
    };
    let wanted: Vec<(TopicName, Vec<i32>)> = match request.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect(),
        None => {
            let mut all: Vec<(TopicName, Vec<i32>)> = Vec::new();
            let listed = committed
                .keys()
                .filter(|(topic, _)| access.permits(Operation::Describe, Resource::Topic, topic));
            for (topic, partition) in listed {
                // The log refuses topics of more than PARTITIONS_MAX (10 000) partitions.
                #[allow(clippy::expect_used)]
                let index = i32::try_from(*partition).expect("partition index fits i32");
                match all.last_mut() {
                    Some((name, partitions)) if name.0.as_str() == topic.as_str() => {
                        partitions.push(index)
                    }
                    _ => all.push((TopicName(StrBytes::from_string(topic.clone())), vec![index])),
                }
            }
            all
        }
    };
    response.topics = wanted
        .into_iter()
        .map(|(name, partitions)| {
            let topic = name.0.to_string();
            let may_describe = access.allows(Operation::Describe, Resource::Topic, &topic);
            answer_topic(name, partitions, |index| match may_describe {
                false => Err(codes::TOPIC_AUTHORIZATION_FAILED),
                true => {
                    let position = u32::try_from(index)
                        .ok()
                        .and_then(|p| committed.get(&(topic.clone(), p)));
                    match position {
                        // Positions come from commits of non-negative i64 offsets; one
                        // that does not fit back was not written by a Kafka client.
                        Some(offset) => {
                            i64::try_from(offset.0).map_err(|_| codes::UNKNOWN_SERVER_ERROR)
                        }
                        None => Ok(-1),
                    }
                }
            })
        })
        .collect();
    Ok(response)
}

/// One topic's answer: each partition's committed offset, or its error code.
fn answer_topic(
    name: TopicName,
    partitions: Vec<i32>,
    position: impl Fn(i32) -> Result<i64, i16>,
) -> OffsetFetchResponseTopic {
    let mut topic = OffsetFetchResponseTopic::default();
    topic.partitions = partitions
        .into_iter()
        .map(|index| {
            let mut out = OffsetFetchResponsePartition::default();
            out.partition_index = index;
            out.committed_leader_epoch = -1;
            out.metadata = Some(StrBytes::from_static_str(""));
            match position(index) {
                Ok(offset) => out.committed_offset = offset,
                Err(code) => {
                    out.committed_offset = -1;
                    out.error_code = code;
                }
            }
            out
        })
        .collect();
    topic.name = name;
    topic
}
