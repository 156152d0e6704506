//! `JoinGroup`: joins the member and waits until the round completes.

use super::state::Join;
use crate::broker::Broker;
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

/// Handles `JoinGroup`. From v4 on, a member without an id first gets one with
/// `MEMBER_ID_REQUIRED` and joins again with it (KIP-394).
pub async fn handle(
    broker: &Broker,
    access: &Access,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
) -> JoinGroupResponse {
    let groups = &broker.groups;
    let group_id = request.group_id.0.to_string();
    let mut response = JoinGroupResponse::default();
    if !access.allows(Operation::Read, Resource::Group, &group_id) {
        response.error_code = codes::GROUP_AUTHORIZATION_FAILED;
        return response;
    }
    let mut member_id = request.member_id.to_string();
    if member_id.is_empty() {
        member_id = groups.new_member_id(client_id);
        if version >= 4 {
            response.member_id = StrBytes::from_string(member_id);
            response.error_code = codes::MEMBER_ID_REQUIRED;
            return response;
        }
    }
    response.member_id = StrBytes::from_string(member_id.clone());
    if request.session_timeout_ms < 1 {
        response.error_code = codes::INVALID_SESSION_TIMEOUT;
        return response;
    }
    let join = Join {
        member_id: member_id.clone(),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        session_timeout_ms: i64::from(request.session_timeout_ms),
        // Before v1 there is no separate rebalance timeout: the session timeout serves.
        rebalance_timeout_ms: i64::from(match request.rebalance_timeout_ms {
            t if t > 0 => t,
            _ => request.session_timeout_ms,
        }),
    };
    let mut changes = groups.watch_changes();
    if let Err(code) = groups.with_group(&group_id, |group, now_ms| group.join(join, now_ms)) {
        response.error_code = code;
        return response;
    }
    loop {
        match groups.with_group(&group_id, |group, now_ms| {
            group.take_join_result(&member_id, now_ms)
        }) {
            Ok(Some(result)) => {
                response.generation_id = result.generation;
                response.protocol_type =
                    Some(StrBytes::from_string(request.protocol_type.to_string()));
                response.protocol_name = Some(StrBytes::from_string(result.protocol));
                response.leader = StrBytes::from_string(result.leader);
                response.members = result
                    .members
                    .into_iter()
                    .map(|(id, metadata)| {
                        let mut member = JoinGroupResponseMember::default();
                        member.member_id = StrBytes::from_string(id);
                        member.metadata = metadata;
                        member
                    })
                    .collect();
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
