//! `ListOffsets`: earliest (-2), latest (-1: the high watermark, or under `read_committed`
//! the last stable offset) and by time (the first offset whose timestamp is at least the
//! one asked for).

use crate::broker::{blocking, Broker};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use exactly_core::{Offset, Timestamp};
use exactly_log::{Isolation, Log};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use std::sync::Arc;
use tokio::task::JoinError;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// Handles `ListOffsets`.
pub async fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: ListOffsetsRequest,
) -> Result<ListOffsetsResponse, JoinError> {
    let log = broker.log;
    let access = access.clone();
    let topics = blocking(move || {
        let committed = request.isolation_level == 1;
        request
            .topics
            .into_iter()
            .map(|topic| {
                let name = topic.name.0.to_string();
                let may_describe = access.allows(Operation::Describe, Resource::Topic, &name);
                let mut response = ListOffsetsTopicResponse::default();
                response.partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut out = ListOffsetsPartitionResponse::default();
                        out.partition_index = p.partition_index;
                        let found = match may_describe {
                            true => lookup(log, &name, p.partition_index, p.timestamp, committed),
                            false => Err(codes::TOPIC_AUTHORIZATION_FAILED),
                        };
                        match found {
                            Ok((timestamp, offset)) => {
                                out.timestamp = timestamp;
                                out.offset = offset;
                            }
                            Err(code) => out.error_code = code,
                        }
                        out
                    })
                    .collect();
                response.name = topic.name;
                response
            })
            .collect()
    })
    .await?;
    let mut response = ListOffsetsResponse::default();
    response.topics = topics;
    Ok(response)
}

/// (timestamp, offset) for one partition.
fn lookup(
    log: &Log,
    topic: &str,
    partition: i32,
    timestamp: i64,
    committed: bool,
) -> Result<(i64, i64), i16> {
    let partition = u32::try_from(partition).map_err(|_| codes::UNKNOWN_TOPIC_OR_PARTITION)?;
    let info = log
        .partition_info(topic, partition)
        .map_err(|e| codes::read_error(&e))?;
    let as_i64 = |o: Offset| i64::try_from(o.0).map_err(|_| codes::UNKNOWN_SERVER_ERROR);
    match timestamp {
        EARLIEST => Ok((-1, as_i64(info.start_offset)?)),
        LATEST if committed => Ok((-1, as_i64(info.last_stable_offset)?)),
        LATEST => Ok((-1, as_i64(info.end_offset)?)),
        t if t >= 0 => {
            let Some(offset) = log
                .offset_for_time(topic, partition, Timestamp(t))
                .map_err(|e| codes::read_error(&e))?
            else {
                return Ok((-1, -1));
            };
            let found = log
                .read_with(topic, partition, offset, 1, Isolation::ReadUncommitted)
                .map_err(|e| codes::read_error(&e))?;
            match found.records.first() {
                Some(record) => Ok((record.timestamp.0, as_i64(record.offset)?)),
                None => Ok((-1, -1)),
            }
        }
        _ => Err(codes::INVALID_REQUEST),
    }
}
