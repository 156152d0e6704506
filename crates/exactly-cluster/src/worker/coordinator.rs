//! The worker's membership and coordinator role: heartbeats, bids for the coordinator
//! lease, and — while coordinator — publishing a new assignment when the membership
//! changed.

use super::{PendingKind, Role, WorkerCore};
use crate::assign::{assign, Assignment};
use crate::error::{CoordinatorError, MemberError, PublishError};
use crate::protocol::{CoordinatorGrant, HeartbeatReply, Request};
use std::collections::BTreeSet;

impl WorkerCore {
    /// Heartbeats every `heartbeat_interval_ms`.
    pub(super) fn send_heartbeat_if_due(&mut self) {
        if self.now_local_ms < self.heartbeat_due_local_ms
            || self.is_pending(|kind| *kind == PendingKind::Heartbeat)
        {
            return;
        }
        let request = Request::Heartbeat {
            worker: self.worker,
            member_ttl_ms: self.config.member_ttl_ms,
        };
        self.send(request, PendingKind::Heartbeat);
        self.heartbeat_due_local_ms = self.now_local_ms + self.config.heartbeat_interval_ms;
    }

    /// The coordinator renews its lease every `heartbeat_interval_ms`; the others bid
    /// only when their last heartbeat saw no live coordinator.
    pub(super) fn send_coordinate_if_due(&mut self) {
        if (self.role.is_none() && !self.coordinator_free)
            || self.now_local_ms < self.coordinate_due_local_ms
            || self.is_pending(|kind| *kind == PendingKind::Coordinate)
        {
            return;
        }
        let request = Request::Coordinate {
            worker: self.worker,
            ttl_ms: self.config.member_ttl_ms,
        };
        self.send(request, PendingKind::Coordinate);
        self.coordinate_due_local_ms = self.now_local_ms + self.config.heartbeat_interval_ms;
    }

    /// Forgets the role once its lease may have expired (nothing unsafe would follow from
    /// keeping it — publishing is fenced at the store — but it would only be refused).
    pub(super) fn drop_role_if_expired(&mut self) {
        if let Some(role) = self.role {
            if self.now_local_ms >= role.usable_until_local_ms {
                self.role = None;
            }
        }
    }

    pub(super) fn on_heartbeat(&mut self, result: Result<HeartbeatReply, MemberError>) {
        // A refused heartbeat (bad TTL) cannot happen with a validated config; the next
        // one is sent on time anyway.
        let Ok(reply) = result else { return };
        self.coordinator_free = !reply.coordinator_live;
        let newer = match self.assignment_version {
            Some(version) => reply.assignment_version >= version,
            None => true,
        };
        if newer {
            self.apply_assignment(
                reply.assignment_version,
                reply.assigned.into_iter().collect(),
            );
        }
    }

    fn apply_assignment(&mut self, version: u64, assigned: BTreeSet<crate::TaskId>) {
        self.assignment_version = Some(version);
        self.assigned = assigned;
        self.reconcile();
    }

    pub(super) fn on_coordinate(
        &mut self,
        sent_local_ms: u64,
        result: Result<CoordinatorGrant, CoordinatorError>,
    ) {
        match result {
            Ok(grant) => {
                let usable_until_local_ms = sent_local_ms + self.config.member_usable_ms();
                if self.now_local_ms >= usable_until_local_ms {
                    return;
                }
                self.role = Some(Role {
                    epoch: grant.epoch,
                    usable_until_local_ms,
                });
                self.coordinator_free = false;
                self.rebalance(&grant);
            }
            Err(CoordinatorError::Held { .. }) => {
                self.role = None;
                self.coordinator_free = false;
            }
            // A bad TTL cannot happen with a validated config.
            Err(_) => {}
        }
    }

    /// Publishes the sticky balanced assignment for the granted membership, if it differs
    /// from the current one (an unchanged membership gives the unchanged assignment).
    fn rebalance(&mut self, grant: &CoordinatorGrant) {
        if self.is_pending(|kind| matches!(kind, PendingKind::Publish(_))) {
            return;
        }
        // No live member (not even us, our heartbeats being lost): nothing to assign to.
        let Ok(next) = assign(&self.tasks, &grant.members, &grant.assignment) else {
            return;
        };
        if next == grant.assignment {
            return;
        }
        let request = Request::Publish {
            worker: self.worker,
            epoch: grant.epoch,
            based_on_version: grant.assignment_version,
            assignment: next.clone(),
        };
        self.send(request, PendingKind::Publish(next));
    }

    /// Our own publish was answered: apply our part at once rather than wait for a
    /// heartbeat.
    pub(super) fn on_publish(&mut self, assignment: Assignment, result: Result<u64, PublishError>) {
        let Ok(version) = result else { return };
        if self
            .assignment_version
            .is_some_and(|current| current >= version)
        {
            return;
        }
        let worker = self.worker;
        let ours = assignment
            .iter()
            .filter(|(_, assignee)| **assignee == worker)
            .map(|(task, _)| *task)
            .collect();
        self.apply_assignment(version, ours);
    }
}
