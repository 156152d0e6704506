//! `LeaveGroup`: members leave; the rest rebalance.

use crate::broker::Broker;
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

/// Handles `LeaveGroup` (v0–v2: one member; v3+: a list).
pub fn handle(broker: &Broker, access: &Access, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let mut response = LeaveGroupResponse::default();
    let group_id = request.group_id.0.to_string();
    if !access.allows(Operation::Read, Resource::Group, &group_id) {
        response.error_code = codes::GROUP_AUTHORIZATION_FAILED;
        return response;
    }
    let leave = |member_id: &str| {
        broker
            .groups
            .with_group(&group_id, |group, now_ms| group.remove(member_id, now_ms))
    };
    if request.members.is_empty() {
        if !leave(&request.member_id) {
            response.error_code = codes::UNKNOWN_MEMBER_ID;
        }
        return response;
    }
    response.members = request
        .members
        .iter()
        .map(|m| {
            let mut out = MemberResponse::default();
            out.member_id = m.member_id.clone();
            out.group_instance_id = m.group_instance_id.clone();
            if !leave(&m.member_id) {
                out.error_code = codes::UNKNOWN_MEMBER_ID;
            }
            out
        })
        .collect();
    response
}
