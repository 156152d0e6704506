//! The event loop: the store, the worker processes and their links, the fault schedule,
//! and the auditor watching. Processes are driven like a real driver would: perform each
//! action, wake the core at its deadline, and on resuming from a pause tick before
//! anything else.

mod lifecycle;

use super::audit::Auditor;
use super::clock::DriftClock;
use super::event::{Event, Scheduled, ToStore, ToWorker};
use super::link::LinkFaults;
use super::schedule::{draw, FaultPlan};
use super::trace::TraceHasher;
use super::{ClusterCounts, ClusterReport, ClusterSimConfig, ClusterSimError};
use exactly_cluster::{
    Action, Epoch, LeaseTable, Request, Response, StopReason, TaskId, WorkerCore, WorkerId,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Runs one simulation and audits it.
pub fn run_cluster(config: &ClusterSimConfig) -> Result<ClusterReport, ClusterSimError> {
    check(config)?;
    let mut world = World::new(config);
    world.start()?;
    while let Some(Reverse(scheduled)) = world.queue.pop() {
        world.now_ms = scheduled.at_ms;
        if scheduled.event == Event::End {
            break;
        }
        world.trace.record(&(scheduled.at_ms, &scheduled.event));
        world.events += 1;
        world.handle(scheduled.event)?;
        world.watch_settling();
    }
    Ok(world.report())
}

fn check(config: &ClusterSimConfig) -> Result<(), ClusterSimError> {
    config.cluster.validate()?;
    if config.workers == 0 || config.tasks == 0 {
        return Err(ClusterSimError::Impossible("no workers or no tasks"));
    }
    let (low, high) = config.clock_rate_ppm;
    if low > high || low <= -1_000_000 {
        return Err(ClusterSimError::Impossible(
            "clock rates must be an ordered range above -1e6 ppm",
        ));
    }
    Ok(())
}

/// A live incarnation of a worker process.
struct Process {
    core: WorkerCore,
    worker: WorkerId,
    /// The tasks this process runs, as its driver knows them from start/stop actions.
    running: BTreeMap<TaskId, Epoch>,
    /// The true time of the earliest tick event scheduled and not yet processed.
    tick_at_ms: Option<u64>,
}

/// A machine: its clock survives restarts, its process may not.
struct Slot {
    clock: DriftClock,
    process: Option<Process>,
    paused: bool,
    partitioned: bool,
    /// What reached a paused process, delivered after it resumes.
    inbox: Vec<Event>,
}

struct World<'a> {
    config: &'a ClusterSimConfig,
    tasks: Vec<TaskId>,
    rng: SmallRng,
    now_ms: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    store: LeaseTable,
    slots: Vec<Slot>,
    next_worker: u64,
    audit: Auditor,
    heal_at_ms: u64,
    healed: bool,
    settled_since_ms: Option<u64>,
    trace: TraceHasher,
    counts: ClusterCounts,
    events: u64,
}

impl<'a> World<'a> {
    fn new(config: &'a ClusterSimConfig) -> Self {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let tasks: Vec<TaskId> = (0..config.tasks).map(TaskId).collect();
        let (low, high) = config.clock_rate_ppm;
        let slots = (0..config.workers)
            .map(|_| Slot {
                clock: DriftClock::new(
                    rng.random_range(0..1_000_000_000),
                    rng.random_range(low..=high),
                ),
                process: None,
                paused: false,
                partitioned: false,
                inbox: Vec::new(),
            })
            .collect();
        World {
            config,
            store: LeaseTable::new(&tasks),
            tasks,
            rng,
            now_ms: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            slots,
            next_worker: 1,
            audit: Auditor::default(),
            heal_at_ms: config.fault_phase_ms,
            healed: false,
            settled_since_ms: None,
            trace: TraceHasher::default(),
            counts: ClusterCounts::default(),
            events: 0,
        }
    }

    /// Draws every fault, schedules the heal and the end, and starts every process.
    fn start(&mut self) -> Result<(), ClusterSimError> {
        let plan = FaultPlan {
            fault_phase_ms: self.config.fault_phase_ms,
            fault_gap_ms: self.config.fault_gap_ms,
            lease_ttl_ms: self.config.cluster.lease_ttl_ms,
        };
        for slot in 0..self.slots.len() {
            for (at_ms, fault) in draw(&plan, &mut self.rng) {
                self.push(at_ms, Event::Fault { slot, fault });
            }
        }
        self.push(self.heal_at_ms, Event::Heal);
        self.push(self.heal_at_ms + self.config.heal_phase_ms, Event::End);
        for slot in 0..self.slots.len() {
            self.spawn(slot)?;
        }
        Ok(())
    }

    fn push(&mut self, at_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at_ms,
            seq: self.seq,
            event,
        }));
    }

    fn handle(&mut self, event: Event) -> Result<(), ClusterSimError> {
        match event {
            Event::AtStore {
                slot,
                worker,
                message,
            } => self.at_store(slot, worker, message),
            Event::AtWorker { slot, worker, .. } | Event::CheckpointDone { slot, worker, .. }
                if self.current(slot) == Some(worker) && self.is_paused(slot) =>
            {
                if let Some(s) = self.slots.get_mut(slot) {
                    s.inbox.push(event);
                }
                Ok(())
            }
            Event::AtWorker {
                slot,
                worker,
                message,
            } => self.at_worker(slot, worker, message),
            Event::Tick { slot, worker } => self.on_tick(slot, worker),
            Event::CommitDue {
                slot,
                worker,
                task,
                epoch,
            } => {
                self.commit_due(slot, worker, task, epoch);
                Ok(())
            }
            Event::CheckpointDone {
                slot,
                worker,
                task,
                epoch,
            } => self.input(slot, worker, |core, now| {
                core.on_final_checkpoint(now, task, epoch)
            }),
            Event::Fault { slot, fault } => self.fault(slot, fault),
            Event::Heal => self.heal(),
            Event::End => Ok(()),
        }
    }

    fn current(&self, slot: usize) -> Option<WorkerId> {
        self.slots
            .get(slot)
            .and_then(|s| s.process.as_ref())
            .map(|p| p.worker)
    }

    fn is_paused(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| s.paused)
    }

    /// The store runs a request at true time (its own clock) and answers over the link.
    fn at_store(
        &mut self,
        slot: usize,
        worker: WorkerId,
        message: ToStore,
    ) -> Result<(), ClusterSimError> {
        let answer = match message {
            ToStore::Core { id, request } => ToWorker::Core {
                id,
                response: self.store.serve(self.now_ms, &request),
            },
            ToStore::Commit(request) => {
                let response = self.store.serve(self.now_ms, &request);
                self.audit_commit(&request, &response);
                ToWorker::Commit(response)
            }
        };
        self.transmit(
            slot,
            Event::AtWorker {
                slot,
                worker,
                message: answer,
            },
        );
        Ok(())
    }

    fn audit_commit(&mut self, request: &Request, response: &Response) {
        let Request::CommitCheck {
            worker,
            task,
            epoch,
        } = request
        else {
            return;
        };
        if let Response::CommitCheck(Ok(())) = response {
            self.counts.commits_accepted += 1;
            self.audit
                .commit_accepted(self.now_ms, *worker, *task, *epoch);
        } else {
            self.counts.commits_refused += 1;
        }
    }

    fn at_worker(
        &mut self,
        slot: usize,
        worker: WorkerId,
        message: ToWorker,
    ) -> Result<(), ClusterSimError> {
        match message {
            ToWorker::Core { id, response } => self.input(slot, worker, |core, now| {
                core.on_response(now, id, response)
            }),
            // Commit answers were counted at the store; the task's work moves on.
            ToWorker::Commit(_) => Ok(()),
        }
    }

    fn on_tick(&mut self, slot: usize, worker: WorkerId) -> Result<(), ClusterSimError> {
        let now_ms = self.now_ms;
        let Some(process) = self.process_mut(slot, worker) else {
            return Ok(());
        };
        // Only the earliest scheduled tick is live; later ones were superseded.
        if process.tick_at_ms != Some(now_ms) {
            return Ok(());
        }
        process.tick_at_ms = None;
        if self.is_paused(slot) {
            return Ok(());
        }
        self.input(slot, worker, |core, now| core.tick(now))
    }

    fn process_mut(&mut self, slot: usize, worker: WorkerId) -> Option<&mut Process> {
        self.slots
            .get_mut(slot)
            .and_then(|s| s.process.as_mut())
            .filter(|p| p.worker == worker)
    }

    /// Feeds one input to a live, running incarnation, performs its actions and
    /// schedules its next wake-up. Inputs for dead incarnations are dropped.
    fn input(
        &mut self,
        slot: usize,
        worker: WorkerId,
        feed: impl FnOnce(&mut WorkerCore, u64) -> Result<(), exactly_cluster::WorkerError>,
    ) -> Result<(), ClusterSimError> {
        let Some(s) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        let now_local_ms = s.clock.local_at(self.now_ms);
        let Some(process) = s.process.as_mut().filter(|p| p.worker == worker) else {
            return Ok(());
        };
        feed(&mut process.core, now_local_ms)?;
        let mut actions = Vec::new();
        while let Some(action) = process.core.poll_action() {
            actions.push(action);
        }
        for action in actions {
            self.trace.record(&(worker, &action));
            self.perform(slot, worker, action);
        }
        self.schedule_tick(slot, worker);
        Ok(())
    }

    /// What a real driver does with each action.
    fn perform(&mut self, slot: usize, worker: WorkerId, action: Action) {
        match action {
            Action::Send { id, request } => {
                let message = ToStore::Core { id, request };
                self.send_to_store(slot, worker, message);
            }
            Action::Start { task, epoch } => {
                self.counts.starts += 1;
                if let Some(p) = self.process_mut(slot, worker) {
                    p.running.insert(task, epoch);
                }
                self.audit.started(self.now_ms, worker, task);
                let at_ms = self.now_ms + self.commit_delay_ms();
                self.push(
                    at_ms,
                    Event::CommitDue {
                        slot,
                        worker,
                        task,
                        epoch,
                    },
                );
            }
            Action::Stop { task, reason, .. } => {
                match reason {
                    StopReason::SelfFenced => self.counts.self_fenced += 1,
                    StopReason::Lost => self.counts.lost += 1,
                    StopReason::Reassigned => self.counts.reassigned += 1,
                }
                if let Some(p) = self.process_mut(slot, worker) {
                    p.running.remove(&task);
                }
                self.audit.stopped(worker, task);
            }
            Action::FinalCheckpoint { task, epoch } => {
                let commit = Request::CommitCheck {
                    worker,
                    task,
                    epoch,
                };
                self.send_to_store(slot, worker, ToStore::Commit(commit));
                let at_ms = self.now_ms + self.rng.random_range(20..=200);
                self.push(
                    at_ms,
                    Event::CheckpointDone {
                        slot,
                        worker,
                        task,
                        epoch,
                    },
                );
            }
        }
    }

    fn commit_delay_ms(&mut self) -> u64 {
        let interval_ms = self.config.commit_interval_ms.max(2);
        self.rng.random_range(interval_ms / 2..=interval_ms * 3 / 2)
    }

    /// A running task's work commits a checkpoint (fenced by its epoch) and carries on.
    fn commit_due(&mut self, slot: usize, worker: WorkerId, task: TaskId, epoch: Epoch) {
        let paused = self.is_paused(slot);
        let Some(process) = self.process_mut(slot, worker) else {
            return;
        };
        if process.running.get(&task) != Some(&epoch) {
            return;
        }
        if !paused {
            let commit = Request::CommitCheck {
                worker,
                task,
                epoch,
            };
            self.send_to_store(slot, worker, ToStore::Commit(commit));
        }
        let at_ms = self.now_ms + self.commit_delay_ms();
        self.push(
            at_ms,
            Event::CommitDue {
                slot,
                worker,
                task,
                epoch,
            },
        );
    }

    fn schedule_tick(&mut self, slot: usize, worker: WorkerId) {
        let now_ms = self.now_ms;
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        let clock = s.clock;
        let Some(process) = s.process.as_mut().filter(|p| p.worker == worker) else {
            return;
        };
        // Something due now is handled a millisecond later, so a tick always moves time.
        let at_ms = clock
            .true_at(process.core.next_deadline_local_ms())
            .max(now_ms + 1);
        if process.tick_at_ms.is_some_and(|t| t <= at_ms) {
            return;
        }
        process.tick_at_ms = Some(at_ms);
        self.push(at_ms, Event::Tick { slot, worker });
    }

    fn send_to_store(&mut self, slot: usize, worker: WorkerId, message: ToStore) {
        let event = Event::AtStore {
            slot,
            worker,
            message,
        };
        self.transmit(slot, event);
    }

    /// Puts a message on a slot's link: partitioned, lost, once, or twice.
    fn transmit(&mut self, slot: usize, event: Event) {
        if self.slots.get(slot).is_none_or(|s| s.partitioned) {
            self.counts.messages_lost += 1;
            return;
        }
        let faults = if self.healed {
            LinkFaults::perfect()
        } else {
            self.config.link.clone()
        };
        let delays_ms = faults.delays_ms(&mut self.rng);
        match delays_ms.len() {
            0 => self.counts.messages_lost += 1,
            1 => {}
            _ => self.counts.messages_duplicated += 1,
        }
        for delay_ms in delays_ms {
            self.push(self.now_ms + delay_ms, event.clone());
        }
    }

    /// After the heal, tracks since when the cluster has been settled without a break.
    fn watch_settling(&mut self) {
        if !self.healed {
            return;
        }
        let live: BTreeSet<WorkerId> = self
            .slots
            .iter()
            .filter(|s| !s.paused)
            .filter_map(|s| s.process.as_ref().map(|p| p.worker))
            .collect();
        if self.audit.settled(&self.tasks, &live) {
            self.settled_since_ms.get_or_insert(self.now_ms);
        } else {
            self.settled_since_ms = None;
        }
    }

    fn report(&self) -> ClusterReport {
        let mut counts = self.counts;
        counts.coordinator_epoch = self.store.coordinator().epoch.0;
        counts.assignment_version = self.store.assignment().1;
        ClusterReport {
            seed: self.config.seed,
            trace_hash: self.trace.finish_hash(),
            events: self.events,
            violations: self.audit.violations().to_vec(),
            settled_after_heal_ms: self
                .settled_since_ms
                .map(|since| since.saturating_sub(self.heal_at_ms)),
            heal_bound_ms: self.config.heal_bound_ms,
            counts,
        }
    }
}
