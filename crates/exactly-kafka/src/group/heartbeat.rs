//! `Heartbeat`: keeps a member's session; `REBALANCE_IN_PROGRESS` tells it to rejoin.

use crate::broker::Broker;
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

/// Handles `Heartbeat`.
pub fn handle(broker: &Broker, access: &Access, request: HeartbeatRequest) -> HeartbeatResponse {
    if !access.allows(Operation::Read, Resource::Group, &request.group_id.0) {
        let mut response = HeartbeatResponse::default();
        response.error_code = codes::GROUP_AUTHORIZATION_FAILED;
        return response;
    }
    let member_id = request.member_id.to_string();
    let outcome = broker
        .groups
        .with_group(&request.group_id.0, |group, now_ms| {
            group.heartbeat(&member_id, request.generation_id, now_ms)
        });
    let mut response = HeartbeatResponse::default();
    if let Err(code) = outcome {
        response.error_code = code;
    }
    response
}
