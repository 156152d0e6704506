//! The worker's protocol core, [`WorkerCore`]: sans-IO, in the shape of raft-rs's
//! `RawNode` or quinn-proto's `Connection`. The driver feeds it the local monotonic time
//! ([`WorkerCore::tick`]), the store's responses ([`WorkerCore::on_response`]) and the
//! end of final checkpoints ([`WorkerCore::on_final_checkpoint`]); it drains
//! [`Action`]s ([`WorkerCore::poll_action`]) and wakes the core again at
//! [`WorkerCore::next_deadline_local_ms`].
//!
//! Responses may be lost, duplicated, reordered or late: each request has an id, a
//! response is acted on only while its request is pending (for at most
//! `retry_interval_ms`), and every grant is judged by the local time its request was
//! *sent* — the store granted it no earlier than that.

mod action;
mod coordinator;
mod pending;
mod tasks;

pub use action::{Action, StopReason, WorkerError};

use crate::config::ClusterConfig;
use crate::ids::{Epoch, RequestId, TaskId, WorkerId};
use crate::protocol::{Request, Response};
use pending::{Pending, PendingKind};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A task lease this worker holds and runs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    epoch: Epoch,
    /// Local send time of the newest request that granted or renewed the lease: the
    /// lease runs until at least this instant + `lease_ttl_ms` by the store's clock.
    granted_sent_local_ms: u64,
    /// When to send the next renewal.
    renew_due_local_ms: u64,
    /// A final checkpoint was asked for; the lease is released once it is done.
    handing_over: bool,
}

/// A lease given up whose release has not been acknowledged yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Releasing {
    epoch: Epoch,
    /// After this the lease has certainly expired; releasing it no longer matters.
    give_up_local_ms: u64,
    /// When to send the release (again).
    due_local_ms: u64,
}

/// The coordinator role, while the lease is usable by the local clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Role {
    epoch: Epoch,
    usable_until_local_ms: u64,
}

/// One worker's side of the protocol: membership, coordinator role, task leases and
/// self-fencing. See the module documentation for how to drive it.
#[derive(Clone, Debug)]
pub struct WorkerCore {
    config: ClusterConfig,
    worker: WorkerId,
    /// The job's tasks, for computing assignments when coordinator.
    tasks: Vec<TaskId>,
    now_local_ms: u64,
    next_request: u64,
    pending: BTreeMap<RequestId, Pending>,
    heartbeat_due_local_ms: u64,
    /// Newest assignment version read, and this worker's part of it.
    assignment_version: Option<u64>,
    assigned: BTreeSet<TaskId>,
    /// The last heartbeat saw no live coordinator: bid for the lease.
    coordinator_free: bool,
    coordinate_due_local_ms: u64,
    role: Option<Role>,
    held: BTreeMap<TaskId, Held>,
    acquire_due_local_ms: BTreeMap<TaskId, u64>,
    releasing: BTreeMap<TaskId, Releasing>,
    actions: VecDeque<Action>,
}

impl WorkerCore {
    /// A worker `worker` of a job with `tasks`, starting at local time `now_local_ms`
    /// with nothing held. Its first [`tick`](Self::tick) heartbeats.
    pub fn new(
        config: ClusterConfig,
        worker: WorkerId,
        tasks: &[TaskId],
        now_local_ms: u64,
    ) -> Result<Self, WorkerError> {
        config.validate()?;
        let mut seen = BTreeSet::new();
        if let Some(task) = tasks.iter().find(|task| !seen.insert(**task)) {
            return Err(WorkerError::DuplicateTask { task: *task });
        }
        Ok(WorkerCore {
            config,
            worker,
            tasks: tasks.to_vec(),
            now_local_ms,
            next_request: 0,
            pending: BTreeMap::new(),
            heartbeat_due_local_ms: now_local_ms,
            assignment_version: None,
            assigned: BTreeSet::new(),
            coordinator_free: false,
            coordinate_due_local_ms: now_local_ms,
            role: None,
            held: BTreeMap::new(),
            acquire_due_local_ms: BTreeMap::new(),
            releasing: BTreeMap::new(),
            actions: VecDeque::new(),
        })
    }

    /// Time passed: fence expiring leases, then send what is due (heartbeat, coordinator
    /// bid or renewal, task renewals, acquires, releases).
    pub fn tick(&mut self, now_local_ms: u64) -> Result<(), WorkerError> {
        self.advance(now_local_ms)?;
        // Fencing comes first: nothing is sent or started on a lease that may be gone.
        self.fence_expiring();
        self.drop_role_if_expired();
        self.send_heartbeat_if_due();
        self.send_coordinate_if_due();
        self.send_task_requests_if_due();
        Ok(())
    }

    /// The response to request `id` arrived at local time `now_local_ms`. Responses to
    /// requests no longer pending (given up, answered already, or never sent) are
    /// ignored. The time matters: a grant whose usable part has already passed is not
    /// acted on.
    pub fn on_response(
        &mut self,
        now_local_ms: u64,
        id: RequestId,
        response: Response,
    ) -> Result<(), WorkerError> {
        self.advance(now_local_ms)?;
        self.fence_expiring();
        let Some(pending) = self.pending.remove(&id) else {
            return Ok(());
        };
        let sent = pending.sent_local_ms;
        match (pending.kind, response) {
            (PendingKind::Heartbeat, Response::Heartbeat(result)) => self.on_heartbeat(result),
            (PendingKind::Coordinate, Response::Coordinate(result)) => {
                self.on_coordinate(sent, result)
            }
            (PendingKind::Publish(assignment), Response::Publish(result)) => {
                self.on_publish(assignment, result)
            }
            (PendingKind::Acquire(task), Response::Acquire(result)) => {
                self.on_acquire(sent, task, result)
            }
            (PendingKind::Renew(task, epoch), Response::Renew(result)) => {
                self.on_renew(sent, task, epoch, result)
            }
            (PendingKind::Release(task, epoch), Response::Release(_)) => {
                self.on_release(task, epoch)
            }
            (kind, _) => {
                // Put it back: the driver's mistake must not lose the real answer.
                self.pending.insert(
                    id,
                    Pending {
                        sent_local_ms: sent,
                        kind,
                    },
                );
                return Err(WorkerError::MismatchedResponse { id });
            }
        }
        Ok(())
    }

    /// The final checkpoint of `task` at `epoch` asked for by
    /// [`Action::FinalCheckpoint`] is done: stop the task and release its lease. A report
    /// for a task stopped meanwhile (fenced or lost) is ignored.
    pub fn on_final_checkpoint(
        &mut self,
        now_local_ms: u64,
        task: TaskId,
        epoch: Epoch,
    ) -> Result<(), WorkerError> {
        self.advance(now_local_ms)?;
        self.fence_expiring();
        self.finish_handover(task, epoch);
        Ok(())
    }

    /// The next action to perform, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The local time at which the core next needs a [`tick`](Self::tick) (something
    /// falls due or a lease must be fenced).
    pub fn next_deadline_local_ms(&self) -> u64 {
        let mut deadline = self.heartbeat_due_local_ms;
        if self.role.is_some() || self.coordinator_free {
            deadline = deadline.min(self.coordinate_due_local_ms);
        }
        if let Some(role) = &self.role {
            deadline = deadline.min(role.usable_until_local_ms);
        }
        for pending in self.pending.values() {
            deadline = deadline.min(pending.sent_local_ms + self.config.retry_interval_ms);
        }
        deadline.min(self.task_deadline_local_ms())
    }

    /// This worker's id.
    pub fn worker(&self) -> WorkerId {
        self.worker
    }

    /// The tasks it runs now, with their epochs.
    pub fn running(&self) -> BTreeMap<TaskId, Epoch> {
        self.held.iter().map(|(t, h)| (*t, h.epoch)).collect()
    }

    /// Its coordinator epoch, while it believes it holds the coordinator lease.
    pub fn coordinator_epoch(&self) -> Option<Epoch> {
        self.role.map(|role| role.epoch)
    }

    /// The tasks the newest assignment it read gives it.
    pub fn assigned(&self) -> &BTreeSet<TaskId> {
        &self.assigned
    }

    fn advance(&mut self, now_local_ms: u64) -> Result<(), WorkerError> {
        if now_local_ms < self.now_local_ms {
            return Err(WorkerError::ClockWentBack {
                last_ms: self.now_local_ms,
                now_ms: now_local_ms,
            });
        }
        self.now_local_ms = now_local_ms;
        // Give up requests unanswered for the retry interval: they may be sent again,
        // and a late answer to the old one is ignored.
        let retry_ms = self.config.retry_interval_ms;
        self.pending
            .retain(|_, pending| now_local_ms < pending.sent_local_ms + retry_ms);
        Ok(())
    }

    fn send(&mut self, request: Request, kind: PendingKind) {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            Pending {
                sent_local_ms: self.now_local_ms,
                kind,
            },
        );
        // At most a heartbeat, a bid, a publish, and per task one acquire, one renewal and
        // one release: every send site first checks that none of its kind is pending.
        debug_assert!(self.pending.len() <= 3 + 3 * self.tasks.len());
        self.actions.push_back(Action::Send { id, request });
    }

    fn is_pending(&self, wanted: impl Fn(&PendingKind) -> bool) -> bool {
        self.pending.values().any(|pending| wanted(&pending.kind))
    }
}
