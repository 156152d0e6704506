//! Why the store refuses a request. Each operation has its own error type, with the facts
//! a caller needs to decide what to do next; none of them is a fault of the store.

use crate::config::LEASE_TTL_MS_MAX;
use crate::ids::{Epoch, TaskId, WorkerId};
use thiserror::Error;

/// A heartbeat the store refuses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum MemberError {
    /// The requested lease is 0 or longer than [`LEASE_TTL_MS_MAX`].
    #[error("membership lease of {ttl_ms} ms is not in 1..={LEASE_TTL_MS_MAX}")]
    TtlOutOfRange {
        /// The requested length.
        ttl_ms: u64,
    },
}

/// A bid for (or renewal of) the coordinator lease the store refuses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// Another worker holds the coordinator lease and it has not expired.
    #[error("{holder} is coordinator at {epoch}")]
    Held {
        /// The holder.
        holder: WorkerId,
        /// Its epoch.
        epoch: Epoch,
    },
    /// The requested lease is 0 or longer than [`LEASE_TTL_MS_MAX`].
    #[error("coordinator lease of {ttl_ms} ms is not in 1..={LEASE_TTL_MS_MAX}")]
    TtlOutOfRange {
        /// The requested length.
        ttl_ms: u64,
    },
}

/// An assignment the store refuses to publish.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The caller does not hold the current, unexpired coordinator lease at that epoch.
    #[error("not coordinator at {presented}: the lease is {holder:?} at {current}")]
    NotCoordinator {
        /// The epoch the caller presented.
        presented: Epoch,
        /// The current coordinator (whether or not its lease has expired).
        holder: Option<WorkerId>,
        /// The current coordinator epoch.
        current: Epoch,
    },
    /// Another assignment was published since the one this was computed from.
    #[error("assignment was computed from version {based_on} but the current one is {current}")]
    VersionMoved {
        /// The version the caller computed from.
        based_on: u64,
        /// The current version.
        current: u64,
    },
    /// The assignment names a task the job does not have.
    #[error("assignment names unknown task {task}")]
    UnknownTask {
        /// The unknown task.
        task: TaskId,
    },
    /// The assignment leaves a task of the job out.
    #[error("assignment leaves out task {task}")]
    MissingTask {
        /// The missing task.
        task: TaskId,
    },
}

/// A task-lease request (acquire, renew, release, commit check) the store refuses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The job has no such task.
    #[error("unknown task {task}")]
    UnknownTask {
        /// The task asked for.
        task: TaskId,
    },
    /// The requested lease is 0 or longer than [`LEASE_TTL_MS_MAX`].
    #[error("task lease of {ttl_ms} ms is not in 1..={LEASE_TTL_MS_MAX}")]
    TtlOutOfRange {
        /// The requested length.
        ttl_ms: u64,
    },
    /// Acquire: the task is assigned to another worker (or to none).
    #[error("{task} is assigned to {assigned_to:?}")]
    NotAssigned {
        /// The task.
        task: TaskId,
        /// Its assignee.
        assigned_to: Option<WorkerId>,
    },
    /// Acquire: another worker holds an unexpired, unreleased lease.
    #[error("{task} is held by {owner} at {epoch} until {expires_at_ms} ms")]
    Held {
        /// The task.
        task: TaskId,
        /// The holder.
        owner: WorkerId,
        /// Its epoch.
        epoch: Epoch,
        /// When the lease expires, by store time.
        expires_at_ms: u64,
    },
    /// Renew, release or commit: the epoch presented is not the current one, or the
    /// caller is not its owner.
    #[error("{task}: {presented} of {worker} is fenced; current is {current} of {owner:?}")]
    Fenced {
        /// The task.
        task: TaskId,
        /// The caller.
        worker: WorkerId,
        /// The epoch presented.
        presented: Epoch,
        /// The current epoch.
        current: Epoch,
        /// Its owner.
        owner: Option<WorkerId>,
    },
    /// Renew or commit: the lease was released by its owner.
    #[error("{task} at {epoch} was released")]
    Released {
        /// The task.
        task: TaskId,
        /// The released epoch.
        epoch: Epoch,
    },
    /// Renew or commit: the lease expired, by store time.
    #[error("{task} at {epoch} expired at {expires_at_ms} ms")]
    Expired {
        /// The task.
        task: TaskId,
        /// The expired epoch.
        epoch: Epoch,
        /// When it expired.
        expires_at_ms: u64,
    },
}
