//! `FindCoordinator`: this node coordinates every group and every transactional id.

use crate::broker::{Broker, NODE_ID};
use crate::codes;
use crate::security::{Access, Operation, Resource};
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

/// `key_type` of a transactional id (0 is a group).
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Handles `FindCoordinator` (v0–v3: one key per request): the principal must be allowed
/// to describe the group or transactional id.
pub fn handle(
    broker: &Broker,
    access: &Access,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let mut response = FindCoordinatorResponse::default();
    let (resource, denied) = match request.key_type {
        KEY_TYPE_TRANSACTION => (
            Resource::TransactionalId,
            codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
        _ => (Resource::Group, codes::GROUP_AUTHORIZATION_FAILED),
    };
    if !access.allows(Operation::Describe, resource, &request.key) {
        response.error_code = denied;
        response.node_id = BrokerId(-1);
        response.host = StrBytes::from_static_str("");
        response.port = -1;
        return response;
    }
    response.node_id = BrokerId(NODE_ID);
    response.host = StrBytes::from_string(broker.host.clone());
    response.port = broker.port;
    response
}
