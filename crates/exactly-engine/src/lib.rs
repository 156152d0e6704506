//! `exactly-engine`: the stream engine — messages carry timestamps, every task
//! tracks its clock, state is monoids and user state checkpointed as consistent cuts with
//! aligned barriers, and after any crash state is restored and sources replay so every
//! message updates state exactly once; with a transactional sink every output is published
//! exactly once too.
//!
//! ```no_run
//! use exactly_engine::{log_topic, Guarantee, Job, RunOptions};
//! use exactly_state::Sum;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = exactly_log::Log::open("data", Default::default())?;
//! let job = Job::new("balances")
//!     .source(log_topic("transfers"))
//!     .try_flat_map(|record| {
//!         // A record that does not parse is a dead letter, never a silent 0.
//!         let text = std::str::from_utf8(&record.value).map_err(|e| e.to_string())?;
//!         let amount: i128 = text.parse().map_err(|e| format!("{e}"))?;
//!         let account = String::from_utf8_lossy(&record.key.unwrap_or_default()).into_owned();
//!         Ok::<_, String>([(account, amount)])
//!     })
//!     .key_by(|(account, _)| account.clone())
//!     .aggregate(Sum)
//!     .sink(log_topic("balances"));
//! job.run(&log, &RunOptions::new(&log, &job, Guarantee::ExactlyOnce))?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`types`]: the types every part shares ([`Guarantee`], [`GroupKey`], [`OutputRecord`],
//!   [`Windowed`], [`SourceRecord`]); a leaf module.
//! - [`job`]: the builder ([`Job`], [`Stream`], [`KeyedStream`], [`Stage`]), sources and
//!   sinks ([`log_topic`]).
//! - [`operator`]: keyed operators and the [`PersistentTask`] trait for custom ones;
//!   [`changes`]: [`Change`], what `aggregate_changes` emits per key and checkpoint (delta,
//!   total, sequence), for the next stage of a pipeline.
//! - [`pipeline`]: [`Pipeline`], a chain of jobs (stages) joined by repartition topics,
//!   each stage exactly once on its own; run with a thread per stage (`pipeline/run.rs`).
//! - [`runtime`]: sources, keyed tasks, sinks and the checkpoint coordinator's driver on
//!   threads; recovery; the typed, versioned [`runtime::Manifest`]; the transactional and
//!   the idempotent (write-ahead) sink ([`RunOptions`] — including the clock that stamps
//!   what a job writes —, [`SinkMode`], [`RunReport`], [`JobStatus`]).
//! - [`status_watch`]: [`StatusWatch`](status_watch::StatusWatch), a running job's status
//!   reported every interval from another thread (a progress display).
//! - [`jobs`]: the built-in jobs (`balances`, `wordcount`, `window_count`), the two-stage
//!   pipeline `balances_by_branch`, their generated input and the balances check.
//! - [`compact_key`]: [`CompactKey`](compact_key::CompactKey), short text keys kept inline
//!   (encoded like `String`s), the key of `balances`.
//! - [`transfer_json`]: the typed fast path of the `balances` parse (the writer's exact
//!   form, borrowed; anything else falls back to `serde_json`).
//! - [`generate`]: that input written into a topic of the embedded log ([`generate::GenTarget`],
//!   [`generate::GenSummary`]).
//! - Sans-IO cores the runtime is built on: [`clock`] ([`ClockTracker`], a task's clock is
//!   the minimum over its inputs and pending messages), [`barrier`] ([`BarrierAligner`],
//!   Flink's asynchronous barrier snapshots), [`key_group`](mod@key_group) (keys → key groups → task
//!   ranges, stable under rescaling), [`runtime::CoordinatorCore`] (when to checkpoint,
//!   what a manifest holds, when sinks may commit).
//!
//! Files of the crate import each other without cycles (checked by the test
//! `no_import_cycles_between_files`): shared types live in leaf modules, and the children
//! of `runtime` depend on small shared modules, never on `runtime/mod.rs`.

pub mod barrier;
pub mod changes;
pub mod clock;
pub mod compact_key;
pub mod generate;
mod hashed_key;
pub mod job;
pub mod jobs;
pub mod key_group;
pub mod operator;
pub mod pipeline;
pub mod runtime;
mod spec;
pub mod status_watch;
pub mod transfer_json;
pub mod types;

pub use barrier::{BarrierAligner, BarrierEvent, CheckpointId};
pub use changes::Change;
pub use clock::ClockTracker;
pub use job::{
    log_topic, Job, JobBuilder, KeyedStream, LogTopic, Stage, Stream, KEY_GROUPS_DEFAULT,
};
pub use key_group::{key_group, key_group_of_hash, task_for_key_group, KeyGroupRange};
pub use operator::PersistentTask;
pub use pipeline::{Pipeline, PipelineError, PipelineReport, StageTopics};
pub use runtime::{
    decode_audit, default_state_dir, journal_topic, read_status, read_status_in,
    sink_transactional_id, validate_job_name, BadInputPolicy, Checkpoints, DeadLetter, Input,
    InputBatch, JobStatus, JournalEntry, Lineage, LogInput, LogOutput, Manifest, Output,
    RecoveryReport, RunError, RunOptions, RunReport, SinkMode, StatusError, StatusFile, Topology,
    JOB_NAME_LEN_MAX, JOURNAL_TOPIC_PREFIX,
};
pub use types::{GroupKey, Guarantee, OutputRecord, Rejection, SourceRecord, Windowed};
