//! The summary of one run of a job, as `exactly run` prints it: one JSON object naming
//! the job, its guarantee, what recovery did, and what the run read and wrote.

use crate::job::Job;
use crate::runtime::{RunOptions, RunReport};
use serde_json::{json, Value};

/// The summary of `report`, a run of `job` under `options` that took `seconds`;
/// `rejected_seen` is what the job's parse step rejected (when it counts them).
pub fn run_summary(
    job: &Job,
    options: &RunOptions,
    report: &RunReport,
    rejected_seen: Option<u64>,
    seconds: f64,
) -> Value {
    json!({
        "job": job.name(), "kind": job.kind(), "guarantee": options.guarantee.as_str(),
        "parallelism": options.parallelism,
        "restored_checkpoint": report.recovery.checkpoint_id,
        "committed_on_recovery": report.recovery.committed_transactions,
        "aborted_on_recovery": report.recovery.aborted_transactions,
        "republished_on_recovery": report.recovery.republished_outputs,
        "checkpoints": report.checkpoints, "last_checkpoint": report.last_checkpoint_id,
        "records_in": report.records_in, "records_out": report.records_out,
        "clock_ms": report.clock.0,
        "dead_letters": report.dead_letters,
        "dead_letter_topic": job.dead_letter_topic(),
        "rejected_seen": rejected_seen,
        "journal_ahead_on_recovery": report.recovery.journal_ahead,
        "seconds": seconds, "records_per_sec": (report.records_in as f64 / seconds.max(1e-9)) as u64,
    })
}
