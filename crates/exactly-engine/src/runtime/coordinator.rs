//! The coordinator: starts the tasks, triggers checkpoints, gathers acknowledgements,
//! writes the manifest (the commit point) and its journal entry, and tells sinks to commit.
//!
//! An empty checkpoint — no input consumed, no state changed, nothing output — is skipped:
//! no manifest, no journal entry, no transaction (an idle `--follow` job writes nothing).

use super::context::{group_state_name, position_name, RunContext};
use super::error::RunError;
use super::journal::{self, JournalEntry};
use super::messages::Ack;
use super::options::SinkMode;
use super::plan::{Plan, TypedPlan};
use super::recovery::Restored;
use super::recovery::MANIFEST_VERSION;
use super::report::{RunReport, StatusFile};
use super::sink::Sink;
use super::source::Source;
use super::task::Task;
use super::topology::Topology;
use super::write_ahead::{self, Sequences, Target};
use crate::key_group::KeyGroupRange;
use crate::operator::KeyedOperator;
use crate::types::{GroupKey, Guarantee, OutputRecord};
use exactly_core::storage::write_file_atomically;
use exactly_core::Timestamp;
use exactly_state::Checkpoint;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

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
                .map(|p| (p, restored.position(&ctx.job.source, p)))
                .collect();
            handles.push(spawn(scope, ctx, &ack_tx, move || source.run(starts)));
        }
        drop(task_inputs);
        drop(ack_tx);
        let mut coordinator = Coordinator {
            ctx,
            restored,
            next_barrier: 1,
            next_id: restored.next_id,
            committed: Committed::restored(ctx, restored),
            pending: None,
            last_checkpoint: Instant::now(),
            records_at_last: 0,
            report: RunReport::default(),
            sequences: match &restored.checkpoint {
                Some(checkpoint) => Sequences::after(checkpoint)?,
                None => Sequences::default(),
            },
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

/// A checkpoint in progress.
struct Pending {
    /// Its barrier id (this run's count of started checkpoints).
    barrier: u64,
    sources_acked: usize,
    tasks_acked: usize,
    positions: BTreeMap<String, u64>,
    states: BTreeMap<String, Vec<u8>>,
    clock: Timestamp,
    /// Outputs to write ahead (idempotent sink mode), by output partition.
    outputs: BTreeMap<Target, Vec<exactly_log::Record>>,
    /// Whether any sink wrote something (a transaction, appends) for it.
    sinks_wrote: bool,
}

/// What the newest manifest holds, to tell an empty checkpoint from a real one.
struct Committed {
    positions: BTreeMap<String, u64>,
    /// xxh3-128 of the key-group states (names and bytes).
    states_hash: u128,
}

impl Committed {
    /// The restored manifest's positions and states (every input partition at 0 and no
    /// state when nothing was restored).
    fn restored(ctx: &RunContext<'_>, restored: &Restored) -> Self {
        let positions = (0..ctx.input_partitions)
            .map(|p| {
                let name = position_name(&ctx.job.source, p);
                (name, restored.position(&ctx.job.source, p))
            })
            .collect();
        let states = restored.checkpoint.as_ref().map(|c| &c.states);
        Self {
            positions,
            states_hash: states_hash(states.into_iter().flatten()),
        }
    }
}

/// A hash of the key-group states (`kg/…`) among `states`.
fn states_hash<'s>(states: impl Iterator<Item = (&'s String, &'s Vec<u8>)>) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for (name, bytes) in states.filter(|(name, _)| name.starts_with("kg/")) {
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hasher.digest128()
}

struct Coordinator<'a, 'c> {
    ctx: &'c RunContext<'a>,
    restored: &'c Restored,
    /// The next barrier id of this run.
    next_barrier: u64,
    /// The next manifest id of the job.
    next_id: u64,
    /// The newest manifest's positions and state.
    committed: Committed,
    pending: Option<Pending>,
    last_checkpoint: Instant,
    records_at_last: u64,
    report: RunReport,
    /// Next output sequence per partition (idempotent sink mode).
    sequences: Sequences,
}

impl Coordinator<'_, '_> {
    fn run(
        &mut self,
        acks: &Receiver<Ack>,
        decisions: &[Sender<u64>],
    ) -> Result<RunReport, RunError> {
        loop {
            if self.pending.is_none() {
                self.maybe_trigger();
            }
            match acks.recv_timeout(Duration::from_millis(1)) {
                Ok(Ack::Failed(error)) => return Err(error),
                Ok(ack) => self.record(ack),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(RunError::Thread("all runtime threads ended early".into()))
                }
            }
            if self.ctx.failed() {
                // The failing thread's error is on its way; wait for it briefly.
                return match acks.recv_timeout(Duration::from_secs(5)) {
                    Ok(Ack::Failed(error)) => Err(error),
                    _ => Err(RunError::Thread("a runtime thread failed".into())),
                };
            }
            if self.is_complete() {
                let done = self.complete(decisions)?;
                if done {
                    return Ok(self.report.clone());
                }
            }
        }
    }

    fn maybe_trigger(&mut self) {
        let control = &self.ctx.control;
        let options = self.ctx.options;
        let stopping = options.stop.load(Ordering::SeqCst);
        let drained = !options.follow && control.drained.iter().all(|d| d.load(Ordering::SeqCst));
        let records = options.status.records_in.load(Ordering::Relaxed);
        let due_by_time =
            self.last_checkpoint.elapsed() >= Duration::from_millis(options.checkpoint_interval_ms);
        let due_by_records = options
            .checkpoint_every_records
            .is_some_and(|every| records >= self.records_at_last.saturating_add(every.max(1)));
        if !(stopping || drained || due_by_time || due_by_records) {
            return;
        }
        let id = self.next_barrier;
        self.next_barrier += 1;
        if stopping || drained {
            control
                .final_closes
                .store(drained && !stopping, Ordering::SeqCst);
            control.final_id.store(id, Ordering::SeqCst);
        }
        self.records_at_last = records;
        control.manifest_id.store(self.next_id, Ordering::SeqCst);
        self.pending = Some(Pending {
            barrier: id,
            sinks_wrote: false,
            sources_acked: 0,
            tasks_acked: 0,
            positions: BTreeMap::new(),
            states: BTreeMap::new(),
            clock: Timestamp::MAX,
            outputs: BTreeMap::new(),
        });
        control.requested.store(id, Ordering::SeqCst);
    }

    fn record(&mut self, ack: Ack) {
        let source = &self.ctx.job.source;
        let Some(pending) = self.pending.as_mut() else {
            return;
        };
        match ack {
            Ack::Source {
                checkpoint_id,
                positions,
            } if checkpoint_id == pending.barrier => {
                pending.sources_acked += 1;
                for (partition, offset) in positions {
                    pending
                        .positions
                        .insert(position_name(source, partition), offset);
                }
            }
            Ack::Task {
                checkpoint_id,
                states,
                clock,
                outputs,
                wrote,
            } if checkpoint_id == pending.barrier => {
                pending.sinks_wrote |= wrote;
                for (topic, partition, records) in outputs {
                    let slot = pending.outputs.entry((topic, partition)).or_default();
                    slot.extend(records);
                }
                pending.tasks_acked += 1;
                pending.clock = pending.clock.min(clock);
                for (group, bytes) in states {
                    pending.states.insert(group_state_name(group), bytes);
                }
            }
            _ => {}
        }
    }

    fn is_complete(&self) -> bool {
        let parallelism = self.ctx.parallelism() as usize;
        self.pending
            .as_ref()
            .is_some_and(|p| p.sources_acked == parallelism && p.tasks_acked == parallelism)
    }

    /// Writes the manifest and its journal entry, then lets the sinks commit — or skips an
    /// empty checkpoint. Returns whether the run is over.
    fn complete(&mut self, decisions: &[Sender<u64>]) -> Result<bool, RunError> {
        let Some(pending) = self.pending.take() else {
            return Ok(false);
        };
        let barrier = pending.barrier;
        let is_final = self.ctx.control.final_id.load(Ordering::SeqCst) == barrier;
        let outputs_empty = !pending.sinks_wrote && pending.outputs.values().all(Vec::is_empty);
        let checkpoint = self.manifest(pending)?;
        let states_hash = states_hash(checkpoint.states.iter());
        if outputs_empty
            && checkpoint.positions == self.committed.positions
            && states_hash == self.committed.states_hash
        {
            // Nothing consumed, changed or output: nothing to make durable. The sinks
            // began no transaction; they only wait for the go-ahead.
            for decision in decisions {
                let _ = decision.send(barrier);
            }
            self.last_checkpoint = Instant::now();
            return Ok(is_final);
        }
        self.restored.store.write(&checkpoint)?;
        let entry = JournalEntry {
            job: self.ctx.job.name.clone(),
            checkpoint: checkpoint.id,
            topology: Topology::of(self.ctx.job, self.ctx.options.guarantee),
        };
        journal::append(self.ctx.log, &entry, self.ctx.now_ms())?;
        self.committed = Committed {
            positions: checkpoint.positions.clone(),
            states_hash,
        };
        if self.ctx.writes_ahead() {
            self.publish_ahead(&checkpoint)?;
        }
        for decision in decisions {
            // A sink that is gone has failed; its error reaches us through the acks.
            let _ = decision.send(barrier);
        }
        self.after_commit(&checkpoint);
        self.next_id += 1;
        self.last_checkpoint = Instant::now();
        Ok(is_final)
    }

    /// Publishes the outputs `checkpoint` wrote ahead (idempotent sink mode).
    fn publish_ahead(&mut self, checkpoint: &Checkpoint) -> Result<(), RunError> {
        let dead_letter_topic = self.ctx.job.dead_letter_topic();
        let letters: usize = write_ahead::outputs(checkpoint)?
            .iter()
            .filter(|((topic, _), _)| *topic == dead_letter_topic)
            .map(|(_, records)| records.len())
            .sum();
        let published = write_ahead::publish(self.ctx.log, &self.ctx.job.name, checkpoint)?;
        let status = &self.ctx.options.status;
        status
            .dead_letters
            .fetch_add(letters as u64, Ordering::Relaxed);
        status.records_out.fetch_add(published, Ordering::Relaxed);
        self.sequences = Sequences::after(checkpoint)?;
        Ok(())
    }

    fn manifest(&self, pending: Pending) -> Result<Checkpoint, RunError> {
        let ctx = self.ctx;
        let outputs = pending.outputs;
        let mut positions = pending.positions;
        if ctx.options.guarantee == Guarantee::AtMostOnce {
            // At-most-once commits where the sources have *read* to, ahead of the state:
            // a crash skips what was read but not yet checkpointed.
            for (partition, position) in ctx.control.read_positions.iter().enumerate() {
                let name = position_name(&ctx.job.source, partition as u32);
                let ahead = position.load(Ordering::SeqCst);
                let entry = positions.entry(name).or_insert(0);
                *entry = (*entry).max(ahead);
            }
        }
        let id = self.next_id;
        let sinks: Vec<String> = (0..ctx.parallelism())
            .map(|task| ctx.sink_txn_id(task, id))
            .collect();
        let topology = Topology::of(ctx.job, ctx.options.guarantee);
        let topology = serde_json::to_string(&topology).map_err(|e| RunError::Encode {
            what: "the topology",
            source: exactly_state::SnapshotError::Encode(e.to_string()),
        })?;
        let metadata = BTreeMap::from([
            ("manifest_version".to_string(), MANIFEST_VERSION.to_string()),
            ("topology".to_string(), topology),
            ("kind".to_string(), ctx.job.kind.clone()),
            ("dead_letters".to_string(), ctx.job.dead_letter_topic()),
            (
                "sink_mode".to_string(),
                match ctx.options.sink_mode {
                    SinkMode::Transactional => "transactional",
                    SinkMode::Idempotent => "idempotent",
                }
                .to_string(),
            ),
            ("job".to_string(), ctx.job.name.clone()),
            ("source".to_string(), ctx.job.source.clone()),
            ("sink".to_string(), ctx.job.sink.clone()),
            ("key_groups".to_string(), ctx.job.key_groups.to_string()),
            ("parallelism".to_string(), ctx.parallelism().to_string()),
            (
                "guarantee".to_string(),
                ctx.options.guarantee.as_str().to_string(),
            ),
            ("sinks".to_string(), sinks.join(",")),
        ]);
        let mut checkpoint = Checkpoint {
            id,
            clock: pending.clock,
            positions,
            states: pending.states,
            metadata,
        };
        // Sequences are carried in every manifest, so a job may switch sink modes between
        // runs without reusing an id (`outputs` is empty unless writing ahead).
        self.sequences.record(&mut checkpoint, outputs)?;
        Ok(checkpoint)
    }

    fn after_commit(&mut self, checkpoint: &Checkpoint) {
        let status = &self.ctx.options.status;
        let min_clock = self
            .ctx
            .control
            .task_clocks
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .min()
            .unwrap_or(i64::MIN);
        status.min_clock_ms.store(min_clock, Ordering::Relaxed);
        status.checkpoints.fetch_add(1, Ordering::Relaxed);
        status
            .last_checkpoint_id
            .store(checkpoint.id, Ordering::Relaxed);
        status
            .last_checkpoint_clock_ms
            .store(checkpoint.clock.0, Ordering::Relaxed);
        self.report.checkpoints += 1;
        self.report.last_checkpoint_id = checkpoint.id;
        self.report.clock = checkpoint.clock;
        self.report.records_in = status.records_in.load(Ordering::Relaxed);
        self.report.records_out = status.records_out.load(Ordering::Relaxed);
        self.report.dead_letters = status.dead_letters.load(Ordering::Relaxed);
        self.write_status(checkpoint, min_clock);
    }

    /// Best effort: the status file is for people and tools, never for recovery.
    fn write_status(&self, checkpoint: &Checkpoint, min_clock_ms: i64) {
        let options = self.ctx.options;
        let status = StatusFile {
            job: self.ctx.job.name.clone(),
            guarantee: options.guarantee,
            parallelism: options.parallelism,
            checkpoint_id: checkpoint.id,
            checkpoint_clock_ms: checkpoint.clock.0,
            min_clock_ms,
            records_in: options.status.records_in.load(Ordering::Relaxed),
            updated_ms: self.ctx.now_ms(),
        };
        if let Ok(bytes) = serde_json::to_vec_pretty(&status) {
            let path = options.state_dir.join("status.json");
            let _ = write_file_atomically(options.state_storage.as_ref(), &path, &bytes);
        }
    }
}
