//! The worker's task leases: acquiring what is assigned to it, renewing what it runs,
//! fencing itself before a lease can expire, and handing tasks over.

use super::{Action, Held, PendingKind, Releasing, StopReason, WorkerCore};
use crate::error::LeaseError;
use crate::ids::{Epoch, TaskId};
use crate::protocol::Request;

impl WorkerCore {
    /// Stops every task whose lease's usable part has passed without a newer grant.
    ///
    /// The newest grant for a held task came from a request sent at local time
    /// `granted_sent_local_ms`; the store granted it at a store time no earlier than that,
    /// so the lease lasts until at least that instant + `lease_ttl_ms` by the store's
    /// clock. `task_usable_ms` is short enough that, with the local clock's rate within
    /// the drift bound, the store's clock cannot yet have reached the expiry (see
    /// [`usable_ms`](crate::config::usable_ms)).
    pub(super) fn fence_expiring(&mut self) {
        let usable_ms = self.config.task_usable_ms();
        let now = self.now_local_ms;
        let fenced: Vec<(TaskId, Epoch)> = self
            .held
            .iter()
            .filter(|(_, held)| now >= held.granted_sent_local_ms + usable_ms)
            .map(|(task, held)| (*task, held.epoch))
            .collect();
        for (task, epoch) in fenced {
            self.held.remove(&task);
            self.stopped(task, epoch, StopReason::SelfFenced);
        }
    }

    fn stopped(&mut self, task: TaskId, epoch: Epoch, reason: StopReason) {
        self.actions.push_back(Action::Stop {
            task,
            epoch,
            reason,
        });
        // If it is still ours, try to get it back at once (its lease may still be live
        // under our name, in which case the store extends it at the same epoch).
        self.acquire_due_local_ms.insert(task, self.now_local_ms);
    }

    /// Sends the renewals, acquires and releases that are due.
    pub(super) fn send_task_requests_if_due(&mut self) {
        self.send_renewals_if_due();
        self.send_acquires_if_due();
        self.send_releases_if_due();
    }

    fn send_renewals_if_due(&mut self) {
        let now = self.now_local_ms;
        let due: Vec<(TaskId, Epoch)> = self
            .held
            .iter()
            .filter(|(_, held)| now >= held.renew_due_local_ms)
            .map(|(task, held)| (*task, held.epoch))
            .collect();
        for (task, epoch) in due {
            if self.is_pending(|kind| matches!(kind, PendingKind::Renew(t, _) if *t == task)) {
                // Look again once that one has been answered or given up.
                if let Some(held) = self.held.get_mut(&task) {
                    held.renew_due_local_ms = now + self.config.retry_interval_ms;
                }
                continue;
            }
            let request = Request::Renew {
                worker: self.worker,
                task,
                epoch,
                ttl_ms: self.config.lease_ttl_ms,
            };
            self.send(request, PendingKind::Renew(task, epoch));
            if let Some(held) = self.held.get_mut(&task) {
                // Retry after the retry interval unless a grant moves this on.
                held.renew_due_local_ms = now + self.config.retry_interval_ms;
            }
        }
    }

    fn send_acquires_if_due(&mut self) {
        let now = self.now_local_ms;
        let wanted: Vec<TaskId> = self
            .assigned
            .iter()
            .filter(|task| !self.held.contains_key(task) && !self.releasing.contains_key(task))
            .filter(|task| match self.acquire_due_local_ms.get(task) {
                Some(due) => now >= *due,
                // Newly assigned: try at once.
                None => true,
            })
            .copied()
            .collect();
        for task in wanted {
            if self.is_pending(|kind| *kind == PendingKind::Acquire(task)) {
                self.acquire_due_local_ms
                    .insert(task, now + self.config.retry_interval_ms);
                continue;
            }
            let request = Request::Acquire {
                worker: self.worker,
                task,
                ttl_ms: self.config.lease_ttl_ms,
            };
            self.send(request, PendingKind::Acquire(task));
            self.acquire_due_local_ms
                .insert(task, now + self.config.retry_interval_ms);
        }
    }

    fn send_releases_if_due(&mut self) {
        let now = self.now_local_ms;
        // Past the give-up time the lease has expired anyway.
        self.releasing.retain(|_, r| now < r.give_up_local_ms);
        let due: Vec<(TaskId, Epoch)> = self
            .releasing
            .iter()
            .filter(|(_, r)| now >= r.due_local_ms)
            .map(|(task, r)| (*task, r.epoch))
            .collect();
        for (task, epoch) in due {
            if let Some(r) = self.releasing.get_mut(&task) {
                r.due_local_ms = now + self.config.retry_interval_ms;
            }
            if self.is_pending(|kind| matches!(kind, PendingKind::Release(t, _) if *t == task)) {
                continue;
            }
            let request = Request::Release {
                worker: self.worker,
                task,
                epoch,
            };
            self.send(request, PendingKind::Release(task, epoch));
        }
    }

    /// After the assignment changed: hand over running tasks no longer ours, forget
    /// acquire timers of tasks no longer ours.
    pub(super) fn reconcile(&mut self) {
        let moved: Vec<(TaskId, Epoch)> = self
            .held
            .iter()
            .filter(|(task, held)| !held.handing_over && !self.assigned.contains(task))
            .map(|(task, held)| (*task, held.epoch))
            .collect();
        for (task, epoch) in moved {
            if let Some(held) = self.held.get_mut(&task) {
                held.handing_over = true;
            }
            self.actions
                .push_back(Action::FinalCheckpoint { task, epoch });
        }
        let assigned = &self.assigned;
        self.acquire_due_local_ms
            .retain(|task, _| assigned.contains(task));
    }

    /// An acquire sent at `sent_local_ms` was answered.
    pub(super) fn on_acquire(
        &mut self,
        sent_local_ms: u64,
        task: TaskId,
        result: Result<Epoch, LeaseError>,
    ) {
        // A refusal: the acquire timer retries.
        let Ok(epoch) = result else { return };
        // Only one acquire per task is ever pending, and none while it is held.
        debug_assert!(!self.held.contains_key(&task));
        if self.held.contains_key(&task)
            || self.now_local_ms >= sent_local_ms + self.config.task_usable_ms()
        {
            // Too late to use safely; a new acquire extends it at the same epoch.
            return;
        }
        if !self.assigned.contains(&task) {
            // Assigned away while we asked: give it back unstarted.
            self.start_release(task, epoch);
            return;
        }
        self.held.insert(
            task,
            Held {
                epoch,
                granted_sent_local_ms: sent_local_ms,
                renew_due_local_ms: sent_local_ms + self.config.renew_interval_ms,
                handing_over: false,
            },
        );
        self.actions.push_back(Action::Start { task, epoch });
    }

    /// A renewal of `task` at `epoch`, sent at `sent_local_ms`, was answered.
    pub(super) fn on_renew(
        &mut self,
        sent_local_ms: u64,
        task: TaskId,
        epoch: Epoch,
        result: Result<(), LeaseError>,
    ) {
        let Some(held) = self.held.get_mut(&task) else {
            return;
        };
        if held.epoch != epoch {
            return;
        }
        match result {
            Ok(()) => {
                // Answers may come out of order: the newest send time is the evidence.
                held.granted_sent_local_ms = held.granted_sent_local_ms.max(sent_local_ms);
                held.renew_due_local_ms =
                    held.granted_sent_local_ms + self.config.renew_interval_ms;
            }
            Err(_) => {
                // Refused means this epoch expired, was released or passed on: no later
                // renewal of it can succeed, whatever order answers arrive in.
                self.held.remove(&task);
                self.stopped(task, epoch, StopReason::Lost);
            }
        }
    }

    /// A release of `task` at `epoch` was answered (either way: a refusal means the lease
    /// is no longer ours to release).
    pub(super) fn on_release(&mut self, task: TaskId, epoch: Epoch) {
        if self.releasing.get(&task).map(|r| r.epoch) == Some(epoch) {
            self.releasing.remove(&task);
        }
    }

    /// The driver finished the final checkpoint of `task` at `epoch`.
    pub(super) fn finish_handover(&mut self, task: TaskId, epoch: Epoch) {
        let handing_over = matches!(
            self.held.get(&task),
            Some(held) if held.epoch == epoch && held.handing_over
        );
        if !handing_over {
            return;
        }
        self.held.remove(&task);
        self.actions.push_back(Action::Stop {
            task,
            epoch,
            reason: StopReason::Reassigned,
        });
        self.start_release(task, epoch);
    }

    fn start_release(&mut self, task: TaskId, epoch: Epoch) {
        let now = self.now_local_ms;
        self.releasing.insert(
            task,
            Releasing {
                epoch,
                give_up_local_ms: now + self.config.lease_ttl_ms,
                due_local_ms: now,
            },
        );
        self.send_releases_if_due();
    }

    /// The earliest local time a task lease needs attention.
    pub(super) fn task_deadline_local_ms(&self) -> u64 {
        let usable_ms = self.config.task_usable_ms();
        let held = self.held.values().map(|h| {
            h.renew_due_local_ms
                .min(h.granted_sent_local_ms + usable_ms)
        });
        let acquiring = self
            .assigned
            .iter()
            .filter(|task| !self.held.contains_key(task) && !self.releasing.contains_key(task))
            .map(|task| match self.acquire_due_local_ms.get(task) {
                Some(due) => *due,
                None => self.now_local_ms,
            });
        let releasing = self
            .releasing
            .values()
            .map(|r| r.due_local_ms.min(r.give_up_local_ms));
        held.chain(acquiring)
            .chain(releasing)
            .min()
            .unwrap_or(u64::MAX)
    }
}
