//! `Metadata`: the one node, and every topic's partitions (all led by it). A topic a client
//! names that does not exist is created when the client allows it and the server is
//! configured to ([`crate::ServerOptions::auto_create_partitions`]).

use crate::broker::{blocking, Broker, NODE_ID};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use tokio::task::JoinError;

/// Handles `Metadata`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: MetadataRequest,
    version: i16,
) -> Result<MetadataResponse, JoinError> {
    // Before v4 the request has no flag: auto-creation was the broker's choice alone.
    let auto_create = version < 4 || request.allow_auto_topic_creation;
    let names: Option<Vec<String>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .filter_map(|t| t.name.map(|n| n.0.to_string()))
            .collect()
    });
    let (shared, access) = (broker.clone(), access.clone());
    let topics = blocking(move || describe(&shared, &access, names, auto_create)).await?;
    let mut response = MetadataResponse::default();
    let mut node = MetadataResponseBroker::default();
    node.node_id = BrokerId(NODE_ID);
    node.host = StrBytes::from_string(broker.host.clone());
    node.port = broker.port;
    response.brokers = vec![node];
    response.cluster_id = Some(StrBytes::from_static_str("exactly"));
    response.controller_id = BrokerId(NODE_ID);
    response.topics = topics;
    Ok(response)
}

fn describe(
    broker: &Broker,
    access: &Access,
    names: Option<Vec<String>>,
    auto_create: bool,
) -> Vec<MetadataResponseTopic> {
    let log = broker.log;
    let names = match names {
        Some(names) => names,
        // Listing everything shows only what the principal may describe.
        None => log
            .topics()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| !name.starts_with("__"))
            .filter(|name| access.permits(Operation::Describe, Resource::Topic, name))
            .collect(),
    };
    names
        .into_iter()
        .map(|name| {
            let mut topic = MetadataResponseTopic::default();
            topic.name = Some(TopicName(StrBytes::from_string(name.clone())));
            let may_describe = access.allows(Operation::Describe, Resource::Topic, &name);
            let count = match (
                may_describe,
                log.partition_count(&name),
                broker.options.auto_create_partitions,
            ) {
                (false, _, _) => Err(codes::TOPIC_AUTHORIZATION_FAILED),
                (true, Some(count), _) => Ok(count),
                (true, None, Some(partitions))
                    if auto_create
                        && !name.starts_with("__")
                        && access.allows(Operation::Create, Resource::Topic, &name) =>
                {
                    match log.create_topic(&name, partitions) {
                        Ok(()) => Ok(partitions),
                        // Created meanwhile by another request.
                        Err(exactly_log::TopicError::AlreadyExists { .. }) => log
                            .partition_count(&name)
                            .ok_or(codes::UNKNOWN_TOPIC_OR_PARTITION),
                        Err(e) => Err(codes::topic_error(&e)),
                    }
                }
                (true, None, _) => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
            };
            match count {
                Ok(count) => topic.partitions = (0..count).map(partition).collect(),
                Err(code) => topic.error_code = code,
            }
            topic
        })
        .collect()
}

fn partition(index: u32) -> MetadataResponsePartition {
    let mut partition = MetadataResponsePartition::default();
    partition.partition_index = index as i32;
    partition.leader_id = BrokerId(NODE_ID);
    partition.leader_epoch = 0;
    partition.replica_nodes = vec![BrokerId(NODE_ID)];
    partition.isr_nodes = vec![BrokerId(NODE_ID)];
    partition
}
