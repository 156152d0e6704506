//! `SyncGroup`: the leader hands in the assignment; every member waits for its part.

use crate::broker::Broker;
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

/// Handles `SyncGroup`.
pub async fn handle(
    broker: &Broker,
    access: &Access,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let groups = &broker.groups;
    let group_id = request.group_id.0.to_string();
    if !access.allows(Operation::Read, Resource::Group, &group_id) {
        let mut response = SyncGroupResponse::default();
        response.error_code = codes::GROUP_AUTHORIZATION_FAILED;
        return response;
    }
    let member_id = request.member_id.to_string();
    let mut assignments: Vec<_> = request
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment))
        .collect();
    let mut response = SyncGroupResponse::default();
    response.protocol_type = request.protocol_type;
    response.protocol_name = request.protocol_name;
    let mut changes = groups.watch_changes();
    loop {
        let handed_in = std::mem::take(&mut assignments);
        let outcome = groups.with_group(&group_id, |group, now_ms| {
            group.sync(&member_id, request.generation_id, handed_in, now_ms)
        });
        match outcome {
            Ok(Some(assignment)) => {
                response.assignment = assignment;
                return response;
            }
            Ok(None) => groups.wait_for_change(&mut changes).await,
            Err(code) => {
                response.error_code = code;
                return response;
            }
        }
    }
}
