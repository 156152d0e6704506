//! The threaded runtime that runs a [`Job`] on an embedded log.
//!
//! ```text
//!  source 0 ─┐  keyed edges   ┌─ task 0 ── sink 0 ─┐
//!  source 1 ─┼───────────────►┼─ task 1 ── sink 1 ─┼──► coordinator: manifest, decisions
//!     …      ┘  (key groups)  └─ …                 ┘
//! ```
//!
//! - **Sources** (`source.rs`) read their partitions, run the fused stateless chain, route
//!   items by key group, report their clock, and inject checkpoint barriers when the
//!   coordinator asks, recording their positions at the barrier.
//! - **Tasks** (`task.rs`) align barriers across their inputs, apply the keyed operator,
//!   fire windows by clock, and at each aligned barrier hand their outputs and state
//!   snapshot (one per key group) to their sink — then keep processing.
//! - **Sinks** (`sink.rs`) write each checkpoint's outputs: under exactly-once inside a log
//!   transaction they prepare before acknowledging and commit only when the coordinator
//!   says the manifest is durable.
//! - The **coordinator** (`coordinator.rs`) triggers checkpoints, gathers acknowledgements,
//!   writes the manifest (the commit point), then tells sinks to commit.
//!
//! Recovery (`recovery.rs`) loads the newest complete manifest, resolves the sinks'
//! transactions against it (prepared + named in the manifest → commit, otherwise abort),
//! and starts sources at the manifest's positions and tasks with the key groups they own.

mod coordinator;
mod recovery;
mod sink;
mod source;
mod task;
mod write_ahead;

use crate::job::{Chain, GroupKey, Guarantee, Job, OperatorFactory, OutputRecord};
use crate::operator::Event;
use exactly_core::{Storage, Timestamp};
use exactly_log::Log;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

pub use recovery::RecoveryReport;

/// How an exactly-once job publishes its outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkMode {
    /// One log transaction per checkpoint and sink, prepared before the manifest and
    /// committed after it.
    #[default]
    Transactional,
    /// Outputs written ahead in the manifest, then appended with deterministic ids (the
    /// log's idempotent producer) so a replay is de-duplicated. No transactions.
    Idempotent,
}

/// How to run a job.
#[derive(Clone)]
pub struct RunOptions {
    /// The delivery guarantee.
    pub guarantee: Guarantee,
    /// How exactly-once outputs are published (ignored by the other guarantees).
    pub sink_mode: SinkMode,
    /// Tasks per stage (sources and keyed tasks), 1..=key groups.
    pub parallelism: u32,
    /// Time between checkpoints.
    pub checkpoint_interval_ms: u64,
    /// Also start a checkpoint after this many input records (tests use it to cut
    /// often and at data-dependent points).
    pub checkpoint_every_records: Option<u64>,
    /// Keep running at the end of the input, waiting for more (until `stop`).
    pub follow: bool,
    /// Where checkpoints and the status file live (on `state_storage`).
    pub state_dir: PathBuf,
    /// Storage for checkpoints (the log's own storage in crash tests).
    pub state_storage: Arc<dyn Storage>,
    /// Checkpoints kept.
    pub checkpoints_kept: usize,
    /// Records read per source partition per poll.
    pub read_batch_records: usize,
    /// Set to stop a running job: it takes a last checkpoint and returns.
    pub stop: Arc<AtomicBool>,
    /// Live counters and clocks, for progress and status.
    pub status: Arc<JobStatus>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("guarantee", &self.guarantee)
            .field("parallelism", &self.parallelism)
            .field("checkpoint_interval_ms", &self.checkpoint_interval_ms)
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

impl RunOptions {
    /// Options for a job whose state lives in `<log dir>/.jobs/<job>` on the real disk.
    pub fn new(log: &Log, job: &Job, guarantee: Guarantee) -> Self {
        Self {
            guarantee,
            sink_mode: SinkMode::Transactional,
            parallelism: 1,
            checkpoint_interval_ms: 1000,
            checkpoint_every_records: None,
            follow: false,
            state_dir: default_state_dir(log, job.name()),
            state_storage: Arc::new(exactly_core::StdStorage),
            checkpoints_kept: 3,
            read_batch_records: 4096,
            stop: Arc::new(AtomicBool::new(false)),
            status: Arc::new(JobStatus::default()),
        }
    }
}

/// `<log dir>/.jobs/<job>`: a name starting with a dot is never taken for a topic.
pub fn default_state_dir(log: &Log, job: &str) -> PathBuf {
    log.dir().join(".jobs").join(job)
}

/// Live figures of a running job (shared with progress displays).
#[derive(Debug)]
pub struct JobStatus {
    /// Input records read by sources.
    pub records_in: AtomicU64,
    /// Output records written by sinks (including ones later aborted).
    pub records_out: AtomicU64,
    /// Checkpoints completed in this run.
    pub checkpoints: AtomicU64,
    /// Id of the newest complete checkpoint (0: none).
    pub last_checkpoint_id: AtomicU64,
    /// Clock recorded in the newest checkpoint (ms).
    pub last_checkpoint_clock_ms: AtomicI64,
    /// The job's min clock: the least clock over its tasks (ms).
    pub min_clock_ms: AtomicI64,
}

impl Default for JobStatus {
    fn default() -> Self {
        Self {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            last_checkpoint_id: AtomicU64::new(0),
            last_checkpoint_clock_ms: AtomicI64::new(i64::MIN),
            min_clock_ms: AtomicI64::new(i64::MIN),
        }
    }
}

impl JobStatus {
    /// The job's min clock.
    pub fn min_clock(&self) -> Timestamp {
        Timestamp(self.min_clock_ms.load(Ordering::Relaxed))
    }
}

/// The status file (`status.json` in the state directory), rewritten at each checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    /// Job name.
    pub job: String,
    /// Guarantee.
    pub guarantee: Guarantee,
    /// Parallelism.
    pub parallelism: u32,
    /// Newest complete checkpoint.
    pub checkpoint_id: u64,
    /// Its clock (ms).
    pub checkpoint_clock_ms: i64,
    /// The min clock over tasks when it completed (ms).
    pub min_clock_ms: i64,
    /// Records read in this run.
    pub records_in: u64,
    /// Wall time of the update (ms since the epoch).
    pub updated_ms: i64,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// What recovery found and did.
    pub recovery: RecoveryReport,
    /// Checkpoints completed in this run.
    pub checkpoints: u64,
    /// Input records read in this run (replays included).
    pub records_in: u64,
    /// Output records written in this run.
    pub records_out: u64,
    /// Id of the last checkpoint.
    pub last_checkpoint_id: u64,
    /// The clock of the last checkpoint.
    pub clock: Timestamp,
}

/// Why a job could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The input topic does not exist.
    #[error("input topic {0:?} does not exist")]
    UnknownTopic(String),
    /// Options out of range.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The stored checkpoints belong to another job shape.
    #[error("checkpoint {id} does not fit this job: {reason}")]
    IncompatibleCheckpoint {
        /// Checkpoint id.
        id: u64,
        /// What differs.
        reason: String,
    },
    /// Newer checkpoints are damaged; restoring an older one could publish outputs twice.
    #[error("exactly-once refuses to restore past damaged checkpoints: {0}")]
    DamagedCheckpoints(String),
    /// Reading the input failed.
    #[error("reading the input: {0}")]
    Read(#[from] exactly_log::ReadError),
    /// Writing outputs failed.
    #[error("writing outputs: {0}")]
    Append(#[from] exactly_log::AppendError),
    /// A sink transaction failed.
    #[error("sink transaction: {0}")]
    Txn(#[from] exactly_log::TxnError),
    /// Creating an output topic failed.
    #[error("creating an output topic: {0}")]
    Topic(#[from] exactly_log::TopicError),
    /// Checkpoint storage failed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] exactly_state::CheckpointError),
    /// A state snapshot does not decode.
    #[error("restoring key group {group}: {source}")]
    Restore {
        /// The key group.
        group: u32,
        /// The cause.
        source: exactly_state::SnapshotError,
    },
    /// Outputs written ahead in a manifest do not decode.
    #[error("write-ahead outputs in the manifest do not decode: {0}")]
    WriteAhead(exactly_state::SnapshotError),
    /// A runtime thread stopped unexpectedly.
    #[error("runtime thread failed: {0}")]
    Thread(String),
}

/// Where an applied item came from: its input record and its index among that record's
/// outputs of the stateless chain. Deterministic under replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Lineage {
    /// Input partition.
    pub partition: u32,
    /// Input offset.
    pub offset: u64,
    /// Index among the record's items.
    pub index: u32,
}

/// Decodes one audit record (a list of lineages) written by a job with an audit topic.
pub fn decode_audit(value: &[u8]) -> Result<Vec<Lineage>, exactly_state::SnapshotError> {
    postcard::from_bytes(value).map_err(|e| exactly_state::SnapshotError::Decode(e.to_string()))
}

/// An item routed to a task.
pub(crate) struct Routed<K, T> {
    pub event: Event<K, T>,
    pub lineage: Lineage,
}

/// Source → task.
pub(crate) enum ToTask<K, T> {
    Data(usize, Vec<Routed<K, T>>),
    Clock(usize, Timestamp),
    Barrier(usize, u64),
    End(usize),
}

impl<K, T> ToTask<K, T> {
    fn input(&self) -> usize {
        match self {
            ToTask::Data(i, _) | ToTask::Clock(i, _) | ToTask::Barrier(i, _) | ToTask::End(i) => *i,
        }
    }
}

/// Task → sink: one checkpoint's outputs and state, or (at-least-once) outputs and audit
/// handed over early, before their checkpoint.
pub(crate) struct EpochOutput<O> {
    /// Outputs written as they come (no state, no acknowledgement).
    pub partial: bool,
    pub checkpoint_id: u64,
    pub outputs: Vec<O>,
    pub audit: Vec<Lineage>,
    pub states: Vec<(u32, Vec<u8>)>,
    pub clock: Timestamp,
}

/// Anything → coordinator.
pub(crate) enum Ack {
    Source {
        checkpoint_id: u64,
        positions: Vec<(u32, u64)>,
    },
    Task {
        checkpoint_id: u64,
        states: Vec<(u32, Vec<u8>)>,
        clock: Timestamp,
        /// Outputs to write ahead in the manifest (idempotent sink mode only).
        outputs: Vec<(String, u32, Vec<exactly_log::Record>)>,
    },
    Failed(RunError),
}

/// Flags and counters shared by all threads of one run.
pub(crate) struct Control {
    /// Newest checkpoint the coordinator asked for.
    pub requested: AtomicU64,
    /// Checkpoint after which sources end (0: none yet).
    pub final_id: AtomicU64,
    /// Whether the final checkpoint also closes all windows (the input ended).
    pub final_closes: AtomicBool,
    /// Per source: its last poll found nothing new.
    pub drained: Vec<AtomicBool>,
    /// Set when any thread failed: everyone winds down.
    pub failed: AtomicBool,
    /// Per input partition: next offset read (ahead of barriers; at-most-once commits it).
    pub read_positions: Vec<AtomicU64>,
    /// Per task: its clock (ms).
    pub task_clocks: Vec<AtomicI64>,
}

/// What every thread of a run needs.
pub(crate) struct RunContext<'a> {
    pub job: &'a Job,
    pub log: &'a Log,
    pub options: &'a RunOptions,
    pub control: Control,
    pub input_partitions: u32,
    pub output_partitions: u32,
    pub audit_partitions: u32,
}

impl RunContext<'_> {
    pub fn parallelism(&self) -> u32 {
        self.options.parallelism
    }

    pub fn fail(&self) {
        self.control.failed.store(true, Ordering::SeqCst);
    }

    pub fn failed(&self) -> bool {
        self.control.failed.load(Ordering::SeqCst)
    }

    /// Transactional id of task `task`'s sink for checkpoints of parity `id % 2`: two ids
    /// alternate, so recovery can tell the prepared transaction of the newest manifest from
    /// one prepared for the checkpoint after it.
    pub fn sink_txn_id(&self, task: u32, checkpoint_id: u64) -> String {
        sink_txn_id(&self.job.name, task, checkpoint_id)
    }

    /// Whether outputs are written ahead in the manifest (exactly-once, idempotent sink).
    pub fn writes_ahead(&self) -> bool {
        self.options.guarantee == Guarantee::ExactlyOnce
            && self.options.sink_mode == SinkMode::Idempotent
    }
}

pub(crate) fn sink_txn_id(job: &str, task: u32, checkpoint_id: u64) -> String {
    format!("{job}-sink-{task}-{}", checkpoint_id % 2)
}

pub(crate) fn sink_txn_prefix(job: &str) -> String {
    format!("{job}-sink-")
}

/// Name of key group `group`'s state in a checkpoint.
pub(crate) fn group_state_name(group: u32) -> String {
    format!("kg/{group:05}")
}

/// Name of an input partition's position in a checkpoint.
pub(crate) fn position_name(topic: &str, partition: u32) -> String {
    format!("{topic}/{partition}")
}

/// A job with its types erased.
pub(crate) trait Plan: Send + Sync {
    fn execute(
        &self,
        ctx: &RunContext<'_>,
        restored: &recovery::Restored,
    ) -> Result<RunReport, RunError>;
}

/// A job with its types.
pub(crate) struct TypedPlan<K, T, O> {
    pub chain: Chain<(K, T)>,
    pub operator: OperatorFactory<K, T, O>,
    pub route_by_partition: bool,
}

impl<K: GroupKey, T: Send + 'static, O: OutputRecord> Plan for TypedPlan<K, T, O> {
    fn execute(
        &self,
        ctx: &RunContext<'_>,
        restored: &recovery::Restored,
    ) -> Result<RunReport, RunError> {
        coordinator::execute(self, ctx, restored)
    }
}

impl Job {
    /// Runs the job on `log` until its input is drained (or, with `follow`, until
    /// `options.stop` is set), resuming from its newest checkpoint.
    pub fn run(&self, log: &Log, options: &RunOptions) -> Result<RunReport, RunError> {
        let input_partitions = log
            .partition_count(&self.source)
            .ok_or_else(|| RunError::UnknownTopic(self.source.clone()))?;
        if options.parallelism == 0 || options.parallelism > self.key_groups {
            return Err(RunError::InvalidOptions(format!(
                "parallelism must be 1..={} (the job's key groups)",
                self.key_groups
            )));
        }
        let output_partitions = ensure_topic(log, &self.sink, input_partitions)?;
        let audit_partitions = match &self.audit {
            Some(topic) => ensure_topic(log, topic, 1)?,
            None => 1,
        };
        let restored = recovery::recover(self, log, options)?;
        let ctx = RunContext {
            job: self,
            log,
            options,
            control: Control {
                requested: AtomicU64::new(restored.last_id()),
                final_id: AtomicU64::new(0),
                final_closes: AtomicBool::new(false),
                drained: (0..options.parallelism)
                    .map(|_| AtomicBool::new(false))
                    .collect(),
                failed: AtomicBool::new(false),
                read_positions: (0..input_partitions).map(|_| AtomicU64::new(0)).collect(),
                task_clocks: (0..options.parallelism)
                    .map(|_| AtomicI64::new(i64::MIN))
                    .collect(),
            },
            input_partitions,
            output_partitions,
            audit_partitions,
        };
        let mut report = self.plan.execute(&ctx, &restored)?;
        report.recovery = restored.report.clone();
        Ok(report)
    }
}

/// Creates `topic` with `partitions` unless it exists; returns its partition count.
fn ensure_topic(log: &Log, topic: &str, partitions: u32) -> Result<u32, RunError> {
    if let Some(existing) = log.partition_count(topic) {
        return Ok(existing);
    }
    log.create_topic(topic, partitions)?;
    Ok(partitions)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
