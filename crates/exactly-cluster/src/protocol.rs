//! The messages between a worker and the store: one [`Request`] per store transaction and
//! its [`Response`]. A driver carries them (as SQL against PostgreSQL, or through the
//! simulator's lossy network) and matches responses to requests by
//! [`RequestId`](crate::RequestId).

use crate::assign::Assignment;
use crate::error::{CoordinatorError, LeaseError, MemberError, PublishError};
use crate::ids::{Epoch, TaskId, WorkerId};
use std::collections::BTreeSet;

/// One operation on the store, run as one transaction at the store's time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// Extend the worker's membership lease and read what is assigned to it.
    Heartbeat {
        /// The worker.
        worker: WorkerId,
        /// Length of the membership lease.
        member_ttl_ms: u64,
    },
    /// Renew the coordinator lease, or take it over if it is free or expired; read the
    /// membership and the assignment.
    Coordinate {
        /// The bidder.
        worker: WorkerId,
        /// Length of the coordinator lease.
        ttl_ms: u64,
    },
    /// Replace the assignment (fenced by the coordinator epoch and the version it was
    /// computed from).
    Publish {
        /// The coordinator.
        worker: WorkerId,
        /// Its coordinator epoch.
        epoch: Epoch,
        /// The assignment version it computed from.
        based_on_version: u64,
        /// The new assignment: every task of the job exactly once.
        assignment: Assignment,
    },
    /// Take a task lease: the task must be assigned to the caller and free.
    Acquire {
        /// The caller.
        worker: WorkerId,
        /// The task.
        task: TaskId,
        /// Length of the lease.
        ttl_ms: u64,
    },
    /// Extend a held task lease.
    Renew {
        /// The owner.
        worker: WorkerId,
        /// The task.
        task: TaskId,
        /// The epoch it holds.
        epoch: Epoch,
        /// Length of the lease from now.
        ttl_ms: u64,
    },
    /// Give a task lease up (after the final checkpoint), so the next owner need not wait
    /// for it to expire.
    Release {
        /// The owner.
        worker: WorkerId,
        /// The task.
        task: TaskId,
        /// The epoch it holds.
        epoch: Epoch,
    },
    /// The checkpoint commit's fence: is this the current, unexpired lease?
    CommitCheck {
        /// The owner.
        worker: WorkerId,
        /// The task.
        task: TaskId,
        /// The epoch it holds.
        epoch: Epoch,
    },
}

/// What a heartbeat reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeartbeatReply {
    /// The version of the assignment read.
    pub assignment_version: u64,
    /// The tasks it assigns to the caller, ascending.
    pub assigned: Vec<TaskId>,
    /// Whether some worker holds an unexpired coordinator lease (if not, the caller
    /// should bid for it).
    pub coordinator_live: bool,
}

/// The coordinator lease granted, and what the coordinator needs to assign.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CoordinatorGrant {
    /// The coordinator epoch: unchanged on a renewal, one higher on a takeover.
    pub epoch: Epoch,
    /// The workers whose membership lease has not expired.
    pub members: BTreeSet<WorkerId>,
    /// The current assignment.
    pub assignment: Assignment,
    /// Its version.
    pub assignment_version: u64,
}

/// The store's answer to a [`Request`] of the same name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    /// To [`Request::Heartbeat`].
    Heartbeat(Result<HeartbeatReply, MemberError>),
    /// To [`Request::Coordinate`].
    Coordinate(Result<CoordinatorGrant, CoordinatorError>),
    /// To [`Request::Publish`]: the new assignment version.
    Publish(Result<u64, PublishError>),
    /// To [`Request::Acquire`]: the lease's epoch.
    Acquire(Result<Epoch, LeaseError>),
    /// To [`Request::Renew`].
    Renew(Result<(), LeaseError>),
    /// To [`Request::Release`].
    Release(Result<(), LeaseError>),
    /// To [`Request::CommitCheck`]: accepted or why not.
    CommitCheck(Result<(), LeaseError>),
}
