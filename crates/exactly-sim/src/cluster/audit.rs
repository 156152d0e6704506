//! The independent auditor. It judges the run only from what workers *did* (the start
//! and stop actions they emitted, when, by true time), what the store *accepted*, and
//! which processes were alive — never by asking the cluster core what it believes.
//!
//! - (a) commits: at most one worker has a commit accepted per (task, epoch), and a
//!   task's accepted epochs never go down, in the store's order;
//! - (b) exclusion: at no instant of true time are two workers running one task (started
//!   and not stopped; a frozen process runs nothing until it has resumed and ticked);
//! - (c) settled: every task runs on exactly one live worker and the counts are balanced
//!   (see [`Auditor::settled`]); the world checks it after faults stop.

use exactly_cluster::{Epoch, TaskId, WorkerId};
use std::collections::{BTreeMap, BTreeSet};

/// A broken guarantee, with what the auditor saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Violation {
    /// (b): `second` started (or resumed) running `task` while `first` was running it.
    TwoRunning {
        /// True time.
        at_ms: u64,
        /// The task.
        task: TaskId,
        /// The worker already running it.
        first: WorkerId,
        /// The worker that started too.
        second: WorkerId,
    },
    /// (a): two workers had commits accepted at one epoch.
    TwoCommitters {
        /// Store time of the second.
        at_ms: u64,
        /// The task.
        task: TaskId,
        /// The epoch.
        epoch: Epoch,
        /// The first committer.
        first: WorkerId,
        /// The second.
        second: WorkerId,
    },
    /// (a): a commit was accepted at a lower epoch than an earlier one.
    EpochWentBack {
        /// Store time.
        at_ms: u64,
        /// The task.
        task: TaskId,
        /// The highest epoch accepted before.
        highest: Epoch,
        /// The lower epoch accepted now.
        accepted: Epoch,
    },
    /// A worker started a task it was already running (a driver would run it twice).
    StartedTwice {
        /// True time.
        at_ms: u64,
        /// The worker.
        worker: WorkerId,
        /// The task.
        task: TaskId,
    },
}

/// What the auditor tracks, by true time.
#[derive(Clone, Debug, Default)]
pub struct Auditor {
    /// Every task each worker has started and not stopped (frozen or not).
    running: BTreeMap<WorkerId, BTreeSet<TaskId>>,
    frozen: BTreeSet<WorkerId>,
    /// Per task, the workers actually running it now (running, alive, not frozen).
    active: BTreeMap<TaskId, BTreeSet<WorkerId>>,
    committers: BTreeMap<(TaskId, Epoch), WorkerId>,
    highest_committed: BTreeMap<TaskId, Epoch>,
    violations: Vec<Violation>,
}

impl Auditor {
    /// `worker` emitted a start of `task`.
    pub fn started(&mut self, at_ms: u64, worker: WorkerId, task: TaskId) {
        if !self.running.entry(worker).or_default().insert(task) {
            self.violations.push(Violation::StartedTwice {
                at_ms,
                worker,
                task,
            });
        }
        if !self.frozen.contains(&worker) {
            self.activate(at_ms, worker, task);
        }
    }

    /// `worker` emitted a stop of `task`.
    pub fn stopped(&mut self, worker: WorkerId, task: TaskId) {
        if let Some(tasks) = self.running.get_mut(&worker) {
            tasks.remove(&task);
        }
        self.deactivate(worker, task);
    }

    /// `worker`'s process was frozen: it runs nothing while frozen.
    pub fn froze(&mut self, worker: WorkerId) {
        self.frozen.insert(worker);
        for task in self.tasks_of(worker) {
            self.deactivate(worker, task);
        }
    }

    /// `worker`'s process runs again (call after its first tick on resuming).
    pub fn thawed(&mut self, at_ms: u64, worker: WorkerId) {
        self.frozen.remove(&worker);
        for task in self.tasks_of(worker) {
            self.activate(at_ms, worker, task);
        }
    }

    /// `worker`'s process died: everything it ran stopped with it.
    pub fn died(&mut self, worker: WorkerId) {
        for task in self.tasks_of(worker) {
            self.deactivate(worker, task);
        }
        self.running.remove(&worker);
        self.frozen.remove(&worker);
    }

    /// The store accepted `worker`'s commit of `task` at `epoch`, at store time `at_ms`.
    pub fn commit_accepted(&mut self, at_ms: u64, worker: WorkerId, task: TaskId, epoch: Epoch) {
        let first = *self.committers.entry((task, epoch)).or_insert(worker);
        if first != worker {
            self.violations.push(Violation::TwoCommitters {
                at_ms,
                task,
                epoch,
                first,
                second: worker,
            });
        }
        let highest = self.highest_committed.entry(task).or_insert(epoch);
        if epoch < *highest {
            self.violations.push(Violation::EpochWentBack {
                at_ms,
                task,
                highest: *highest,
                accepted: epoch,
            });
        }
        *highest = (*highest).max(epoch);
    }

    /// (c) Whether every task of `tasks` runs on exactly one worker, that worker is in
    /// `live`, and each live worker runs `⌊n/k⌋` or `⌈n/k⌉` of them.
    pub fn settled(&self, tasks: &[TaskId], live: &BTreeSet<WorkerId>) -> bool {
        if live.is_empty() {
            return false;
        }
        let mut counts: BTreeMap<WorkerId, usize> = live.iter().map(|w| (*w, 0)).collect();
        for task in tasks {
            let Some(workers) = self.active.get(task) else {
                return false;
            };
            let mut only = workers.iter();
            let (Some(worker), None) = (only.next(), only.next()) else {
                return false;
            };
            let Some(count) = counts.get_mut(worker) else {
                return false;
            };
            *count += 1;
        }
        let floor = tasks.len() / live.len();
        let ceil = tasks.len().div_ceil(live.len());
        counts.values().all(|c| *c == floor || *c == ceil)
    }

    /// Everything broken so far, in the order found.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    fn tasks_of(&self, worker: WorkerId) -> Vec<TaskId> {
        match self.running.get(&worker) {
            Some(tasks) => tasks.iter().copied().collect(),
            // Never started anything.
            None => Vec::new(),
        }
    }

    fn activate(&mut self, at_ms: u64, worker: WorkerId, task: TaskId) {
        let workers = self.active.entry(task).or_default();
        if let Some(first) = workers.iter().find(|w| **w != worker) {
            self.violations.push(Violation::TwoRunning {
                at_ms,
                task,
                first: *first,
                second: worker,
            });
        }
        workers.insert(worker);
    }

    fn deactivate(&mut self, worker: WorkerId, task: TaskId) {
        if let Some(workers) = self.active.get_mut(&task) {
            workers.remove(&worker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_overlap_double_commit_and_falling_epoch() {
        let mut audit = Auditor::default();
        let (a, b, t) = (WorkerId(1), WorkerId(2), TaskId(0));
        audit.started(10, a, t);
        audit.froze(a);
        audit.started(20, b, t); // a is frozen: no overlap yet
        assert!(audit.violations().is_empty());
        audit.thawed(30, a); // a resumes still believing it runs t
        audit.commit_accepted(40, a, t, Epoch(2));
        audit.commit_accepted(41, b, t, Epoch(2));
        audit.commit_accepted(42, b, t, Epoch(1));
        let kinds: Vec<_> = audit
            .violations()
            .iter()
            .map(std::mem::discriminant)
            .collect();
        assert_eq!(kinds.len(), 3);
    }

    #[test]
    fn settled_needs_one_owner_each_and_balance() {
        let mut audit = Auditor::default();
        let tasks = [TaskId(0), TaskId(1), TaskId(2)];
        let live: BTreeSet<_> = [WorkerId(1), WorkerId(2)].into();
        audit.started(0, WorkerId(1), TaskId(0));
        audit.started(0, WorkerId(1), TaskId(1));
        audit.started(0, WorkerId(1), TaskId(2));
        assert!(!audit.settled(&tasks, &live), "3 / 0 is not balanced");
        audit.stopped(WorkerId(1), TaskId(2));
        audit.started(0, WorkerId(2), TaskId(2));
        assert!(audit.settled(&tasks, &live));
        audit.died(WorkerId(2));
        assert!(!audit.settled(&tasks, &live), "task 2 runs nowhere");
    }
}
