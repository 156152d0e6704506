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
mod dead_letter;
mod evidence;
mod journal;
mod recovery;
mod sink;
mod source;
mod task;
mod topology;
mod write_ahead;

use crate::job::{Chain, GroupKey, Guarantee, Job, OperatorFactory, OutputRecord};
use crate::operator::Event;
use exactly_core::{Storage, Timestamp};
use exactly_log::Log;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

pub use dead_letter::{BadInputPolicy, DeadLetter};
pub use journal::{journal_topic, JournalEntry, JOURNAL_TOPIC_PREFIX};
pub use recovery::RecoveryReport;
pub use topology::Topology;

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
    /// What happens to an input record the job's parse step rejects.
    pub on_bad_input: BadInputPolicy,
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
            on_bad_input: BadInputPolicy::default(),
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
    /// Dead letters written by sinks (including ones later aborted).
    pub dead_letters: AtomicU64,
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
            dead_letters: AtomicU64::new(0),
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
    /// Dead letters written in this run (rejected input records).
    pub dead_letters: u64,
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
    /// The job name cannot be used (see [`validate_job_name`]).
    #[error("invalid job name {name:?}: {reason}")]
    InvalidJobName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An output topic cannot be used.
    #[error("output topic {topic:?} cannot be used: {reason}")]
    InvalidOutput {
        /// The topic.
        topic: String,
        /// What is wrong.
        reason: String,
    },
    /// The stored checkpoints belong to another job shape.
    #[error("checkpoint {id} does not fit this job: {reason}")]
    IncompatibleCheckpoint {
        /// Checkpoint id.
        id: u64,
        /// What differs.
        reason: String,
    },
    /// The job was started with another topology (inputs, outputs, guarantee, kind, key
    /// groups); resuming it would mix two jobs' state and outputs.
    #[error(
        "job {job:?} was started with another topology (checkpoint {checkpoint}): {differences}; \
         run it with its original options, or start a new job under another name (--job)"
    )]
    TopologyChanged {
        /// The job.
        job: String,
        /// The checkpoint (or journal entry) that recorded the original topology.
        checkpoint: u64,
        /// What differs, field by field.
        differences: String,
    },
    /// The log records checkpoints newer than the newest one on disk: restoring it would
    /// apply input a second time.
    #[error(
        "job {job:?}: the log's journal ({journal}) records checkpoint {committed} as committed, \
         but the newest checkpoint in {dir} is {restored}; restoring it would apply input twice. \
         Put the missing checkpoint files back, or start a new job under another name (--job)",
        restored = restored.map_or("none".to_string(), |id| id.to_string()),
        dir = dir.display()
    )]
    CheckpointsBehindLog {
        /// The job.
        job: String,
        /// The newest checkpoint found on disk.
        restored: Option<u64>,
        /// The newest checkpoint the journal records.
        committed: u64,
        /// The journal topic.
        journal: String,
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// The log (or the status file) shows effects of checkpoints newer than the newest
    /// one on disk: restoring it would apply input a second time.
    #[error(
        "job {job:?}: {evidence}, but the newest checkpoint in {dir} is {restored}; restoring \
         it would apply input twice. Put the missing checkpoint files back, or start a new job \
         under another name (--job)",
        restored = restored.map_or("none".to_string(), |id| id.to_string()),
        dir = dir.display()
    )]
    OutputsBeyondCheckpoint {
        /// The job.
        job: String,
        /// The newest checkpoint found on disk.
        restored: Option<u64>,
        /// What shows the newer effects.
        evidence: String,
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// A manifest was written with another manifest format.
    #[error(
        "checkpoint {id} has manifest format {found}; this build reads {supported}: run it \
         with the build that wrote it, or start a new job under another name (--job)",
        found = found.as_deref().unwrap_or("1 (unversioned)")
    )]
    ManifestVersion {
        /// Checkpoint id.
        id: u64,
        /// The version found (`None`: written before versions were recorded).
        found: Option<String>,
        /// The version this build reads and writes.
        supported: &'static str,
    },
    /// Newer checkpoints are damaged; restoring an older one could publish outputs twice.
    #[error("exactly-once refuses to restore past damaged checkpoints: {0}")]
    DamagedCheckpoints(String),
    /// An input record was rejected by the job's parse step and the policy is to fail:
    /// nothing at or after it is committed.
    #[error(
        "bad input in {topic} partition {partition} offset {offset}: {reason}; the job stopped \
         before it (nothing at or after it is committed)"
    )]
    BadInput {
        /// The input topic.
        topic: String,
        /// Its partition.
        partition: u32,
        /// The record's offset.
        offset: u64,
        /// Why the record was rejected.
        reason: String,
    },
    /// The job's journal topic holds a record that does not decode.
    #[error("journal {topic} offset {offset} does not decode: {reason}")]
    Journal {
        /// The journal topic.
        topic: String,
        /// The record's offset.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// State, outputs or metadata could not be encoded; nothing was written for them.
    #[error("encoding {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The cause.
        source: exactly_state::SnapshotError,
    },
    /// Syncing the log failed.
    #[error("syncing the log")]
    Flush(#[source] exactly_log::MaintenanceError),
    /// Reading the input failed.
    #[error("reading the log")]
    Read(#[from] exactly_log::ReadError),
    /// Writing outputs failed.
    #[error("writing outputs")]
    Append(#[from] exactly_log::AppendError),
    /// A sink transaction failed.
    #[error("sink transaction")]
    Txn(#[from] exactly_log::TxnError),
    /// Creating an output topic failed.
    #[error("creating a topic")]
    Topic(#[from] exactly_log::TopicError),
    /// Checkpoint storage failed.
    #[error("checkpoint storage")]
    Checkpoint(#[from] exactly_state::CheckpointError),
    /// A state snapshot does not decode.
    #[error("restoring key group {group}")]
    Restore {
        /// The key group.
        group: u32,
        /// The cause.
        source: exactly_state::SnapshotError,
    },
    /// Outputs written ahead in a manifest do not decode.
    #[error("write-ahead outputs in the manifest do not decode")]
    WriteAhead(#[source] exactly_state::SnapshotError),
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
    /// Rejected input records, as dead-letter records (written with the outputs).
    DeadLetters(usize, Vec<exactly_log::Record>),
    Clock(usize, Timestamp),
    Barrier(usize, u64),
    End(usize),
}

impl<K, T> ToTask<K, T> {
    fn input(&self) -> usize {
        match self {
            ToTask::Data(i, _)
            | ToTask::DeadLetters(i, _)
            | ToTask::Clock(i, _)
            | ToTask::Barrier(i, _)
            | ToTask::End(i) => *i,
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
    pub dead_letters: Vec<exactly_log::Record>,
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
        /// Whether the sink wrote anything for this checkpoint (a transaction, appends).
        wrote: bool,
    },
    Failed(RunError),
}

/// Flags and counters shared by all threads of one run.
///
/// Barrier ids count the checkpoints *started* in this run (1, 2, …); manifest ids number
/// the checkpoints *written* over the job's life. They differ because an empty checkpoint
/// (nothing consumed, changed or output) is skipped without a manifest.
pub(crate) struct Control {
    /// Newest barrier the coordinator asked for.
    pub requested: AtomicU64,
    /// The manifest id the barrier in flight will be written under: sinks name their
    /// transaction after it (id parity), before the coordinator writes it.
    pub manifest_id: AtomicU64,
    /// Barrier after which sources end (0: none yet).
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
    pub dead_letter_partitions: u32,
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

    /// Transactional id of task `task`'s sink for manifests of parity `id % 2`.
    pub fn sink_txn_id(&self, task: u32, manifest_id: u64) -> String {
        sink_transactional_id(&self.job.name, task, manifest_id)
    }

    /// Whether outputs are written ahead in the manifest (exactly-once, idempotent sink).
    pub fn writes_ahead(&self) -> bool {
        self.options.guarantee == Guarantee::ExactlyOnce
            && self.options.sink_mode == SinkMode::Idempotent
    }
}

/// The transactional id task `task`'s sink of job `job` uses for manifest `manifest_id`:
/// `<job>.sink.<task>.<id mod 2>`. Two ids alternate, so recovery can tell the prepared
/// transaction of the newest manifest from one prepared for the manifest after it. Job
/// names cannot contain `.` ([`validate_job_name`]), so `<job>.` belongs to one job only:
/// job `a` never settles the transactions of job `a-sink-x`.
pub fn sink_transactional_id(job: &str, task: u32, manifest_id: u64) -> String {
    format!("{}{task}.{}", sink_txn_prefix(job), manifest_id % 2)
}

pub(crate) fn sink_txn_prefix(job: &str) -> String {
    format!("{job}.sink.")
}

/// The longest job name.
pub const JOB_NAME_LEN_MAX: usize = 100;

/// Checks a job name: 1..=[`JOB_NAME_LEN_MAX`] characters of `[A-Za-z0-9_-]`. No `.`: it
/// separates the name from the rest in transactional ids and the journal topic, so one
/// job's ids can never be a prefix of another's.
pub fn validate_job_name(name: &str) -> Result<(), RunError> {
    let invalid = |reason: &str| RunError::InvalidJobName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.len() > JOB_NAME_LEN_MAX {
        return Err(invalid("length must be 1..=100"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid("only A-Z a-z 0-9 _ - are allowed"));
    }
    Ok(())
}

/// Checks the job's outputs (sink, audit, dead letters): none is the input, an internal
/// topic (`__…`) or a job journal, and no two are the same topic.
fn validate_outputs(job: &Job) -> Result<(), RunError> {
    let mut outputs = vec![job.sink.clone(), job.dead_letter_topic()];
    outputs.extend(job.audit.clone());
    for (index, topic) in outputs.iter().enumerate() {
        let invalid = |reason: String| RunError::InvalidOutput {
            topic: topic.clone(),
            reason,
        };
        if *topic == job.source {
            return Err(invalid("it is the job's input".into()));
        }
        if topic.starts_with("__") {
            return Err(invalid(
                "topics starting with `__` belong to the log".into(),
            ));
        }
        if topic.starts_with(JOURNAL_TOPIC_PREFIX) {
            return Err(invalid("it is a job journal".into()));
        }
        exactly_log::validate_topic_name(topic).map_err(|e| invalid(e.to_string()))?;
        if outputs.iter().take(index).any(|earlier| earlier == topic) {
            return Err(invalid(
                "the output, dead-letter and audit topics must be distinct".into(),
            ));
        }
    }
    if job.source.starts_with(JOURNAL_TOPIC_PREFIX) {
        return Err(RunError::InvalidOutput {
            topic: job.source.clone(),
            reason: "a job journal is not an input".into(),
        });
    }
    Ok(())
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
    /// Checks the job's name and its output topics without a log (what [`Job::run`]
    /// checks first): a caller can refuse a bad job before opening or locking anything.
    pub fn validate(&self) -> Result<(), RunError> {
        validate_job_name(&self.name)?;
        validate_outputs(self)
    }

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
        validate_job_name(&self.name)?;
        validate_outputs(self)?;
        let mut partitions = (0, 0, 0);
        let restored = recovery::recover(self, log, options, || {
            partitions.0 = ensure_topic(log, &self.sink, input_partitions)?;
            partitions.1 = match &self.audit {
                Some(topic) => ensure_topic(log, topic, 1)?,
                None => 1,
            };
            partitions.2 = ensure_topic(log, &self.dead_letter_topic(), 1)?;
            ensure_topic(log, &journal_topic(&self.name), 1)?;
            Ok(())
        })?;
        let (output_partitions, audit_partitions, dead_letter_partitions) = partitions;
        let ctx = RunContext {
            job: self,
            log,
            options,
            control: Control {
                requested: AtomicU64::new(0),
                manifest_id: AtomicU64::new(restored.next_id),
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
            dead_letter_partitions,
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
