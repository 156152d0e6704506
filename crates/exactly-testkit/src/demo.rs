//! One guarantee of `exactly demo`: the `balances` job run as a child process of the
//! `exactly` binary, SIGKILLed at seeded random moments and restarted with the same
//! command until it finishes, then audited from the log alone (R and UR from the audit
//! topic, every balance against the reference, money conserved).

use crate::kill_loop::{KillLoop, KillLoopError, KillReport};
use exactly_engine::jobs::{check_balances, BalanceCheck, CheckError};
use exactly_log::{Log, LogConfig, OpenError};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The guarantees the demo compares, in the order it runs them.
pub const GUARANTEES: [&str; 3] = ["at-most-once", "at-least-once", "exactly-once"];

/// Input topic of the demo's job (transfers).
pub const INPUT_TOPIC: &str = "transfers";

/// Output topic of the demo's job (balances).
pub const OUTPUT_TOPIC: &str = "balances";

/// Audit topic of the demo's job (the lineage of every applied transfer half).
pub const AUDIT_TOPIC: &str = "applied";

/// Dead-letter topic of the demo's job (the job's default for its output).
pub const DEAD_LETTER_TOPIC: &str = "balances.dead-letters";

/// How the job runs and how often it is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoJob {
    /// SIGKILLs that must land while the job runs.
    pub kills: u32,
    /// Tasks per stage.
    pub parallelism: u32,
    /// Time between checkpoints.
    pub checkpoint_interval_ms: u64,
}

/// One guarantee's runs and audit.
#[derive(Clone, Debug)]
pub struct GuaranteeRun {
    /// The guarantee (one of [`GUARANTEES`]).
    pub guarantee: &'static str,
    /// SIGKILLs that landed.
    pub crashes: u32,
    /// Runs started, the finishing one included.
    pub runs: u32,
    /// Time in the runs, restarts included.
    pub wall: Duration,
    /// The audit of what the job wrote.
    pub check: BalanceCheck,
}

impl GuaranteeRun {
    /// Transfers per second of wall time in the runs (restarts included).
    pub fn throughput(&self) -> f64 {
        self.check.transfers as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Why a guarantee's run could not be completed or audited.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The kill loop failed (start, wait, or the final run failed).
    #[error("{guarantee} job: {source}")]
    Job {
        /// The guarantee.
        guarantee: &'static str,
        /// Why.
        source: KillLoopError,
    },
    /// The log could not be opened for the audit.
    #[error("opening the log for the audit: {0}")]
    Open(#[from] OpenError),
    /// The audit failed.
    #[error("auditing: {0}")]
    Check(#[from] CheckError),
}

/// The command of one run: `exe run balances` over the log in `dir`.
pub fn job_command(exe: &Path, dir: &Path, guarantee: &str, job: &DemoJob) -> Command {
    let mut command = Command::new(exe);
    command
        .args(["run", "balances", "--input", INPUT_TOPIC])
        .args(["--output", OUTPUT_TOPIC])
        .args(["--audit", AUDIT_TOPIC, "--guarantee", guarantee])
        .args(["--parallelism", &job.parallelism.to_string()])
        .args([
            "--checkpoint-interval-ms",
            &job.checkpoint_interval_ms.to_string(),
        ])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs the job over the log in `dir` (holding the generated transfers) until it
/// finishes, killing it `job.kills` times first at moments drawn from `seed`; calls
/// `on_progress` after each run. Then audits the log.
pub fn run_guarantee(
    exe: &Path,
    dir: &Path,
    guarantee: &'static str,
    job: &DemoJob,
    seed: u64,
    on_progress: impl FnMut(&KillReport),
) -> Result<GuaranteeRun, DemoError> {
    let finished = KillLoop::new(job.kills, seed)
        .delay_ms(40..300)
        .run_to_completion(|| job_command(exe, dir, guarantee, job), on_progress)
        .map_err(|source| DemoError::Job { guarantee, source })?;
    let check = audit(dir)?;
    Ok(GuaranteeRun {
        guarantee,
        crashes: finished.kills,
        runs: finished.runs,
        wall: finished.wall,
        check,
    })
}

/// Audits the demo job's topics in the log in `dir`.
pub fn audit(dir: &Path) -> Result<BalanceCheck, DemoError> {
    let log = Log::open_read_only(dir, LogConfig::default())?;
    let check = check_balances(
        &log,
        INPUT_TOPIC,
        OUTPUT_TOPIC,
        DEAD_LETTER_TOPIC,
        Some(AUDIT_TOPIC),
    )?;
    Ok(check)
}
