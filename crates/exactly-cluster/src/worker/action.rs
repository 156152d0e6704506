//! What a [`WorkerCore`](crate::WorkerCore) asks its driver to do, and the mistakes a
//! driver can make feeding it.

use crate::config::ConfigError;
use crate::ids::{Epoch, RequestId, TaskId};
use crate::protocol::Request;
use thiserror::Error;

/// One effect for the driver to perform, in the order returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run `request` as one store transaction and report its response with
    /// [`WorkerCore::on_response`](crate::WorkerCore::on_response) under `id` (or never,
    /// if it is lost).
    Send {
        /// Names the request.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// Start running `task`: restore it from its last checkpoint and commit its
    /// checkpoints fenced by `epoch`.
    Start {
        /// The task.
        task: TaskId,
        /// The lease epoch its commits present.
        epoch: Epoch,
    },
    /// Stop running `task` now, without a final checkpoint.
    Stop {
        /// The task.
        task: TaskId,
        /// The epoch it ran at.
        epoch: Epoch,
        /// Why.
        reason: StopReason,
    },
    /// `task` was assigned elsewhere: take a final checkpoint (fenced by `epoch`), then
    /// report with [`WorkerCore::on_final_checkpoint`](crate::WorkerCore::on_final_checkpoint);
    /// the core then stops the task and releases its lease. Keep running it until then.
    FinalCheckpoint {
        /// The task.
        task: TaskId,
        /// Its epoch.
        epoch: Epoch,
    },
}

/// Why a task stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// No renewal was granted in time: by the local clock the lease may expire soon, so
    /// the worker stops before the store could give the task to anyone else.
    SelfFenced,
    /// Handed over: assigned elsewhere, final checkpoint taken; its lease is released.
    Reassigned,
    /// The store refused a renewal: the lease expired, was released, or passed on.
    Lost,
}

/// A mistake in driving a [`WorkerCore`](crate::WorkerCore).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The configuration cannot work.
    #[error("invalid cluster configuration: {0}")]
    Config(#[from] ConfigError),
    /// The job's task list names a task twice.
    #[error("task {task} is listed twice")]
    DuplicateTask {
        /// The repeated task.
        task: TaskId,
    },
    /// The local time went backwards: it must come from a monotonic clock.
    #[error("local time went back from {last_ms} ms to {now_ms} ms")]
    ClockWentBack {
        /// The latest time seen before.
        last_ms: u64,
        /// The time given now.
        now_ms: u64,
    },
    /// A response of a different kind than the request with this id.
    #[error("response to request {id:?} does not answer its kind of request")]
    MismatchedResponse {
        /// The request id.
        id: RequestId,
    },
}
