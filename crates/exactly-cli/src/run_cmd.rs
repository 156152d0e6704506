//! `exactly run …`: the built-in stream jobs on the embedded log (`balances`, `wordcount`,
//! `window-count`), their status, and the balances check.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use exactly_engine::jobs::{self, Rejected};
use exactly_engine::{
    journal_topic, log_topic, read_status, BadInputPolicy, Guarantee, Job, RunOptions, SinkMode,
};
use exactly_log::{Log, LogConfig, WriteScope};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `exactly run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(subcommand)]
    command: RunCommand,
}

#[derive(Subcommand, Debug)]
enum RunCommand {
    /// Account balances from transfers: each transfer debits `from` and credits `to`.
    Balances(JobArgs),
    /// Word counts of text records (a per-key CountProcessor).
    Wordcount(JobArgs),
    /// Records per key per tumbling event-time window.
    WindowCount(WindowArgs),
    /// Print a job's status: newest checkpoint, its clock, the min clock.
    Status(StatusArgs),
    /// Check the balances job's output against its input (and R/UR from an audit topic).
    Check(CheckArgs),
}

/// The CLI spelling of [`Guarantee`].
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GuaranteeArg {
    /// Positions committed before processing: may lose, never doubles.
    AtMostOnce,
    /// Outputs before positions: may double, never loses.
    AtLeastOnce,
    /// Outputs in one transaction per checkpoint, committed after the manifest.
    ExactlyOnce,
}

impl From<GuaranteeArg> for Guarantee {
    fn from(value: GuaranteeArg) -> Self {
        match value {
            GuaranteeArg::AtMostOnce => Guarantee::AtMostOnce,
            GuaranteeArg::AtLeastOnce => Guarantee::AtLeastOnce,
            GuaranteeArg::ExactlyOnce => Guarantee::ExactlyOnce,
        }
    }
}

/// The CLI spelling of [`SinkMode`].
#[derive(Clone, Copy, Debug, ValueEnum)]
enum SinkArg {
    /// One log transaction per checkpoint, committed after the manifest.
    Transactional,
    /// Outputs in the manifest, then appended with ids the log de-duplicates.
    Idempotent,
}

/// The CLI spelling of [`BadInputPolicy`].
#[derive(Clone, Copy, Debug, ValueEnum)]
enum BadInputArg {
    /// Write the record to the dead-letter topic, exactly once with the outputs.
    DeadLetter,
    /// Stop the job with an error naming the record; nothing at or after it is committed.
    Fail,
}

#[derive(Args, Debug, Clone)]
struct JobArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// The job's name: its identity (checkpoints, journal, transactions). Default: the
    /// job's kind (`balances`, …). A job's input, output, audit, dead-letter topic,
    /// guarantee and key groups are fixed for its life; to run with other ones, start a
    /// new job under another name (it starts from the beginning of its input).
    #[arg(long)]
    job: Option<String>,
    /// Input topic.
    #[arg(long)]
    input: String,
    /// Output topic (created with the input's partition count if missing).
    #[arg(long)]
    output: String,
    /// Delivery guarantee.
    #[arg(long, value_enum, default_value = "exactly-once")]
    guarantee: GuaranteeArg,
    /// Time between checkpoints.
    #[arg(long, default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// How exactly-once outputs are published: one log transaction per checkpoint, or
    /// written ahead in the manifest and appended with deterministic ids (idempotent).
    #[arg(long, value_enum, default_value = "transactional")]
    sink: SinkArg,
    /// Source and keyed tasks (1..=128); a restart may change it.
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Keep running at the end of the input.
    #[arg(long)]
    follow: bool,
    /// Also write the lineage of every applied message to this topic (same transaction).
    #[arg(long)]
    audit: Option<String>,
    /// What to do with an input record the job cannot parse: write it to the dead-letter
    /// topic (exactly once with the outputs), or stop with an error naming it.
    #[arg(long, value_enum, default_value = "dead-letter")]
    on_bad_input: BadInputArg,
    /// Dead-letter topic (default: `<output>.dead-letters`).
    #[arg(long)]
    dead_letters: Option<String>,
    /// Print the summary as one JSON line.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct WindowArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Window length.
    #[arg(long)]
    window_ms: i64,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Job name (`balances`, `wordcount`, `window-count`).
    #[arg(long)]
    job: String,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Input topic of transfers.
    #[arg(long)]
    input: String,
    /// Output topic of balances.
    #[arg(long)]
    output: String,
    /// Audit topic, if the job wrote one (without it R and UR are not measured).
    #[arg(long)]
    audit: Option<String>,
    /// Dead-letter topic of the job (default: `<output>.dead-letters`).
    #[arg(long)]
    dead_letters: Option<String>,
    /// Print the result as one JSON line (the default when not on a terminal).
    #[arg(long)]
    json: bool,
}

/// Runs `exactly run …`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    match args.command {
        RunCommand::Balances(args) => {
            let rejected = Rejected::default();
            let job = jobs::balances(&args.input, &args.output, rejected.clone());
            run_job(job, &args, Some(&rejected))
        }
        RunCommand::Wordcount(args) => {
            run_job(jobs::wordcount(&args.input, &args.output), &args, None)
        }
        RunCommand::WindowCount(args) => {
            anyhow::ensure!(args.window_ms > 0, "--window-ms must be positive");
            let job = jobs::window_count(&args.job.input, &args.job.output, args.window_ms);
            run_job(job, &args.job, None)
        }
        RunCommand::Status(args) => status(&args),
        RunCommand::Check(args) => check(&args),
    }
}

fn run_job(job: Job, args: &JobArgs, rejected: Option<&Rejected>) -> anyhow::Result<()> {
    let job = match &args.audit {
        Some(topic) => job.audit(log_topic(topic)),
        None => job,
    };
    let job = match &args.dead_letters {
        Some(topic) => job.dead_letters(log_topic(topic)),
        None => job,
    };
    let job = match &args.job {
        Some(name) => job.named(name),
        None => job,
    };
    // Refused before the log is opened: a bad job must not create even lock files.
    job.validate()
        .with_context(|| format!("running {}", job.name()))?;
    let log = Log::open_scoped(&args.dir, LogConfig::default(), job_scope(&job))
        .with_context(|| format!("opening the log in {}", args.dir.display()))?;
    crate::log_cmd::warn_pending_markers(&log);
    let mut options = RunOptions::new(&log, &job, args.guarantee.into());
    options.parallelism = args.parallelism;
    options.sink_mode = match args.sink {
        SinkArg::Transactional => SinkMode::Transactional,
        SinkArg::Idempotent => SinkMode::Idempotent,
    };
    options.checkpoint_interval_ms = args.checkpoint_interval_ms.max(1);
    options.follow = args.follow;
    options.on_bad_input = match args.on_bad_input {
        BadInputArg::DeadLetter => BadInputPolicy::DeadLetter,
        BadInputArg::Fail => BadInputPolicy::Fail,
    };
    let started = Instant::now();
    let progress = Progress::start(&options, job.name());
    let result = job.run(&log, &options);
    progress.finish();
    let report = result.with_context(|| format!("running {}", job.name()))?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = json!({
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
        "rejected_seen": rejected.map(Rejected::count),
        "journal_ahead_on_recovery": report.recovery.journal_ahead,
        "seconds": seconds, "records_per_sec": (report.records_in as f64 / seconds.max(1e-9)) as u64,
    });
    if args.json || !std::io::stdout().is_terminal() {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    log.close()?;
    Ok(())
}

/// What a job writes: its outputs, audit and dead-letter topics, its journal and the
/// transaction topics. Its input is followed read-only, so other processes can keep
/// appending to it while the job runs (with or without `--follow`).
fn job_scope(job: &Job) -> WriteScope {
    let mut topics = vec![
        job.sink_topic().to_string(),
        job.dead_letter_topic(),
        journal_topic(job.name()),
    ];
    topics.extend(job.audit_topic().map(str::to_string));
    WriteScope::topics(topics).with_transactions()
}

/// A progress line on a terminal (records, checkpoints, min clock); nothing when piped.
struct Progress {
    bar: Option<ProgressBar>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(options: &RunOptions, job: &str) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: None,
                stop,
                thread: None,
            };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        let (status, job, flag, shown) = (
            options.status.clone(),
            job.to_string(),
            stop.clone(),
            bar.clone(),
        );
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                shown.set_message(format!(
                    "{job}: {} records in, {} out, {} checkpoints, min clock {}",
                    status.records_in.load(Ordering::Relaxed),
                    status.records_out.load(Ordering::Relaxed),
                    status.checkpoints.load(Ordering::Relaxed),
                    status.min_clock_ms.load(Ordering::Relaxed),
                ));
                shown.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            bar: Some(bar),
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let log = Log::open_read_only(&args.dir, LogConfig::default())
        .with_context(|| format!("opening the log in {}", args.dir.display()))?;
    let status = read_status(&log, &args.job)?;
    println!("{}", serde_json::to_string(&status)?);
    Ok(())
}

fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let log = Log::open_read_only(&args.dir, LogConfig::default())
        .with_context(|| format!("opening the log in {}", args.dir.display()))?;
    let dead_letters = args
        .dead_letters
        .clone()
        .unwrap_or_else(|| format!("{}.dead-letters", args.output));
    let check = jobs::check_balances(
        &log,
        &args.input,
        &args.output,
        &dead_letters,
        args.audit.as_deref(),
    )?;
    if args.json || !std::io::stdout().is_terminal() {
        println!("{}", serde_json::to_string(&check)?);
    } else {
        print_check(&check, &dead_letters);
    }
    anyhow::ensure!(check.exactly_once(), "balances are not exactly once");
    Ok(())
}

/// The check for people: what was not measured says so.
fn print_check(check: &jobs::BalanceCheck, dead_letters: &str) {
    let ratio = |value: Option<f64>| match value {
        Some(v) => format!("{v:.6}"),
        None => "not measured (no --audit)".to_string(),
    };
    println!("transfers          {}", check.transfers);
    println!(
        "accounts           {} ({} wrong)",
        check.accounts, check.accounts_wrong
    );
    println!("money total        {}", check.money_total);
    println!(
        "unparseable        {} ({} in {dead_letters}, {} missing, {} extra)",
        check.unparseable, check.dead_letters, check.dead_letters_missing, check.dead_letters_extra
    );
    println!("R                  {}", ratio(check.r));
    println!("UR                 {}", ratio(check.ur));
    println!("exactly once       {}", check.exactly_once());
}
