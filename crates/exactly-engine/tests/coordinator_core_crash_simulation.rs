//! Deterministic simulation of the pure checkpoint coordinator ([`CoordinatorCore`]) in a
//! simulated job: two sources (one input partition each), two keyed tasks aligning barriers
//! with [`BarrierAligner`], two transactional sinks, a manifest store and a journal. A
//! seeded scheduler (either sink mode: transactions, or outputs written ahead in the
//! manifest and published by an idempotent producer) interleaves every actor's steps at random (reads, barrier injection,
//! deliveries, sink prepares and commits, acknowledgements, ticks, and each of the
//! coordinator's actions one at a time), and crashes the machine between any two steps,
//! up to twice, before a last run to the end.
//!
//! The oracle is naive and independent of the core: after each crash, recovery commits
//! the prepared transactions the newest manifest names and aborts the rest, and publishes
//! the newest manifest's write-ahead outputs again, de-duplicated by sequence; the committed
//! outputs must then be exactly the input records below the newest manifest's positions,
//! each once, and each task's restored state the sum of exactly those records. At the end
//! every input record is committed exactly once. Manifest ids never repeat.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::Timestamp;
use exactly_engine::runtime::{
    CoordinatorAction, CoordinatorConfig, CoordinatorCore, CoordinatorEvent, Manifest, Progress,
};
use exactly_engine::{
    sink_transactional_id, BarrierAligner, BarrierEvent, Guarantee, SinkMode, Topology,
};
use exactly_log::Record;
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};

const JOB: &str = "sim";
const TASKS: u32 = 2;
const STEPS_MAX: usize = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxnState {
    Prepared,
    Committed,
    Aborted,
}

/// What survives a crash.
#[derive(Default)]
struct Durable {
    manifests: Vec<Manifest>,
    journal: Vec<u64>,
    /// Transactional id → its newest transaction.
    txns: BTreeMap<String, (TxnState, Vec<u64>)>,
    /// Every manifest id ever written, in order.
    ids: Vec<u64>,
    /// Outputs of committed transactions whose id was used again since.
    settled: Vec<u64>,
    /// Output partition → the idempotent producer's records, by sequence (index).
    published: BTreeMap<(String, u32), Vec<u64>>,
}

impl Durable {
    fn committed(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .txns
            .values()
            .filter(|(state, _)| *state == TxnState::Committed)
            .flat_map(|(_, items)| items.iter().copied())
            .collect();
        out.extend(self.settled.iter().copied());
        out.extend(self.published.values().flatten().copied());
        out.sort_unstable();
        out
    }
}

enum ToTask {
    Data(u64),
    Barrier(u64),
}

struct Source {
    partition: u32,
    next: u64,
    injected: u64,
    ended: bool,
}

struct Task {
    sum: u64,
    aligner: BarrierAligner,
    inputs: Vec<VecDeque<ToTask>>,
    epoch: Vec<u64>,
    /// Aligned epochs waiting for the sink: (barrier, outputs, state).
    to_sink: VecDeque<(u64, Vec<u64>, u64)>,
    /// The barrier the sink waits to be released for, and its transaction.
    awaiting: Option<(u64, Option<String>)>,
    released: VecDeque<u64>,
}

struct Run<'a> {
    rng: &'a mut SmallRng,
    input: &'a [Vec<u64>],
    durable: &'a mut Durable,
    core: CoordinatorCore,
    sources: Vec<Source>,
    tasks: Vec<Task>,
    acks: VecDeque<CoordinatorEvent>,
    actions: VecDeque<CoordinatorAction>,
    requested: u64,
    manifest_for: BTreeMap<u64, u64>,
    final_barrier: Option<u64>,
    now_ms: i64,
    records_in: u64,
    finished: bool,
    idempotent: bool,
}

fn config(rng: &mut SmallRng) -> CoordinatorConfig {
    CoordinatorConfig {
        job: JOB.into(),
        topology: Topology {
            kind: "sum".into(),
            input: "in".into(),
            output: "out".into(),
            audit: None,
            dead_letters: "out.dead-letters".into(),
            guarantee: Guarantee::ExactlyOnce,
            key_groups: TASKS,
        },
        parallelism: TASKS,
        input_partitions: TASKS,
        sink_mode: if rng.random_bool(0.5) {
            SinkMode::Idempotent
        } else {
            SinkMode::Transactional
        },
        checkpoint_interval_ms: rng.random_range(1..60),
        checkpoint_every_records: if rng.random_bool(0.5) {
            Some(rng.random_range(1..15))
        } else {
            None
        },
        follow: false,
    }
}

impl<'a> Run<'a> {
    fn start(
        rng: &'a mut SmallRng,
        input: &'a [Vec<u64>],
        durable: &'a mut Durable,
        config: CoordinatorConfig,
    ) -> Self {
        let restored = durable.manifests.last().cloned();
        let next_id = durable
            .ids
            .iter()
            .chain(durable.journal.iter())
            .max()
            .map_or(1, |id| id + 1);
        let idempotent = config.sink_mode == SinkMode::Idempotent;
        let core = CoordinatorCore::new(config, restored.as_ref(), next_id, 0);
        let sources = (0..TASKS)
            .map(|p| Source {
                partition: p,
                next: restored.as_ref().map_or(0, |m| m.positions[&p]),
                injected: 0,
                ended: false,
            })
            .collect();
        let tasks = (0..TASKS)
            .map(|t| Task {
                sum: restored
                    .as_ref()
                    .and_then(|m| m.key_groups.get(&t))
                    .map_or(0, |b| u64::from_le_bytes(b.as_slice().try_into().unwrap())),
                aligner: BarrierAligner::new(TASKS as usize),
                inputs: (0..TASKS).map(|_| VecDeque::new()).collect(),
                epoch: Vec::new(),
                to_sink: VecDeque::new(),
                awaiting: None,
                released: VecDeque::new(),
            })
            .collect();
        let mut run = Run {
            rng,
            input,
            durable,
            core,
            sources,
            tasks,
            acks: VecDeque::new(),
            actions: VecDeque::new(),
            requested: 0,
            manifest_for: BTreeMap::new(),
            final_barrier: None,
            now_ms: 0,
            records_in: 0,
            finished: false,
            idempotent,
        };
        run.feed(CoordinatorEvent::Tick);
        run
    }

    fn progress(&self) -> Progress {
        Progress {
            now_ms: self.now_ms,
            records_in: self.records_in,
            drained: self
                .sources
                .iter()
                .all(|s| s.next as usize == self.input[s.partition as usize].len()),
            stopping: false,
            read_positions: self.sources.iter().map(|s| s.next).collect(),
        }
    }

    fn feed(&mut self, event: CoordinatorEvent) {
        let progress = self.progress();
        let actions = self.core.handle(event, &progress);
        self.actions.extend(actions);
    }

    /// One step of one actor; false if nothing could move.
    fn step(&mut self) -> bool {
        let choice = self.rng.random_range(0..6);
        match choice {
            0 => self.coordinator_step(),
            1 => {
                let s = self.rng.random_range(0..TASKS as usize);
                self.source_step(s)
            }
            2 | 3 => {
                let t = self.rng.random_range(0..TASKS as usize);
                self.task_step(t)
            }
            4 => {
                let t = self.rng.random_range(0..TASKS as usize);
                self.sink_step(t)
            }
            _ => {
                self.now_ms += self.rng.random_range(0..5);
                true
            }
        }
    }

    fn coordinator_step(&mut self) -> bool {
        if let Some(action) = self.actions.pop_front() {
            self.perform(action);
            return true;
        }
        match self.acks.pop_front() {
            Some(ack) => self.feed(ack),
            None => self.feed(CoordinatorEvent::Tick),
        }
        true
    }

    fn perform(&mut self, action: CoordinatorAction) {
        match action {
            CoordinatorAction::InjectBarrier {
                barrier,
                manifest_id,
                is_final,
                ..
            } => {
                self.manifest_for.insert(barrier, manifest_id);
                if is_final {
                    self.final_barrier = Some(barrier);
                }
                self.requested = barrier;
            }
            CoordinatorAction::WriteManifest(manifest) => {
                let id = manifest.id;
                assert!(
                    self.durable.ids.last().is_none_or(|last| *last < id),
                    "manifest id {id} after {:?}",
                    self.durable.ids
                );
                self.durable.ids.push(id);
                self.durable.manifests.push(*manifest);
                self.feed(CoordinatorEvent::ManifestWritten { id });
            }
            CoordinatorAction::AppendJournal { id } => {
                self.durable.journal.push(id);
                self.feed(CoordinatorEvent::JournalAppended { id });
            }
            CoordinatorAction::PublishWriteAhead { id } => {
                let newest = self.durable.manifests.last().cloned().expect("a manifest");
                assert_eq!(newest.id, id, "publishing outputs of another manifest");
                publish(self.durable, &newest);
                self.feed(CoordinatorEvent::OutputsPublished { id });
            }
            CoordinatorAction::ReleaseSinks { barrier, commit } => {
                for task in &mut self.tasks {
                    task.released.push_back(barrier);
                }
                if commit {
                    let newest = self.durable.manifests.last().expect("a manifest");
                    assert_eq!(
                        Some(&newest.id),
                        self.manifest_for.get(&barrier),
                        "sinks released to commit barrier {barrier} before its manifest"
                    );
                }
            }
            CoordinatorAction::Completed { .. } => {}
            CoordinatorAction::Finish => self.finished = true,
            CoordinatorAction::Abort => panic!("no failure was injected"),
        }
    }

    fn source_step(&mut self, s: usize) -> bool {
        let source = &mut self.sources[s];
        if source.ended {
            return false;
        }
        if self.requested > source.injected {
            source.injected = self.requested;
            let barrier = self.requested;
            self.acks.push_back(CoordinatorEvent::SourceAcked {
                source: s as u32,
                barrier,
                positions: vec![(source.partition, source.next)],
            });
            for task in &mut self.tasks {
                task.inputs[s].push_back(ToTask::Barrier(barrier));
            }
            if self.final_barrier == Some(barrier) {
                source.ended = true;
            }
            return true;
        }
        let partition = &self.input[source.partition as usize];
        let Some(&value) = partition.get(source.next as usize) else {
            return false;
        };
        source.next += 1;
        self.records_in += 1;
        let task = (value % u64::from(TASKS)) as usize;
        self.tasks[task].inputs[s].push_back(ToTask::Data(value));
        true
    }

    fn task_step(&mut self, t: usize) -> bool {
        let task = &mut self.tasks[t];
        let ready: Vec<usize> = (0..TASKS as usize)
            .filter(|i| !task.inputs[*i].is_empty() && task.aligner.accepts(*i))
            .collect();
        if ready.is_empty() {
            return false;
        }
        let input = ready[self.rng.random_range(0..ready.len())];
        match task.inputs[input].pop_front().unwrap() {
            ToTask::Data(value) => {
                task.sum += value;
                task.epoch.push(value);
            }
            ToTask::Barrier(barrier) => {
                let event = task.aligner.on_barrier(input, barrier);
                task.aligner.debug_check_consistency();
                if let BarrierEvent::Aligned(id) = event {
                    let outputs = std::mem::take(&mut task.epoch);
                    task.to_sink.push_back((id, outputs, task.sum));
                }
            }
        }
        true
    }

    fn sink_step(&mut self, t: usize) -> bool {
        let task = &mut self.tasks[t];
        if let Some((barrier, txn)) = task.awaiting.clone() {
            let Some(released) = task.released.pop_front() else {
                return false;
            };
            assert_eq!(released, barrier, "sink {t} released for another barrier");
            if let Some(id) = txn {
                let slot = self.durable.txns.get_mut(&id).unwrap();
                assert_eq!(slot.0, TxnState::Prepared);
                slot.0 = TxnState::Committed;
            }
            task.awaiting = None;
            return true;
        }
        let Some((barrier, outputs, sum)) = task.to_sink.pop_front() else {
            return false;
        };
        if self.idempotent {
            // Written ahead in the manifest, published by the coordinator.
            let records = outputs
                .iter()
                .map(|v| Record {
                    timestamp: Timestamp(0),
                    key: None,
                    value: v.to_le_bytes().to_vec(),
                })
                .collect::<Vec<_>>();
            task.awaiting = Some((barrier, None));
            self.acks.push_back(CoordinatorEvent::TaskAcked {
                task: t as u32,
                barrier,
                states: vec![(t as u32, sum.to_le_bytes().to_vec())],
                clock: Timestamp(0),
                outputs: if records.is_empty() {
                    Vec::new()
                } else {
                    vec![("out".to_string(), t as u32, records)]
                },
                wrote: false,
            });
            return true;
        }
        let wrote = !outputs.is_empty();
        let txn = wrote.then(|| {
            let manifest_id = self.manifest_for[&barrier];
            let id = sink_transactional_id(JOB, t as u32, manifest_id);
            let previous = self
                .durable
                .txns
                .insert(id.clone(), (TxnState::Prepared, outputs));
            if let Some((state, items)) = previous {
                assert_ne!(state, TxnState::Prepared, "{id} reused while prepared");
                if state == TxnState::Committed {
                    self.durable.settled.extend(items);
                }
            }
            id
        });
        task.awaiting = Some((barrier, txn));
        self.acks.push_back(CoordinatorEvent::TaskAcked {
            task: t as u32,
            barrier,
            states: vec![(t as u32, sum.to_le_bytes().to_vec())],
            clock: Timestamp(0),
            outputs: Vec::new(),
            wrote,
        });
        true
    }
}

/// Appends `manifest`'s write-ahead outputs as an idempotent producer: a record whose
/// sequence the partition already holds is dropped, a gap is refused.
fn publish(durable: &mut Durable, manifest: &Manifest) {
    for (target, records) in &manifest.write_ahead {
        let base = manifest.sequences[target];
        let log = durable.published.entry(target.clone()).or_default();
        let written = log.len() as u64;
        assert!(
            written >= base,
            "{target:?}: base sequence {base} beyond the {written} records written"
        );
        for record in records.iter().skip((written - base) as usize) {
            log.push(u64::from_le_bytes(
                record.value.as_slice().try_into().unwrap(),
            ));
        }
    }
}

/// Recovery, naively: settle every prepared transaction against the newest manifest and
/// publish its write-ahead outputs again (the producer drops what it already holds).
fn recover(durable: &mut Durable) {
    if let Some(newest) = durable.manifests.last().cloned() {
        publish(durable, &newest);
    }
    let newest = durable.manifests.last().cloned();
    for (id, (state, _)) in durable.txns.iter_mut() {
        if *state == TxnState::Prepared {
            let covered = newest
                .as_ref()
                .is_some_and(|m| m.sink_transactions.contains(id));
            *state = if covered {
                TxnState::Committed
            } else {
                TxnState::Aborted
            };
        }
    }
}

/// What must be committed once the newest manifest is `newest`.
fn expected(input: &[Vec<u64>], newest: Option<&Manifest>) -> Vec<u64> {
    let mut out: Vec<u64> = input
        .iter()
        .enumerate()
        .flat_map(|(p, items)| {
            let end = newest.map_or(0, |m| m.positions[&(p as u32)] as usize);
            items[..end].iter().copied()
        })
        .collect();
    out.sort_unstable();
    out
}

/// What one simulation went through.
#[derive(Default)]
struct Stats {
    manifests: usize,
    crashes_mid_run: usize,
}

fn simulate(seed: u64) -> Stats {
    let mut stats = Stats::default();
    let mut rng = SmallRng::seed_from_u64(seed);
    // Unique values; value % TASKS picks the task.
    let input: Vec<Vec<u64>> = (0..TASKS as u64)
        .map(|p| {
            let len = rng.random_range(0..40u64);
            (0..len).map(|i| 1 + p * 1000 + i).collect()
        })
        .collect();
    let config = config(&mut rng);
    let mut durable = Durable::default();
    let crashes = rng.random_range(0..3);
    for attempt in 0..=crashes {
        let crash_at = if attempt < crashes {
            Some(rng.random_range(0..400usize))
        } else {
            None
        };
        let mut run_rng = SmallRng::seed_from_u64(rng.random());
        let mut run = Run::start(&mut run_rng, &input, &mut durable, config.clone());
        let mut steps = 0;
        while !run.finished && crash_at.is_none_or(|at| steps < at) {
            run.step();
            steps += 1;
            assert!(steps < STEPS_MAX, "seed {seed}: the run did not finish");
        }
        if !run.finished {
            stats.crashes_mid_run += 1;
        }
        drop(run);
        recover(&mut durable);
        let newest = durable.manifests.last();
        assert_eq!(
            durable.committed(),
            expected(&input, newest),
            "seed {seed}: after run {attempt} (crash at {crash_at:?}) committed outputs \
             differ from the input below the newest manifest's positions"
        );
        if let Some(m) = newest {
            for t in 0..TASKS {
                let sum: u64 = expected(&input, Some(m))
                    .iter()
                    .filter(|v| *v % u64::from(TASKS) == u64::from(t))
                    .sum();
                let state = m
                    .key_groups
                    .get(&t)
                    .map_or(0, |b| u64::from_le_bytes(b.as_slice().try_into().unwrap()));
                assert_eq!(
                    state, sum,
                    "seed {seed}: task {t}'s state in manifest {}",
                    m.id
                );
            }
        }
    }
    let all = expected(
        &input,
        Some(&Manifest {
            positions: (0..TASKS)
                .map(|p| (p, input[p as usize].len() as u64))
                .collect(),
            ..durable
                .manifests
                .last()
                .cloned()
                .unwrap_or_else(empty_manifest)
        }),
    );
    assert_eq!(
        durable.committed(),
        all,
        "seed {seed}: the last run did not commit every input record exactly once"
    );
    stats.manifests = durable.manifests.len();
    stats
}

fn empty_manifest() -> Manifest {
    Manifest {
        id: 0,
        job: JOB.into(),
        topology: config(&mut SmallRng::seed_from_u64(0)).topology,
        parallelism: TASKS,
        sink_mode: SinkMode::Transactional,
        clock: Timestamp(0),
        positions: BTreeMap::new(),
        key_groups: BTreeMap::new(),
        sink_transactions: Default::default(),
        sequences: BTreeMap::new(),
        write_ahead: BTreeMap::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn crashes_between_any_two_steps_commit_exactly_the_manifested_input(seed in any::<u64>()) {
        println!("seed {seed}");
        simulate(seed);
    }
}

/// The simulation is not vacuous: over fixed seeds it writes many manifests and crashes
/// many runs before they finished.
#[test]
fn the_simulation_checkpoints_and_crashes_mid_run() {
    let (mut manifests, mut crashes) = (0, 0);
    for seed in 0..200 {
        let stats = simulate(seed);
        manifests += stats.manifests;
        crashes += stats.crashes_mid_run;
    }
    println!("{manifests} manifests, {crashes} crashes mid-run");
    assert!(manifests > 400, "{manifests} manifests");
    assert!(crashes > 50, "{crashes} crashes mid-run");
}
