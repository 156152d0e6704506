//! `bench engine`: the `balances` job from the embedded log to the embedded log —
//! exactly-once vs at-least-once vs a stateless pass-through, in the same run on copies of
//! the same input, medians of interleaved rounds — against the job's physical limits on
//! this machine measured in the same rounds (`limits.rs`), and recovery time after
//! `kill -9` with about a million keys of state.

mod input;
mod limits;

use crate::error::{io_error, BenchError, Context};
use crate::stats::{median, median_by};
use exactly_engine::jobs::{self, Rejected};
use exactly_engine::{log_topic, Guarantee, Job, RunOptions, SinkMode, SourceRecord};
use exactly_log::{Log, LogConfig};
pub use limits::LimitRound;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Settings of the engine benchmark.
#[derive(Clone, Debug)]
pub struct EngineBenchConfig {
    /// Transfers in the throughput input.
    pub transfers: u64,
    /// Accounts in the throughput input.
    pub accounts: u64,
    /// Tasks per stage.
    pub parallelism: u32,
    /// Interleaved rounds; medians are reported.
    pub rounds: usize,
    /// Recovery measurement: accounts (keys of state) and the `exactly` binary that runs
    /// the job to be killed. `None` skips it.
    pub recovery: Option<RecoveryConfig>,
    /// Scratch directory (default: a temporary one).
    pub dir: Option<PathBuf>,
}

/// What the recovery measurement needs.
#[derive(Clone, Debug)]
pub struct RecoveryConfig {
    /// Accounts, each a key of state.
    pub keys: u64,
    /// The `exactly` binary (`exactly run balances` is run and killed with SIGKILL).
    pub exactly_exe: PathBuf,
}

impl Default for EngineBenchConfig {
    fn default() -> Self {
        Self {
            transfers: 2_000_000,
            accounts: 100_000,
            parallelism: 1,
            rounds: 3,
            recovery: None,
            dir: None,
        }
    }
}

/// One variant's median round.
#[derive(Clone, Debug, Serialize)]
pub struct EngineVariant {
    /// `exactly-once`, `eo-idempotent`, `at-least-once` or `pass-through`.
    pub variant: &'static str,
    /// Records read in the median round.
    pub records: u64,
    /// Duration of the median round.
    pub seconds: f64,
    /// Input records per second.
    pub events_per_sec: f64,
    /// Checkpoints taken in the median round.
    pub checkpoints: u64,
    /// Events per second of every round, in round order.
    pub rounds_events_per_sec: Vec<f64>,
}

/// Recovery after SIGKILL.
#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    /// Keys in the restored state.
    pub keys: u64,
    /// Time to open the log after the kill.
    pub log_open_ms: u128,
    /// From the restart until the first record was processed again.
    pub back_to_processing_ms: u128,
    /// The checkpoint restored.
    pub restored_checkpoint: Option<u64>,
}

/// The job's physical limits (medians over the rounds, each measured on one core).
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    /// Bytes of the input's files.
    pub input_bytes: u64,
    /// Sequential read of the input's bytes, in input records per second.
    pub read_per_sec: f64,
    /// The same, in bytes per second.
    pub read_bytes_per_sec: f64,
    /// Bare JSON parse of every record (typed, borrowed), records per second.
    pub parse_per_sec: f64,
    /// Bare hash-map aggregation of the parsed records (two updates each), records per
    /// second.
    pub aggregate_per_sec: f64,
    /// The three in a row on one core: the job's bare limit, records per second (median
    /// of the rounds' own bare limits).
    pub bare_per_sec: f64,
    /// Every round, in round order.
    pub rounds: Vec<LimitRound>,
}

/// Everything `bench engine` measured.
#[derive(Clone, Debug, Serialize)]
pub struct EngineReport {
    /// Median round of each variant.
    pub variants: Vec<EngineVariant>,
    /// Exactly-once events per second (median).
    pub exactly_once_per_sec: f64,
    /// Exactly-once with the idempotent sink (median).
    pub exactly_once_idempotent_per_sec: f64,
    /// At-least-once (median).
    pub at_least_once_per_sec: f64,
    /// Pass-through (median).
    pub pass_through_per_sec: f64,
    /// Exactly-once divided by at-least-once.
    pub eo_vs_alo: f64,
    /// The job's physical limits, measured in the same rounds.
    pub limits: Limits,
    /// Exactly-once divided by the bare limit on one core.
    pub eo_vs_bare: f64,
    /// Average input record bytes (key + value + 8).
    pub record_bytes: f64,
    /// Tasks per stage.
    pub parallelism: u32,
    /// Rounds per variant.
    pub rounds: usize,
    /// Recovery after `kill -9`, when measured.
    pub recovery: Option<Recovery>,
}

const VARIANTS: [(&str, Guarantee); 4] = [
    ("exactly-once", Guarantee::ExactlyOnce),
    ("eo-idempotent", Guarantee::ExactlyOnce),
    ("at-least-once", Guarantee::AtLeastOnce),
    ("pass-through", Guarantee::AtLeastOnce),
];

/// One timed run of a job on a fresh copy of the input.
struct Measured {
    records: u64,
    seconds: f64,
    checkpoints: u64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }
}

/// Runs the benchmark. `progress` is told what is being measured.
pub fn run(
    config: &EngineBenchConfig,
    progress: &dyn Fn(&str),
) -> Result<EngineReport, BenchError> {
    if config.rounds == 0 {
        return Err(BenchError::Settings("rounds must be positive".into()));
    }
    let parent = std::env::temp_dir();
    let temp = tempfile::tempdir().map_err(io_error("creating a directory in", &parent))?;
    let work = config
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let base = work.join("input");
    progress(&format!("generating {} transfers", config.transfers));
    input::transfers(&base, "transfers", 4, config.transfers, config.accounts, 7)?;
    let record_bytes = average_record_bytes(&base)?;
    progress("loading the input for the limits");
    let loaded = limits::load(&base, "transfers")?;
    let p = config.parallelism;
    let mut results: Vec<Vec<Measured>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    let mut limit_rounds = Vec::new();
    // Alternate the order round by round so that no variant always runs on a warmer page
    // cache; the median round of each is reported. Index `VARIANTS.len()` is the limits.
    for round in 0..config.rounds {
        let mut order: Vec<usize> = (0..=VARIANTS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            if i == VARIANTS.len() {
                progress(&format!("round {}: limits", round + 1));
                limit_rounds.push(limits::measure(&base, &loaded)?);
                continue;
            }
            let (Some(&(name, guarantee)), Some(rounds)) = (VARIANTS.get(i), results.get_mut(i))
            else {
                continue;
            };
            progress(&format!("round {}: {name}", round + 1));
            let job = match name {
                "pass-through" => pass_through(),
                _ => jobs::balances("transfers", "balances", Rejected::default()),
            };
            rounds.push(measure(&base, &work, name, job, guarantee, p)?);
        }
    }
    let mut variants = Vec::new();
    for (&(name, _), rounds) in VARIANTS.iter().zip(results) {
        let rates: Vec<f64> = rounds.iter().map(Measured::rate).collect();
        let m = median_by(rounds, Measured::rate)
            .ok_or_else(|| BenchError::Settings("no rounds measured".into()))?;
        variants.push(EngineVariant {
            variant: name,
            records: m.records,
            seconds: m.seconds,
            events_per_sec: m.rate(),
            checkpoints: m.checkpoints,
            rounds_events_per_sec: rates,
        });
    }
    let rate = |name: &str| {
        variants
            .iter()
            .find(|v| v.variant == name)
            .map_or(0.0, |v| v.events_per_sec)
    };
    let (eo, alo) = (rate("exactly-once"), rate("at-least-once"));
    drop(loaded);
    let limits = summarize_limits(limit_rounds)?;
    let recovery = match &config.recovery {
        Some(r) => {
            progress(&format!("recovery with {} keys", r.keys));
            Some(recovery(&work, r, p)?)
        }
        None => None,
    };
    Ok(EngineReport {
        exactly_once_per_sec: eo,
        exactly_once_idempotent_per_sec: rate("eo-idempotent"),
        at_least_once_per_sec: alo,
        pass_through_per_sec: rate("pass-through"),
        eo_vs_alo: eo / alo.max(1e-9),
        eo_vs_bare: eo / limits.bare_per_sec.max(1e-9),
        limits,
        record_bytes,
        parallelism: p,
        rounds: config.rounds,
        variants,
        recovery,
    })
}

/// Medians of the limit rounds.
fn summarize_limits(rounds: Vec<LimitRound>) -> Result<Limits, BenchError> {
    let of = |f: &dyn Fn(&LimitRound) -> f64| {
        let values: Vec<f64> = rounds.iter().map(f).collect();
        median(&values).ok_or_else(|| BenchError::Settings("no limit rounds".into()))
    };
    let per_sec = |seconds: f64, r: &LimitRound| r.records as f64 / seconds.max(1e-9);
    let input_bytes = rounds
        .first()
        .ok_or_else(|| BenchError::Settings("no limit rounds".into()))?
        .input_bytes;
    Ok(Limits {
        input_bytes,
        read_per_sec: of(&|r| per_sec(r.read_seconds, r))?,
        read_bytes_per_sec: of(&|r| r.input_bytes as f64 / r.read_seconds.max(1e-9))?,
        parse_per_sec: of(&|r| per_sec(r.parse_seconds, r))?,
        aggregate_per_sec: of(&|r| per_sec(r.aggregate_seconds, r))?,
        bare_per_sec: of(&LimitRound::bare_per_sec)?,
        rounds,
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(to).map_err(io_error("creating", to))?;
    for entry in std::fs::read_dir(from).map_err(io_error("listing", from))? {
        let entry = entry.map_err(io_error("listing", from))?;
        let target = to.join(entry.file_name());
        let source = entry.path();
        let kind = entry.file_type().map_err(io_error("inspecting", &source))?;
        if kind.is_dir() {
            copy_dir(&source, &target)?;
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(&source, &target).map_err(io_error("copying", &source))?;
        }
    }
    Ok(())
}

fn measure(
    base: &Path,
    work: &Path,
    name: &'static str,
    job: Job,
    guarantee: Guarantee,
    parallelism: u32,
) -> Result<Measured, BenchError> {
    let dir = work.join(name);
    copy_dir(base, &dir)?;
    let log = Log::open(&dir, LogConfig::default()).during("opening the log")?;
    let mut options = RunOptions::new(&log, &job, guarantee);
    options.parallelism = parallelism;
    options.checkpoint_interval_ms = 1000;
    if name == "eo-idempotent" {
        options.sink_mode = SinkMode::Idempotent;
    }
    let started = Instant::now();
    let report = job.run(&log, &options).during("running the job")?;
    let seconds = started.elapsed().as_secs_f64();
    log.close().during("closing the log")?;
    std::fs::remove_dir_all(&dir).map_err(io_error("removing", &dir))?;
    Ok(Measured {
        records: report.records_in,
        seconds,
        checkpoints: report.checkpoints,
    })
}

fn pass_through() -> Job {
    Job::new("pass-through")
        .source(log_topic("transfers"))
        .map(|record: SourceRecord| record)
        .sink(log_topic("copy"))
}

fn average_record_bytes(dir: &Path) -> Result<f64, BenchError> {
    let log = Log::open_read_only(dir, LogConfig::default()).during("opening the input")?;
    let batch = log
        .read("transfers", 0, exactly_core::Offset(0), 10_000)
        .during("reading the input")?;
    let bytes: usize = batch
        .iter()
        .map(|r| r.value.len() + r.key.as_ref().map_or(0, Vec::len) + 8)
        .sum();
    Ok(bytes as f64 / batch.len().max(1) as f64)
}

/// Builds ~`keys` accounts of state, kills a run mid-way with SIGKILL, and times the
/// restart until the first record is processed again.
fn recovery(
    work: &Path,
    config: &RecoveryConfig,
    parallelism: u32,
) -> Result<Recovery, BenchError> {
    let dir = work.join("recovery");
    let keys = config.keys;
    input::transfers(&dir, "transfers", 4, keys * 3, keys, 11)?; // 3 per account: ~95% touched
    let run = || -> Result<std::process::Child, BenchError> {
        Command::new(&config.exactly_exe)
            .args(["run", "balances", "--input", "transfers"])
            .args(["--output", "balances", "--guarantee", "exactly-once"])
            .args(["--parallelism", &parallelism.to_string()])
            .args(["--checkpoint-interval-ms", "1000"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_error("starting", &config.exactly_exe))
    };
    let status = run()?
        .wait()
        .map_err(io_error("waiting for", &config.exactly_exe))?;
    if !status.success() {
        return Err(BenchError::Check(format!(
            "building the state failed: {status}"
        )));
    }
    input::transfers(&dir, "transfers", 4, 3_000_000, keys, 12)?;
    let mut child = run()?;
    std::thread::sleep(Duration::from_millis(1500));
    child
        .kill() // SIGKILL
        .map_err(io_error("killing", &config.exactly_exe))?;
    child
        .wait()
        .map_err(io_error("waiting for", &config.exactly_exe))?;

    let started = Instant::now();
    let log = Log::open(&dir, LogConfig::default()).during("opening the log after the kill")?;
    let log_open_ms = started.elapsed().as_millis();
    let job = jobs::balances("transfers", "balances", Rejected::default());
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = parallelism;
    let status = options.status.clone();
    let stop = options.stop.clone();
    let watcher = std::thread::spawn(move || {
        while status.records_in.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        let at = started.elapsed().as_millis();
        stop.store(true, Ordering::SeqCst);
        at
    });
    let report = job.run(&log, &options).during("running the job again")?;
    let back_to_processing_ms = watcher.join().map_err(|_| BenchError::ThreadPanicked)?;
    let keys_in_state = jobs::last_values(&log, "balances")
        .during("reading the balances")?
        .len() as u64;
    Ok(Recovery {
        keys: keys_in_state,
        log_open_ms,
        back_to_processing_ms,
        restored_checkpoint: report.recovery.checkpoint_id,
    })
}
