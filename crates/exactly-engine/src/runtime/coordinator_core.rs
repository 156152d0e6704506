//! [`CoordinatorCore`]: the checkpoint coordinator's decisions as a pure state machine —
//! no threads, no files, no clock reads. The driver (`coordinator.rs`) feeds it events
//! ([`CoordinatorEvent`]: a tick, acknowledgements, "manifest written", "journal appended",
//! "outputs published", a failure) together with a [`Progress`] snapshot (the time, records
//! read, whether the sources are drained or asked to stop), and performs the
//! [`CoordinatorAction`]s it returns, in order, reporting each completed step back.
//!
//! One checkpoint goes: inject barrier → collect one ack per source and per task → write
//! the manifest (the commit point) → append its journal entry → (idempotent sinks) publish
//! the outputs written ahead → let the sinks commit. A checkpoint in which nothing was
//! consumed, changed or output writes nothing: the sinks are released without a commit.
//! Nothing is committed before its manifest is durable, and manifest ids never repeat.

use super::context::sink_transactional_id;
use super::manifest::{Manifest, Target};
use super::options::SinkMode;
use super::topology::Topology;
use super::write_ahead::FIRST_SEQUENCE;
use crate::types::Guarantee;
use exactly_core::Timestamp;
use exactly_log::Record;
use std::collections::{BTreeMap, BTreeSet};

/// What the coordinator of one run needs to know about the job and its options.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// The job's name.
    pub job: String,
    /// The job's topology (recorded in every manifest).
    pub topology: Topology,
    /// Sources and tasks (one ack each per checkpoint).
    pub parallelism: u32,
    /// Partitions of the input topic.
    pub input_partitions: u32,
    /// How exactly-once outputs are published.
    pub sink_mode: SinkMode,
    /// Time between checkpoints.
    pub checkpoint_interval_ms: u64,
    /// Also start a checkpoint after this many input records.
    pub checkpoint_every_records: Option<u64>,
    /// Keep running at the end of the input: a drained input never ends the run (a job
    /// following until its input ends is not `follow` here: its sources report drained
    /// only once the input has ended).
    pub follow: bool,
}

/// The run's figures at the time of an event (read by the driver, never by the core).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Wall time, ms.
    pub now_ms: i64,
    /// Input records read so far in this run.
    pub records_in: u64,
    /// Every source's last poll found nothing new, in a poll started when the input could
    /// end the run (always without `follow`; with it, once `input_ended` was set).
    pub drained: bool,
    /// The run was asked to stop.
    pub stopping: bool,
    /// Per input partition: the next offset read (ahead of barriers; at-most-once
    /// commits these).
    pub read_positions: Vec<u64>,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordinatorEvent {
    /// Time passed (or nothing else happened).
    Tick,
    /// Source `source` injected barrier `barrier` at `positions` (partition, next offset).
    SourceAcked {
        /// The source.
        source: u32,
        /// The barrier.
        barrier: u64,
        /// Its partitions' positions at the barrier.
        positions: Vec<(u32, u64)>,
    },
    /// Task `task` aligned barrier `barrier`; its sink has prepared what it wrote.
    TaskAcked {
        /// The task.
        task: u32,
        /// The barrier.
        barrier: u64,
        /// Its key groups' snapshots.
        states: Vec<(u32, Vec<u8>)>,
        /// Its clock at the barrier.
        clock: Timestamp,
        /// Outputs to write ahead (idempotent sink mode), by topic and partition.
        outputs: Vec<(String, u32, Vec<Record>)>,
        /// Whether its sink wrote anything for this checkpoint (a transaction, appends).
        wrote: bool,
    },
    /// The manifest `id` is durable.
    ManifestWritten {
        /// Manifest id.
        id: u64,
    },
    /// The journal entry of manifest `id` is durable.
    JournalAppended {
        /// Manifest id.
        id: u64,
    },
    /// The outputs manifest `id` wrote ahead are published.
    OutputsPublished {
        /// Manifest id.
        id: u64,
    },
    /// A thread of the run failed.
    Failed,
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordinatorAction {
    /// Start checkpoint `barrier`: sinks name its transactions after `manifest_id`.
    InjectBarrier {
        /// This run's barrier id.
        barrier: u64,
        /// The manifest id it will be written under.
        manifest_id: u64,
        /// Sources end after this barrier.
        is_final: bool,
        /// The final barrier also closes every window (the input ended).
        closes_windows: bool,
    },
    /// Write this manifest durably, then report [`CoordinatorEvent::ManifestWritten`].
    WriteManifest(Box<Manifest>),
    /// Append manifest `id`'s journal entry durably, then report
    /// [`CoordinatorEvent::JournalAppended`].
    AppendJournal {
        /// Manifest id.
        id: u64,
    },
    /// Publish the outputs manifest `id` wrote ahead, then report
    /// [`CoordinatorEvent::OutputsPublished`].
    PublishWriteAhead {
        /// Manifest id.
        id: u64,
    },
    /// Let the sinks go on past `barrier`: commit their prepared transactions (`commit`),
    /// or — an empty checkpoint — only continue.
    ReleaseSinks {
        /// The barrier.
        barrier: u64,
        /// Whether a manifest covers it (its transactions commit).
        commit: bool,
    },
    /// Manifest `id` is complete (status and report).
    Completed {
        /// Manifest id.
        id: u64,
        /// Its clock.
        clock: Timestamp,
    },
    /// The run is over.
    Finish,
    /// The run failed: stop.
    Abort,
}

/// A checkpoint collecting acknowledgements.
#[derive(Debug)]
struct Collecting {
    barrier: u64,
    is_final: bool,
    sources: BTreeSet<u32>,
    tasks: BTreeSet<u32>,
    positions: BTreeMap<u32, u64>,
    states: BTreeMap<u32, Vec<u8>>,
    clock: Timestamp,
    outputs: BTreeMap<Target, Vec<Record>>,
    wrote: bool,
}

/// A manifest on its way to durable and committed.
#[derive(Debug)]
struct Committing {
    barrier: u64,
    is_final: bool,
    id: u64,
    clock: Timestamp,
    positions: BTreeMap<u32, u64>,
    states_hash: u128,
    sequences_after: BTreeMap<Target, u64>,
}

#[derive(Debug)]
enum Phase {
    Idle,
    Collecting(Collecting),
    Writing(Committing),
    Journaling(Committing),
    Publishing(Committing),
    Finished,
    Failed,
}

/// The coordinator's state. See the module documentation.
#[derive(Debug)]
pub struct CoordinatorCore {
    config: CoordinatorConfig,
    next_barrier: u64,
    next_id: u64,
    last_checkpoint_ms: i64,
    records_at_last: u64,
    committed_positions: BTreeMap<u32, u64>,
    committed_states_hash: u128,
    sequences: BTreeMap<Target, u64>,
    phase: Phase,
}

/// A hash of key-group states.
fn states_hash(states: &BTreeMap<u32, Vec<u8>>) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for (group, bytes) in states {
        hasher.update(&group.to_le_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hasher.digest128()
}

impl CoordinatorCore {
    /// A coordinator resuming from `restored` (the newest manifest, if any), numbering
    /// new manifests from `next_id`, at time `now_ms`.
    pub fn new(
        config: CoordinatorConfig,
        restored: Option<&Manifest>,
        next_id: u64,
        now_ms: i64,
    ) -> Self {
        let (committed_positions, states, sequences) = match restored {
            Some(m) => (
                m.positions.clone(),
                m.key_groups.clone(),
                m.sequences_after(),
            ),
            // Nothing restored: every partition at its start, no state, nothing written
            // ahead.
            None => (
                (0..config.input_partitions).map(|p| (p, 0)).collect(),
                BTreeMap::new(),
                BTreeMap::new(),
            ),
        };
        Self {
            config,
            next_barrier: 1,
            next_id,
            last_checkpoint_ms: now_ms,
            records_at_last: 0,
            committed_positions,
            committed_states_hash: states_hash(&states),
            sequences,
            phase: Phase::Idle,
        }
    }

    /// The id the next manifest will be written under.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Whether the run is over (finished or failed).
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Finished | Phase::Failed)
    }

    /// Handles `event` at `progress`; returns what to do, in order.
    pub fn handle(
        &mut self,
        event: CoordinatorEvent,
        progress: &Progress,
    ) -> Vec<CoordinatorAction> {
        if self.is_done() {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if event == CoordinatorEvent::Failed {
            self.phase = Phase::Failed;
            actions.push(CoordinatorAction::Abort);
            return actions;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        self.phase = match (phase, event) {
            (Phase::Collecting(mut pending), event) => {
                pending.record(event);
                if pending.is_complete(self.config.parallelism) {
                    self.complete(pending, progress, &mut actions)
                } else {
                    Phase::Collecting(pending)
                }
            }
            (Phase::Writing(c), CoordinatorEvent::ManifestWritten { id }) if id == c.id => {
                actions.push(CoordinatorAction::AppendJournal { id });
                Phase::Journaling(c)
            }
            (Phase::Journaling(c), CoordinatorEvent::JournalAppended { id }) if id == c.id => {
                if self.writes_ahead() {
                    actions.push(CoordinatorAction::PublishWriteAhead { id });
                    Phase::Publishing(c)
                } else {
                    self.committed(c, progress, &mut actions)
                }
            }
            (Phase::Publishing(c), CoordinatorEvent::OutputsPublished { id }) if id == c.id => {
                self.committed(c, progress, &mut actions)
            }
            (phase, _) => phase,
        };
        if matches!(self.phase, Phase::Idle) {
            self.maybe_trigger(progress, &mut actions);
        }
        actions
    }

    fn writes_ahead(&self) -> bool {
        self.config.topology.guarantee == Guarantee::ExactlyOnce
            && self.config.sink_mode == SinkMode::Idempotent
    }

    fn maybe_trigger(&mut self, progress: &Progress, actions: &mut Vec<CoordinatorAction>) {
        let drained = !self.config.follow && progress.drained;
        let interval = match i64::try_from(self.config.checkpoint_interval_ms) {
            Ok(interval) => interval,
            // Beyond i64 milliseconds (292 million years): never due by time.
            Err(_) => i64::MAX,
        };
        let due_by_time = progress.now_ms.saturating_sub(self.last_checkpoint_ms) >= interval;
        let due_by_records = self.config.checkpoint_every_records.is_some_and(|every| {
            progress.records_in >= self.records_at_last.saturating_add(every.max(1))
        });
        if !(progress.stopping || drained || due_by_time || due_by_records) {
            return;
        }
        let barrier = self.next_barrier;
        self.next_barrier += 1;
        self.records_at_last = progress.records_in;
        let is_final = progress.stopping || drained;
        actions.push(CoordinatorAction::InjectBarrier {
            barrier,
            manifest_id: self.next_id,
            is_final,
            closes_windows: drained && !progress.stopping,
        });
        self.phase = Phase::Collecting(Collecting {
            barrier,
            is_final,
            sources: BTreeSet::new(),
            tasks: BTreeSet::new(),
            positions: BTreeMap::new(),
            states: BTreeMap::new(),
            clock: Timestamp::MAX,
            outputs: BTreeMap::new(),
            wrote: false,
        });
    }

    /// Every ack is in: skip an empty checkpoint, or write its manifest.
    fn complete(
        &mut self,
        pending: Collecting,
        progress: &Progress,
        actions: &mut Vec<CoordinatorAction>,
    ) -> Phase {
        let mut positions = pending.positions;
        if self.config.topology.guarantee == Guarantee::AtMostOnce {
            // At-most-once commits where the sources have *read* to, ahead of the state:
            // a crash skips what was read but not yet checkpointed.
            for (partition, ahead) in progress.read_positions.iter().enumerate() {
                let entry = positions.entry(partition as u32).or_insert(0);
                *entry = (*entry).max(*ahead);
            }
        }
        let states_hash = states_hash(&pending.states);
        let outputs_empty = !pending.wrote && pending.outputs.values().all(Vec::is_empty);
        if outputs_empty
            && positions == self.committed_positions
            && states_hash == self.committed_states_hash
        {
            // Nothing consumed, changed or output: nothing to make durable.
            actions.push(CoordinatorAction::ReleaseSinks {
                barrier: pending.barrier,
                commit: false,
            });
            self.last_checkpoint_ms = progress.now_ms;
            return self.after(pending.is_final, actions);
        }
        let id = self.next_id;
        let mut manifest = Manifest {
            id,
            job: self.config.job.clone(),
            topology: self.config.topology.clone(),
            parallelism: self.config.parallelism,
            sink_mode: self.config.sink_mode,
            clock: pending.clock,
            positions: positions.clone(),
            key_groups: pending.states,
            sink_transactions: (0..self.config.parallelism)
                .map(|task| sink_transactional_id(&self.config.job, task, id))
                .collect(),
            sequences: BTreeMap::new(),
            write_ahead: BTreeMap::new(),
        };
        // Sequences are carried in every manifest, so a job may switch sink modes between
        // runs without reusing an id (`outputs` is empty unless writing ahead).
        manifest.sequences = self.sequences.clone();
        for (target, records) in pending.outputs {
            // A partition never written ahead starts at the first sequence.
            let base = match self.sequences.get(&target) {
                Some(&base) => base,
                None => FIRST_SEQUENCE,
            };
            manifest.sequences.insert(target.clone(), base);
            manifest.write_ahead.insert(target, records);
        }
        let committing = Committing {
            barrier: pending.barrier,
            is_final: pending.is_final,
            id,
            clock: manifest.clock,
            positions,
            states_hash,
            sequences_after: manifest.sequences_after(),
        };
        actions.push(CoordinatorAction::WriteManifest(Box::new(manifest)));
        Phase::Writing(committing)
    }

    /// Manifest `c` is durable, journaled and (idempotent) published: commit.
    fn committed(
        &mut self,
        c: Committing,
        progress: &Progress,
        actions: &mut Vec<CoordinatorAction>,
    ) -> Phase {
        self.committed_positions = c.positions;
        self.committed_states_hash = c.states_hash;
        self.sequences = c.sequences_after;
        self.next_id = c.id + 1;
        self.last_checkpoint_ms = progress.now_ms;
        actions.push(CoordinatorAction::ReleaseSinks {
            barrier: c.barrier,
            commit: true,
        });
        actions.push(CoordinatorAction::Completed {
            id: c.id,
            clock: c.clock,
        });
        self.after(c.is_final, actions)
    }

    fn after(&mut self, is_final: bool, actions: &mut Vec<CoordinatorAction>) -> Phase {
        if is_final {
            actions.push(CoordinatorAction::Finish);
            Phase::Finished
        } else {
            Phase::Idle
        }
    }
}

impl Collecting {
    fn record(&mut self, event: CoordinatorEvent) {
        match event {
            CoordinatorEvent::SourceAcked {
                source,
                barrier,
                positions,
            } if barrier == self.barrier => {
                self.sources.insert(source);
                self.positions.extend(positions);
            }
            CoordinatorEvent::TaskAcked {
                task,
                barrier,
                states,
                clock,
                outputs,
                wrote,
            } if barrier == self.barrier => {
                self.tasks.insert(task);
                self.wrote |= wrote;
                for (topic, partition, records) in outputs {
                    let slot = self.outputs.entry((topic, partition)).or_default();
                    slot.extend(records);
                }
                self.clock = self.clock.min(clock);
                self.states.extend(states);
            }
            _ => {}
        }
    }

    fn is_complete(&self, parallelism: u32) -> bool {
        self.sources.len() == parallelism as usize && self.tasks.len() == parallelism as usize
    }
}
