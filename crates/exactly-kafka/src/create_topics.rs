//! `CreateTopics`: a log topic per requested topic (replication and configs are ignored:
//! one node, the log's own settings).

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `CreateTopics`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: CreateTopicsRequest,
) -> Result<CreateTopicsResponse, JoinError> {
    let shared = broker.clone();
    let access = access.clone();
    let results = blocking(move || {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let mut result = CreatableTopicResult::default();
                let name = topic.name.0.to_string();
                let partitions = match (topic.num_partitions, shared.options.auto_create_partitions)
                {
                    (-1, Some(default)) => Some(default),
                    // -1 asks for the broker's default; with implicit creation off it is
                    // 1, as Kafka's `num.partitions` default.
                    (-1, None) => Some(1),
                    (n, _) => u32::try_from(n).ok(),
                };
                let may_create = access.allows(Operation::Create, Resource::Topic, &name);
                let outcome = match partitions {
                    _ if !may_create => Err((
                        codes::TOPIC_AUTHORIZATION_FAILED,
                        format!("{} may not create {name}", access.principal()),
                    )),
                    Some(p) if p >= 1 && p <= shared.options.partitions_per_topic_max => {
                        match request.validate_only {
                            true => exactly_log::validate_topic_name(&name)
                                .map_err(|e| (codes::topic_error(&e), e.to_string())),
                            false => shared
                                .log
                                .create_topic(&name, p)
                                .map_err(|e| (codes::topic_error(&e), e.to_string())),
                        }
                        .map(|()| p)
                    }
                    _ => Err((
                        codes::INVALID_PARTITIONS,
                        format!(
                            "partitions must be 1..={}",
                            shared.options.partitions_per_topic_max
                        ),
                    )),
                };
                match outcome {
                    Ok(p) => {
                        result.num_partitions = p as i32;
                        result.replication_factor = 1;
                    }
                    Err((code, message)) => {
                        result.error_code = code;
                        result.error_message = Some(StrBytes::from_string(message));
                    }
                }
                result.name = topic.name;
                result
            })
            .collect()
    })
    .await?;
    let mut response = CreateTopicsResponse::default();
    response.topics = results;
    Ok(response)
}
