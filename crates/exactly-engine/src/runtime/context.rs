//! What every thread of one run shares: the job, its input and output, the options ([`RunContext`]) and
//! the flags and counters between them ([`Control`]); transactional ids of the sinks.

use super::input::Input;
use super::options::{RunOptions, SinkMode};
use super::output::Output;
use crate::spec::JobSpec;
use crate::types::Guarantee;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Transaction timeout of sink transactions: long enough to outlast any checkpoint.
pub(crate) const SINK_TXN_TIMEOUT_MS: i64 = 600_000;

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
    /// Per source: its last poll found nothing new, and the input may end the run
    /// (`RunOptions::may_end` held before that poll).
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
    pub job: &'a JobSpec,
    /// Where outputs, dead letters, audit records and the journal go.
    pub output: &'a dyn Output,
    /// Where the source tasks read (the embedded log's input topic by default).
    pub input: &'a dyn Input,
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

    /// The wall clock now (ms): what the run stamps on what it writes.
    pub fn now_ms(&self) -> i64 {
        self.options.clock.now_ms()
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
/// names cannot contain `.` (`validate_job_name`), so `<job>.` belongs to one job only:
/// job `a` never settles the transactions of job `a-sink-x`.
pub fn sink_transactional_id(job: &str, task: u32, manifest_id: u64) -> String {
    format!("{}{task}.{}", sink_txn_prefix(job), manifest_id % 2)
}

pub(crate) fn sink_txn_prefix(job: &str) -> String {
    format!("{job}.sink.")
}
