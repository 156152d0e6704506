//! The coordinator's driver: starts the tasks, feeds acknowledgements and time to the
//! pure [`CoordinatorCore`] (which decides when to checkpoint, what the manifest holds and
//! when sinks may commit) and performs its actions — raising barriers, writing the
//! manifest (the commit point) and its journal entry, publishing write-ahead outputs,
//! releasing the sinks, updating the status file.

use super::context::RunContext;
use super::coordinator_core::{
    CoordinatorAction, CoordinatorConfig, CoordinatorCore, CoordinatorEvent, Progress,
};
use super::error::RunError;
use super::journal::JournalEntry;
use super::manifest::Manifest;
use super::messages::Ack;
use super::meters::RunMeters;
use super::plan::{Plan, TypedPlan};
use super::recovery::Restored;
use super::report::{RunReport, StatusFile};
use super::sink::Sink;
use super::source::Source;
use super::task::Task;
use super::topology::Topology;
use crate::key_group::KeyGroupRange;
use crate::operator::KeyedOperator;
use crate::types::{GroupKey, OutputRecord};
use exactly_core::storage::write_file_atomically;
use exactly_core::Timestamp;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

/// Channel capacity between a source and a task, in batches.
const EDGE_BATCHES: usize = 16;

impl<K: GroupKey, T: Send + 'static, O: OutputRecord> Plan for TypedPlan<K, T, O> {
    fn execute(&self, ctx: &RunContext<'_>, restored: &Restored) -> Result<RunReport, RunError> {
        execute(self, ctx, restored)
    }
}

fn execute<K: GroupKey, T: Send + 'static, O: OutputRecord>(
    plan: &TypedPlan<K, T, O>,
    ctx: &RunContext<'_>,
    restored: &Restored,
) -> Result<RunReport, RunError> {
    let parallelism = ctx.parallelism();
    let operators = (0..parallelism)
        .map(|task| restore_operator(plan, ctx, restored, task))
        .collect::<Result<Vec<_>, _>>()?;
    let (ack_tx, ack_rx) = mpsc::channel::<Ack>();
    let mut task_inputs = Vec::new();
    let mut task_receivers = Vec::new();
    for _ in 0..parallelism {
        let (tx, rx) = mpsc::sync_channel(EDGE_BATCHES);
        task_inputs.push(tx);
        task_receivers.push(rx);
    }
    let mut decision_senders = Vec::new();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (index, (operator, inputs)) in operators.into_iter().zip(task_receivers).enumerate() {
            let (epoch_tx, epoch_rx) = mpsc::channel();
            let (decision_tx, decision_rx) = mpsc::channel();
            decision_senders.push(decision_tx);
            let task = Task {
                ctx,
                index: index as u32,
                operator,
                inputs,
                sink: epoch_tx,
            };
            let sink = Sink {
                ctx,
                index: index as u32,
                epochs: epoch_rx,
                decisions: decision_rx,
                acks: ack_tx.clone(),
            };
            handles.push(spawn(scope, ctx, &ack_tx, move || task.run()));
            handles.push(spawn(scope, ctx, &ack_tx, move || sink.run()));
        }
        for index in 0..parallelism {
            let source = Source {
                ctx,
                plan,
                index: index as usize,
                outputs: task_inputs.clone(),
                acks: ack_tx.clone(),
            };
            let starts = source_partitions(ctx, index)
                .map(|p| (p, restored.position(p)))
                .collect();
            handles.push(spawn(scope, ctx, &ack_tx, move || source.run(starts)));
        }
        drop(task_inputs);
        drop(ack_tx);
        let config = CoordinatorConfig {
            job: ctx.job.name.clone(),
            topology: Topology::of(ctx.job, ctx.options.guarantee),
            parallelism,
            input_partitions: ctx.input_partitions,
            sink_mode: ctx.options.sink_mode,
            checkpoint_interval_ms: ctx.options.checkpoint_interval_ms,
            checkpoint_every_records: ctx.options.checkpoint_every_records,
            // A job told when its input ends stops at its end like a bounded run: its
            // sources report "drained" only once the input has ended (`may_end`).
            follow: ctx.options.follow && ctx.options.input_ended.is_none(),
        };
        let core = CoordinatorCore::new(
            config,
            restored.manifest.as_ref(),
            restored.next_id,
            ctx.now_ms(),
        );
        let mut coordinator = Coordinator {
            ctx,
            restored,
            core,
            written: None,
            report: RunReport::default(),
            meters: RunMeters::new(&ctx.job.name, ctx.control.task_clocks.len()),
            written_state_bytes: 0,
        };
        let result = coordinator.run(&ack_rx, &decision_senders);
        if result.is_err() {
            ctx.fail();
        }
        decision_senders.clear();
        for handle in handles {
            let _ = handle.join();
        }
        // A sink can still fail committing the last checkpoint after the coordinator is
        // done: the run is not over until every thread is, and then only without errors.
        let late_failure = ack_rx.try_iter().find_map(|ack| match ack {
            Ack::Failed(error) => Some(error),
            _ => None,
        });
        match (result, late_failure) {
            (Ok(_), Some(error)) => Err(error),
            (result, _) => result,
        }
    })
}

/// Spawns a runtime thread whose error is reported to the coordinator.
fn spawn<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    ctx: &'env RunContext<'env>,
    acks: &Sender<Ack>,
    body: impl FnOnce() -> Result<(), RunError> + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, ()> {
    let acks = acks.clone();
    scope.spawn(move || {
        if let Err(error) = body() {
            ctx.fail();
            let _ = acks.send(Ack::Failed(error));
        }
    })
}

fn source_partitions(ctx: &RunContext<'_>, source: u32) -> impl Iterator<Item = u32> {
    let parallelism = ctx.parallelism();
    (0..ctx.input_partitions).filter(move |p| p % parallelism == source)
}

/// A fresh operator for `task`, holding the key groups it owns in the restored checkpoint.
fn restore_operator<K, T, O>(
    plan: &TypedPlan<K, T, O>,
    ctx: &RunContext<'_>,
    restored: &Restored,
    task: u32,
) -> Result<Box<dyn KeyedOperator<K, T, O>>, RunError> {
    let mut operator = (plan.operator)();
    let range = KeyGroupRange::for_task(task, ctx.job.key_groups, ctx.parallelism());
    for group in range.0 {
        if let Some(bytes) = restored.group_state(group) {
            operator
                .restore(group, bytes)
                .map_err(|source| RunError::Restore { group, source })?;
        }
    }
    Ok(operator)
}

struct Coordinator<'a, 'c> {
    ctx: &'c RunContext<'a>,
    restored: &'c Restored,
    core: CoordinatorCore,
    /// The manifest being committed (written, not yet released to the sinks).
    written: Option<Manifest>,
    report: RunReport,
    meters: RunMeters,
    /// The state bytes of the manifest being committed, for the metrics.
    written_state_bytes: u64,
}

impl Coordinator<'_, '_> {
    fn run(
        &mut self,
        acks: &Receiver<Ack>,
        decisions: &[Sender<u64>],
    ) -> Result<RunReport, RunError> {
        let mut events = VecDeque::from([CoordinatorEvent::Tick]);
        loop {
            while let Some(event) = events.pop_front() {
                let progress = self.progress();
                for action in self.core.handle(event, &progress) {
                    if let Some(next) = self.perform(action, decisions)? {
                        events.push_back(next);
                    }
                }
                if self.core.is_done() {
                    return Ok(self.report.clone());
                }
            }
            let control = &self.ctx.control;
            let now_ms = self.ctx.now_ms();
            (self.meters).publish(
                &self.ctx.options.status,
                &control.task_clocks,
                now_ms,
                false,
            );
            match acks.recv_timeout(Duration::from_millis(1)) {
                Ok(Ack::Failed(error)) => return Err(error),
                Ok(Ack::Event(event)) => events.push_back(event),
                Err(mpsc::RecvTimeoutError::Timeout) => events.push_back(CoordinatorEvent::Tick),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(RunError::Thread("all runtime threads ended early".into()))
                }
            }
            if self.ctx.options.halt.load(Ordering::SeqCst) {
                // Asked to stop at once: no barrier, no manifest; the caller replays.
                return Err(RunError::Halted);
            }
            if self.ctx.failed() {
                // The failing thread's error is on its way; wait for it briefly.
                return match acks.recv_timeout(Duration::from_secs(5)) {
                    Ok(Ack::Failed(error)) => Err(error),
                    _ => Err(RunError::Thread("a runtime thread failed".into())),
                };
            }
        }
    }

    /// What the core needs to know about the run now.
    fn progress(&self) -> Progress {
        let control = &self.ctx.control;
        let options = self.ctx.options;
        Progress {
            now_ms: self.ctx.now_ms(),
            records_in: options.status.records_in.load(Ordering::Relaxed),
            drained: control.drained.iter().all(|d| d.load(Ordering::SeqCst)),
            stopping: options.stop.load(Ordering::SeqCst),
            read_positions: control
                .read_positions
                .iter()
                .map(|p| p.load(Ordering::SeqCst))
                .collect(),
        }
    }

    /// Performs one action; returns the event reporting its completion, if it has one.
    fn perform(
        &mut self,
        action: CoordinatorAction,
        decisions: &[Sender<u64>],
    ) -> Result<Option<CoordinatorEvent>, RunError> {
        let control = &self.ctx.control;
        match action {
            CoordinatorAction::InjectBarrier {
                barrier,
                manifest_id,
                is_final,
                closes_windows,
            } => {
                if is_final {
                    control.final_closes.store(closes_windows, Ordering::SeqCst);
                    control.final_id.store(barrier, Ordering::SeqCst);
                }
                control.manifest_id.store(manifest_id, Ordering::SeqCst);
                control.requested.store(barrier, Ordering::SeqCst);
                self.meters
                    .checkpoint_started(manifest_id, self.ctx.now_ms());
                Ok(None)
            }
            CoordinatorAction::WriteManifest(manifest) => {
                let checkpoint = manifest.to_checkpoint()?;
                self.written_state_bytes = checkpoint.states.values().map(|s| s.len() as u64).sum();
                self.restored
                    .store
                    .write(&checkpoint)
                    .inspect_err(|error| {
                        let location = self.restored.store.location();
                        tracing::error!(%location, id = manifest.id, %error, "writing a manifest");
                    })?;
                let id = manifest.id;
                self.written = Some(*manifest);
                Ok(Some(CoordinatorEvent::ManifestWritten { id }))
            }
            CoordinatorAction::AppendJournal { id } => {
                let entry = JournalEntry {
                    job: self.ctx.job.name.clone(),
                    checkpoint: id,
                    topology: Topology::of(self.ctx.job, self.ctx.options.guarantee),
                };
                self.ctx.output.journal_append(&entry, self.ctx.now_ms())?;
                Ok(Some(CoordinatorEvent::JournalAppended { id }))
            }
            CoordinatorAction::PublishWriteAhead { id } => {
                self.publish_ahead()?;
                Ok(Some(CoordinatorEvent::OutputsPublished { id }))
            }
            CoordinatorAction::ReleaseSinks { barrier, .. } => {
                for decision in decisions {
                    // A sink that is gone has failed; its error reaches us through the acks.
                    let _ = decision.send(barrier);
                }
                Ok(None)
            }
            CoordinatorAction::Completed { id, clock } => {
                self.written = None;
                self.after_commit(id, clock);
                let (control, now_ms) = (&self.ctx.control, self.ctx.now_ms());
                let meters = &mut self.meters;
                meters.checkpoint_committed(id, self.written_state_bytes, now_ms);
                meters.publish(&self.ctx.options.status, &control.task_clocks, now_ms, true);
                Ok(None)
            }
            CoordinatorAction::Finish => Ok(None),
            CoordinatorAction::Abort => Err(RunError::Thread("a runtime thread failed".into())),
        }
    }

    /// Publishes the outputs the manifest being committed wrote ahead (idempotent sink
    /// mode).
    fn publish_ahead(&mut self) -> Result<(), RunError> {
        let Some(manifest) = &self.written else {
            return Err(RunError::Thread(
                "outputs to publish before their manifest was written".into(),
            ));
        };
        let dead_letter_topic = self.ctx.job.dead_letter_topic();
        let letters: usize = manifest
            .write_ahead
            .iter()
            .filter(|((topic, _), _)| *topic == dead_letter_topic)
            .map(|(_, records)| records.len())
            .sum();
        let published = self
            .ctx
            .output
            .publish_ahead(&self.ctx.job.name, manifest)?;
        let status = &self.ctx.options.status;
        status
            .dead_letters
            .fetch_add(letters as u64, Ordering::Relaxed);
        status.records_out.fetch_add(published, Ordering::Relaxed);
        Ok(())
    }

    fn after_commit(&mut self, id: u64, clock: Timestamp) {
        let status = &self.ctx.options.status;
        let min_clock = self
            .ctx
            .control
            .task_clocks
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .min();
        let min_clock = min_clock
            .expect("a run has at least one task: parallelism ≥ 1 is checked before it starts");
        status.min_clock_ms.store(min_clock, Ordering::Relaxed);
        status.checkpoints.fetch_add(1, Ordering::Relaxed);
        status.last_checkpoint_id.store(id, Ordering::Relaxed);
        status
            .last_checkpoint_clock_ms
            .store(clock.0, Ordering::Relaxed);
        self.report.checkpoints += 1;
        self.report.last_checkpoint_id = id;
        self.report.clock = clock;
        self.report.records_in = status.records_in.load(Ordering::Relaxed);
        self.report.records_out = status.records_out.load(Ordering::Relaxed);
        self.report.dead_letters = status.dead_letters.load(Ordering::Relaxed);
        self.write_status(id, clock, min_clock);
    }

    /// Best effort: the status file is for people and tools, never for recovery.
    fn write_status(&self, id: u64, clock: Timestamp, min_clock_ms: i64) {
        let options = self.ctx.options;
        let status = StatusFile {
            job: self.ctx.job.name.clone(),
            guarantee: options.guarantee,
            parallelism: options.parallelism,
            checkpoint_id: id,
            checkpoint_clock_ms: clock.0,
            min_clock_ms,
            records_in: options.status.records_in.load(Ordering::Relaxed),
            updated_ms: self.ctx.now_ms(),
        };
        let path = options.state_dir.join("status.json");
        let bytes = match serde_json::to_vec_pretty(&status) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "encoding the status file");
                return;
            }
        };
        if let Err(error) = write_file_atomically(options.state_storage.as_ref(), &path, &bytes) {
            tracing::warn!(path = %path.display(), %error, "writing the status file");
        }
    }
}
