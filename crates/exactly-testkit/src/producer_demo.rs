//! `exactly demo producer`: `exactly log produce` with an idempotent producer id run as a
//! child process, SIGKILLed a few times mid-stream and restarted with the same command
//! until it finishes ([`produce_with_kills`]); then the report, as a table
//! ([`ProducerReport`]'s `Display`) or one JSON object ([`ProducerReport::json`]).

use crate::kill_loop::{KillLoop, KillLoopError, KillReport};
use crate::producer_audit::ProducerAudit;
use exactly_log::verify::VerifyReport;
use serde_json::json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The topic the demo produces to.
pub const TOPIC: &str = "payments";

/// How the producer runs went.
#[derive(Clone, Debug, Default)]
pub struct ProducerRuns {
    /// Runs started, the finishing one included.
    pub started: u32,
    /// SIGKILLs that landed.
    pub killed: u32,
    /// Records the finishing run appended.
    pub last_appended: u64,
    /// Records the finishing run found already stored.
    pub last_deduplicated: u64,
    /// Time in the runs, restarts included.
    pub producer_wall: Duration,
}

/// Why the producer could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum ProducerDemoError {
    /// The kill loop failed (start, wait, or the final run failed).
    #[error("producer: {0}")]
    Run(#[from] KillLoopError),
    /// The finishing run's summary line is not JSON.
    #[error("reading the producer's summary: {0}")]
    Summary(#[from] serde_json::Error),
    /// The summary lacks a count.
    #[error("the producer's summary has no `{field}` count: {summary}")]
    MissingCount {
        /// The count missing.
        field: &'static str,
        /// The summary.
        summary: serde_json::Value,
    },
}

/// The command of one run: `exe log produce --producer-id 1` of `input` into `log_dir`.
pub fn producer_command(exe: &Path, log_dir: &Path, input: &Path) -> Command {
    let mut command = Command::new(exe);
    command
        .args(["log", "produce", "--topic", TOPIC, "--producer-id", "1"])
        .arg("--dir")
        .arg(log_dir)
        .arg("--input")
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the producer until it finishes, killing it `kills` times first at moments drawn
/// from `seed`; calls `on_run` as each run starts.
pub fn produce_with_kills(
    exe: &Path,
    log_dir: &Path,
    input: &Path,
    kills: u32,
    seed: u64,
    on_run: impl FnMut(&KillReport),
) -> Result<ProducerRuns, ProducerDemoError> {
    let finished = KillLoop::new(kills, seed)
        .delay_ms(150..1200)
        .run_to_completion(|| producer_command(exe, log_dir, input), on_run)?;
    let summary: serde_json::Value = serde_json::from_slice(&finished.output.stdout)?;
    let count = |field: &'static str| {
        summary
            .get(field)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ProducerDemoError::MissingCount {
                field,
                summary: summary.clone(),
            })
    };
    Ok(ProducerRuns {
        started: finished.runs,
        killed: finished.kills,
        last_appended: count("appended")?,
        last_deduplicated: count("deduplicated")?,
        producer_wall: finished.wall,
    })
}

/// Everything the demo found.
#[derive(Clone, Debug)]
pub struct ProducerReport<'a> {
    /// Records in the input.
    pub records: u64,
    /// The producer's runs.
    pub runs: &'a ProducerRuns,
    /// The record-by-record audit.
    pub audit: &'a ProducerAudit,
    /// The checksum pass over the log.
    pub verify: &'a VerifyReport,
    /// The seed of the kill timing.
    pub seed: u64,
    /// The log directory, when it is kept (printed in the table).
    pub kept_dir: Option<PathBuf>,
}

impl ProducerReport<'_> {
    /// Every record exactly once and no damage.
    pub fn ok(&self) -> bool {
        self.audit.exactly_once(self.records) && !self.verify.has_damage()
    }

    /// Records stored per second of the producer's wall time (restarts included).
    pub fn throughput(&self) -> f64 {
        self.audit.stored as f64 / self.runs.producer_wall.as_secs_f64().max(1e-9)
    }

    /// The report as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let (runs, audit) = (self.runs, self.audit);
        json!({"records_sent": self.records, "producer_runs": runs.started, "sigkills": runs.killed,
               "stored": audit.stored, "deduplicated_by_last_run": runs.last_deduplicated,
               "appended_by_last_run": runs.last_appended, "missing": audit.missing,
               "duplicated": audit.duplicated, "out_of_order": audit.out_of_order,
               "exactly_once": self.ok(), "records_per_sec": self.throughput() as u64, "seed": self.seed,
               "log_bytes": self.verify.bytes, "verify_findings": self.verify.findings.len()})
    }
}

impl fmt::Display for ProducerReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (runs, audit, seed) = (self.runs, self.audit, self.seed);
        let yes_no = |b: bool| if b { "yes" } else { "NO" };
        writeln!(
            f,
            "exactly demo: an idempotent producer, killed with SIGKILL and resumed\n"
        )?;
        writeln!(f, "  records sent           {}", self.records)?;
        writeln!(
            f,
            "  producer runs          {} ({} killed with SIGKILL mid-stream, seed {seed})",
            runs.started, runs.killed
        )?;
        writeln!(f, "  records in the log     {}", audit.stored)?;
        writeln!(
            f,
            "  last run               appended {}, de-duplicated {} (re-sent, dropped by the log)",
            runs.last_appended, runs.last_deduplicated
        )?;
        writeln!(
            f,
            "  exactly once           {} (missing {}, duplicated {}, out of order {}, misrouted {})",
            yes_no(self.ok()),
            audit.missing,
            audit.duplicated,
            audit.out_of_order,
            audit.misrouted
        )?;
        writeln!(
            f,
            "  log integrity          {} batches / {} bytes checksummed, {} finding(s)",
            self.verify.batches,
            self.verify.bytes,
            self.verify.findings.len()
        )?;
        writeln!(
            f,
            "  throughput             {:.0} records/s (durable, fsync per group, incl. restarts)",
            self.throughput()
        )?;
        if let Some(dir) = &self.kept_dir {
            writeln!(f, "  log directory          {}", dir.display())?;
        }
        Ok(())
    }
}
