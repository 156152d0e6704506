//! The threaded runtime that runs a [`Job`] on an embedded log.
//!
//! ```text
//!  source 0 ─┐  keyed edges   ┌─ task 0 ── sink 0 ─┐
//!  source 1 ─┼───────────────►┼─ task 1 ── sink 1 ─┼──► coordinator: manifest, decisions
//!     …      ┘  (key groups)  └─ …                 ┘
//! ```
//!
//! - **Sources** (`source.rs`) read their partitions through the [`Input`] seam
//!   (`input.rs`; the embedded log is [`LogInput`]), run the fused stateless chain, route
//!   items by key group, report their clock, and inject checkpoint barriers when the
//!   coordinator asks, recording their positions at the barrier.
//! - **Tasks** (`task.rs`) align barriers across their inputs, apply the keyed operator,
//!   fire windows by clock, and at each aligned barrier hand their outputs and state
//!   snapshot (one per key group) to their sink — then keep processing.
//! - **Sinks** (`sink.rs`) write each checkpoint's outputs: under exactly-once inside a log
//!   transaction they prepare before acknowledging and commit only when the coordinator
//!   says the manifest is durable.
//! - The **coordinator** decides in a pure state machine (`coordinator_core.rs`: when to
//!   checkpoint, what the manifest holds, when sinks may commit) and a thin driver
//!   (`coordinator.rs`) performs its actions: barriers, the manifest (`manifest.rs`, the
//!   commit point), its journal entry, the sinks' go-ahead.
//!
//! The run's metrics (`meters.rs`) are published by the coordinator from the figures it
//! already keeps, never from the tasks' hot loops.
//!
//! Shared pieces are small modules the others depend on, never this file: `error.rs`,
//! `options.rs`, `report.rs`, `messages.rs`, `context.rs`, `plan.rs`.
//!
//! Recovery (`recovery.rs`) loads the newest complete manifest, resolves the sinks'
//! transactions against it (prepared + named in the manifest → commit, otherwise abort),
//! and starts sources at the manifest's positions and tasks with the key groups they own.

mod blob;
mod chunks;
mod context;
mod coordinator;
mod coordinator_core;
mod dead_letter;
mod error;
mod evidence;
mod input;
pub(crate) mod journal;
mod log_output;
mod manifest;
mod messages;
pub mod meters;
mod options;
mod output;
pub(crate) mod plan;
mod recovery;
mod report;
mod sink;
mod source;
mod status_read;
mod task;
mod topology;
mod write_ahead;

use crate::job::Job;
use crate::spec::JobSpec;
use crate::types::Guarantee;
use context::{Control, RunContext};
use exactly_log::Log;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::Arc;

pub use context::sink_transactional_id;
pub use coordinator_core::{
    CoordinatorAction, CoordinatorConfig, CoordinatorCore, CoordinatorEvent, Progress,
};
pub use dead_letter::{BadInputPolicy, DeadLetter};
pub use error::RunError;
pub use input::{Input, InputBatch, LogInput};
pub use journal::{journal_topic, JournalEntry, JOURNAL_TOPIC_PREFIX};
pub use log_output::LogOutput;
pub use manifest::{Manifest, MANIFEST_VERSION};
pub use messages::{decode_audit, Lineage};
pub use options::{default_state_dir, Checkpoints, JobStatus, RunOptions, SinkMode};
pub use output::Output;
pub use report::{RecoveryReport, RunReport, StatusFile};
pub use status_read::{read_status, read_status_in, StatusError};
pub use topology::Topology;

impl RunOptions {
    /// Options for a job whose state lives in `<log dir>/.jobs/<job>` on the real disk,
    /// stamped by the system clock.
    pub fn new(log: &Log, job: &Job, guarantee: Guarantee) -> Self {
        Self::in_state_dir(default_state_dir(log, job.name()), guarantee)
    }

    /// Options for a job whose state (checkpoint files, status file) lives in `state_dir`
    /// on the real disk, stamped by the system clock: for jobs whose input and output are
    /// not in an embedded log.
    pub fn in_state_dir(state_dir: std::path::PathBuf, guarantee: Guarantee) -> Self {
        Self {
            guarantee,
            sink_mode: SinkMode::Transactional,
            parallelism: 1,
            checkpoint_interval_ms: 1000,
            checkpoint_every_records: None,
            follow: false,
            input_ended: None,
            start_from_time_ms: None,
            state_dir,
            state_storage: Arc::new(exactly_core::StdStorage),
            checkpoints: Checkpoints::StateDir,
            checkpoints_kept: 3,
            read_batch_records: 4096,
            on_bad_input: BadInputPolicy::default(),
            stop: Arc::new(AtomicBool::new(false)),
            halt: Arc::new(AtomicBool::new(false)),
            status: Arc::new(JobStatus::default()),
            clock: Arc::new(exactly_core::SystemClock),
        }
    }
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
fn validate_outputs(job: &JobSpec) -> Result<(), RunError> {
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

impl Job {
    /// Checks the job's name and its output topics without a log (what [`Job::run`]
    /// checks first): a caller can refuse a bad job before opening or locking anything.
    pub fn validate(&self) -> Result<(), RunError> {
        validate_job_name(&self.spec.name)?;
        validate_outputs(&self.spec)
    }

    /// Runs the job on `log` until its input is drained (or, with `follow`, until
    /// `options.stop` is set), resuming from its newest checkpoint.
    pub fn run(&self, log: &Log, options: &RunOptions) -> Result<RunReport, RunError> {
        self.run_from(log, &LogInput::new(log, &self.spec.source), options)
    }

    /// Runs the job like [`Job::run`], reading its records from `input` instead of the
    /// log's input topic; outputs, transactions and the journal stay in `log`.
    pub fn run_from(
        &self,
        log: &Log,
        input: &dyn Input,
        options: &RunOptions,
    ) -> Result<RunReport, RunError> {
        self.run_with(input, &LogOutput::new(log), options)
    }

    /// Runs the job reading from `input` and writing outputs, dead letters, audit records
    /// and its journal to `output` (e.g. both on NATS JetStream). An output without
    /// transactions runs exactly-once only in the idempotent (write-ahead) sink mode.
    pub fn run_with(
        &self,
        input: &dyn Input,
        output: &dyn Output,
        options: &RunOptions,
    ) -> Result<RunReport, RunError> {
        let spec = &self.spec;
        let transactional = options.guarantee == Guarantee::ExactlyOnce
            && options.sink_mode == SinkMode::Transactional;
        if transactional && output.transactional_log().is_none() {
            return Err(RunError::InvalidOptions(format!(
                "{} has no transactions: run exactly-once with the idempotent sink mode",
                output.describe()
            )));
        }
        let input_partitions = input
            .partitions()
            .ok_or_else(|| RunError::UnknownTopic(input.name().to_string()))?;
        if options.parallelism == 0 || options.parallelism > spec.key_groups {
            return Err(RunError::InvalidOptions(format!(
                "parallelism must be 1..={} (the job's key groups)",
                spec.key_groups
            )));
        }
        validate_job_name(&spec.name)?;
        validate_outputs(spec)?;
        let mut partitions = (0, 0, 0);
        let mut restored = recovery::recover(spec, output, options, input_partitions, || {
            partitions.0 = output.ensure_topic(&spec.sink, input_partitions)?;
            partitions.1 = match &spec.audit {
                Some(topic) => output.ensure_topic(topic, 1)?,
                None => 1,
            };
            partitions.2 = output.ensure_topic(&spec.dead_letter_topic(), 1)?;
            output.ensure_topic(&journal_topic(&spec.name), 1)?;
            Ok(())
        })?;
        let (output_partitions, audit_partitions, dead_letter_partitions) = partitions;
        if let (None, Some(time_ms)) = (&restored.manifest, options.start_from_time_ms) {
            let starts = (0..input_partitions)
                .map(|p| Ok((p, input.position_at(p, time_ms)?)))
                .collect::<Result<_, RunError>>()?;
            restored.starts = Some(starts);
        }
        let ctx = RunContext {
            job: spec,
            output,
            input,
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
