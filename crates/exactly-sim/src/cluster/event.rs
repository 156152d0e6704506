//! What happens in a cluster simulation, one event at a time, in true time order.

use exactly_cluster::{Epoch, Request, RequestId, Response, TaskId, WorkerId};
use std::cmp::Ordering;

/// A message from a worker process to the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ToStore {
    /// A request of the worker's core.
    Core {
        /// Its id.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// A checkpoint commit's fence check, sent by the process's task work.
    Commit(Request),
}

/// A message from the store to a worker process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ToWorker {
    /// The answer to a core request.
    Core {
        /// The request's id.
        id: RequestId,
        /// The answer.
        response: Response,
    },
    /// The answer to a commit check (already counted at the store).
    Commit(Response),
}

/// A fault of one worker's process or link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The process dies: everything volatile is lost.
    Crash,
    /// A new incarnation starts.
    Restart,
    /// The process freezes (SIGSTOP, a long GC, a VM migration) while time passes.
    Pause,
    /// It runs again, with the beliefs it had.
    Resume,
    /// The link drops everything sent ...
    PartitionStart,
    /// ... until now.
    PartitionEnd,
}

/// One event. Events addressed to a worker name its incarnation; they are dropped if it
/// has died meanwhile.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A message reaches the store.
    AtStore {
        /// The sender's slot.
        slot: usize,
        /// The sending incarnation.
        worker: WorkerId,
        /// The message.
        message: ToStore,
    },
    /// A message reaches a worker process.
    AtWorker {
        /// The slot.
        slot: usize,
        /// The incarnation it is for.
        worker: WorkerId,
        /// The message.
        message: ToWorker,
    },
    /// The worker's core asked to be woken now.
    Tick {
        /// The slot.
        slot: usize,
        /// The incarnation.
        worker: WorkerId,
    },
    /// A running task's work tries to commit a checkpoint.
    CommitDue {
        /// The slot.
        slot: usize,
        /// The incarnation.
        worker: WorkerId,
        /// The task.
        task: TaskId,
        /// The epoch it runs at.
        epoch: Epoch,
    },
    /// A final checkpoint asked for is done.
    CheckpointDone {
        /// The slot.
        slot: usize,
        /// The incarnation.
        worker: WorkerId,
        /// The task.
        task: TaskId,
        /// Its epoch.
        epoch: Epoch,
    },
    /// A scheduled fault of a slot.
    Fault {
        /// The slot.
        slot: usize,
        /// The fault.
        fault: Fault,
    },
    /// Faults stop: links become perfect, every process is resumed or restarted.
    Heal,
    /// The run ends.
    End,
}

/// An event at a true time; `seq` keeps events of one instant in scheduling order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// True time, ms.
    pub at_ms: u64,
    /// Scheduling order.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_ms, self.seq).cmp(&(other.at_ms, other.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
