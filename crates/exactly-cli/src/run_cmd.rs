//! `exactly run …`: the built-in stream jobs on the embedded log or on NATS JetStream
//! (`balances`, `wordcount`, `window-count`), their status, and the balances check. The
//! pipeline `balances-by-branch` (embedded log only) is in `run_pipeline_cmd.rs`.
//! On NATS a job's checkpoints stay in `<dir>/.jobs/<job>` (or in PostgreSQL with
//! `--checkpoints postgres://…`); its epochs are `exactly_nats::job_run`'s.

use crate::checkpoints_cmd::CheckpointArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_engine::jobs::{self, Rejected};
use exactly_engine::status_watch::StatusWatch;
use exactly_engine::{
    log_topic, read_status, BadInputPolicy, Guarantee, Job, RunOptions, SinkMode,
};
use exactly_log::{Log, LogConfig};
use exactly_nats::job_restart::{restart_message, run_job_restarting, RestartObserver};
use exactly_nats::job_run::{
    create_state_dir, lock_state_dir, next_local_epoch, state_dir, NatsJobError,
};
use exactly_nats::TopicOptions;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the progress line is refreshed.
const TICK: Duration = Duration::from_millis(100);

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
    /// Branch totals from transfers: a two-stage pipeline (accounts, then branches)
    /// joined by a repartition topic, each stage exactly once.
    BalancesByBranch(crate::run_pipeline_cmd::BranchArgs),
    /// Word counts of text records (a per-key CountProcessor).
    Wordcount(JobArgs),
    /// Records per key per tumbling event-time window.
    WindowCount(WindowArgs),
    /// Print a job's status: newest checkpoint, its clock, the min clock.
    Status(StatusArgs),
    /// Check the balances job's output against its input (and R/UR from an audit topic).
    Check(CheckArgs),
}

#[derive(Args, Debug, Clone)]
struct JobArgs {
    /// Log directory (with `--log nats://…`: the directory of the job's local state).
    #[arg(long)]
    dir: PathBuf,
    /// Input and outputs on NATS JetStream instead of the embedded log in `--dir`:
    /// `nats://host:port[,host:port…]`.
    #[arg(long, value_name = "nats://HOST:PORT[,…]")]
    log: Option<String>,
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
    guarantee: Guarantee,
    /// Time between checkpoints.
    #[arg(long, default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// How exactly-once outputs are published: one log transaction per checkpoint, or
    /// written ahead in the manifest and appended with deterministic ids (idempotent).
    /// Default: transactional on the embedded log, idempotent on NATS (which has no
    /// transactions).
    #[arg(long, value_enum)]
    sink: Option<SinkMode>,
    /// Source and keyed tasks (1..=128); a restart may change it.
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Keep running at the end of the input.
    #[arg(long)]
    follow: bool,
    /// A new job starts at the first record at or after this time (ms since the Unix
    /// epoch) in each input partition — on the embedded log by the records' timestamps, on
    /// NATS by the time the server stored them — instead of at the beginning. Not used
    /// once the job has a checkpoint (it resumes from it).
    #[arg(long, value_name = "MS")]
    from_time: Option<i64>,
    /// Also write the lineage of every applied message to this topic (same transaction).
    #[arg(long)]
    audit: Option<String>,
    /// What to do with an input record the job cannot parse: write it to the dead-letter
    /// topic (exactly once with the outputs), or stop with an error naming it.
    #[arg(long, value_enum, default_value = "dead-letter")]
    on_bad_input: BadInputPolicy,
    /// Dead-letter topic (default: `<output>.dead-letters`).
    #[arg(long)]
    dead_letters: Option<String>,
    /// Print the summary as one JSON line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
    /// On NATS: how many consecutive runs may fail transiently (the server restarting, a
    /// request timing out) before the command gives up; each is started again in-process
    /// from the last checkpoint (same epoch), after 100 ms doubling up to 5 s. The
    /// count starts again after a run that committed a checkpoint. 1: exit on the first
    /// failure.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    restart_attempts: u32,
    /// Options of the topics the job creates on NATS (outputs, dead letters, audit,
    /// journal); ignored on the embedded log.
    #[command(flatten)]
    nats_topics: TopicOptions,
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
    /// Log directory (with `--log nats://…`: the directory of the job's local state).
    #[arg(long)]
    dir: PathBuf,
    /// The job ran on NATS JetStream (`nats://host:port[,…]`): its status file is in
    /// `<dir>/.jobs/<job>`.
    #[arg(long, value_name = "nats://HOST:PORT[,…]")]
    log: Option<String>,
    /// Job name (`balances`, `wordcount`, `window-count`).
    #[arg(long)]
    job: String,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Log directory (unused with `--log`).
    #[arg(long, required_unless_present = "log")]
    dir: Option<PathBuf>,
    /// Read input and outputs from NATS JetStream: `nats://host:port[,…]`.
    #[arg(long, value_name = "nats://HOST:PORT[,…]")]
    log: Option<String>,
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
    /// The job whose newest checkpoint `--checkpoints` restores and checks.
    #[arg(long, default_value = "balances")]
    job: String,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
}

/// Runs `exactly run …`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    match args.command {
        RunCommand::Balances(args) => {
            let rejected = Rejected::default();
            let job = jobs::balances(&args.input, &args.output, rejected.clone());
            run_job(job, &args, Some(&rejected))
        }
        RunCommand::BalancesByBranch(args) => crate::run_pipeline_cmd::run(&args),
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
    if let Some(address) = &args.log {
        return run_on_nats(&job, args, address, rejected);
    }
    let log = Log::open_scoped(&args.dir, LogConfig::default(), job.write_scope())
        .with_context(|| format!("opening the log in {}", args.dir.display()))?;
    crate::log_cmd::warn_pending_markers(&log);
    let mut options = RunOptions::new(&log, &job, args.guarantee);
    configure(&mut options, args, SinkMode::Transactional);
    args.checkpoints.apply(job.name(), &mut options)?;
    let started = Instant::now();
    let progress = Progress::start(&options, job.name());
    let result = job.run(&log, &options);
    progress.finish();
    let report = result.with_context(|| format!("running {}", job.name()))?;
    print_summary(&job, args, &options, &report, rejected, started)?;
    log.close()?;
    Ok(())
}

/// Sets `options` from the command line; `default_sink` when `--sink` is not given.
fn configure(options: &mut RunOptions, args: &JobArgs, default_sink: SinkMode) {
    options.parallelism = args.parallelism;
    options.sink_mode = match args.sink {
        Some(sink) => sink,
        None => default_sink,
    };
    options.checkpoint_interval_ms = args.checkpoint_interval_ms.max(1);
    options.follow = args.follow;
    options.start_from_time_ms = args.from_time;
    options.on_bad_input = args.on_bad_input;
}

/// Runs `job` on the NATS server(s) at `address`, started again in-process (same epoch)
/// after a transient failure (`--restart-attempts`): a new epoch for every process (from
/// the PostgreSQL checkpoint store, or counted in the locked local state directory).
fn run_on_nats(
    job: &Job,
    args: &JobArgs,
    address: &str,
    rejected: Option<&Rejected>,
) -> anyhow::Result<()> {
    let state_dir = state_dir(&args.dir, job.name());
    create_state_dir(&state_dir)?;
    let mut options = RunOptions::in_state_dir(state_dir.clone(), args.guarantee);
    configure(&mut options, args, SinkMode::Idempotent);
    let (epoch, _lock) = match args.checkpoints.apply(job.name(), &mut options)? {
        Some(epoch) => (epoch, None),
        None => {
            let lock = lock_state_dir(&state_dir)?;
            (next_local_epoch(&state_dir)?, Some(lock))
        }
    };
    let policy = ReconnectPolicy {
        attempts_max: args.restart_attempts,
        ..ReconnectPolicy::default()
    };
    let started = Instant::now();
    let progress = Progress::start(&options, job.name());
    let result = run_job_restarting(
        job,
        address,
        epoch,
        &options,
        &args.nats_topics,
        &policy,
        &mut WarnOnRestart,
    );
    progress.finish();
    print_summary(job, args, &options, &result?, rejected, started)
}

/// Tells the operator on stderr (logs are off by default) that a run failed and starts
/// again in-process.
struct WarnOnRestart;

impl RestartObserver for WarnOnRestart {
    fn restarting(
        &mut self,
        error: &NatsJobError,
        delay: Duration,
        attempt: u32,
        attempts_max: u32,
    ) {
        let message = restart_message(error, delay, attempt, attempts_max);
        eprintln!("warning: {message}");
    }
}

/// The run's summary: one JSON line (pretty on a terminal without `--json`).
fn print_summary(
    job: &Job,
    args: &JobArgs,
    options: &RunOptions,
    report: &exactly_engine::RunReport,
    rejected: Option<&Rejected>,
    started: Instant,
) -> anyhow::Result<()> {
    let seconds = started.elapsed().as_secs_f64();
    let summary = jobs::run_summary(job, options, report, rejected.map(Rejected::count), seconds);
    if args.json || !std::io::stdout().is_terminal() {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

/// A progress line on a terminal (records, checkpoints, min clock); nothing when piped.
struct Progress {
    bar: Option<ProgressBar>,
    watch: Option<StatusWatch>,
}

impl Progress {
    fn start(options: &RunOptions, job: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: None,
                watch: None,
            };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        let shown = bar.clone();
        let watch = StatusWatch::start(options.status.clone(), job, TICK, move |line| {
            shown.set_message(line);
            shown.tick();
        });
        Self {
            bar: Some(bar),
            watch: Some(watch),
        }
    }

    fn finish(self) {
        if let Some(watch) = self.watch {
            watch.stop();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn status(args: &StatusArgs) -> anyhow::Result<()> {
    if let Some(report) = args.checkpoints.report(&args.job)? {
        println!("{report}");
        return Ok(());
    }
    if args.log.is_some() {
        let state_dir = state_dir(&args.dir, &args.job);
        let status = exactly_engine::read_status_in(&state_dir, &args.job)?;
        println!("{}", serde_json::to_string(&status)?);
        return Ok(());
    }
    let log = Log::open_read_only(&args.dir, LogConfig::default())
        .with_context(|| format!("opening the log in {}", args.dir.display()))?;
    let status = read_status(&log, &args.job)?;
    println!("{}", serde_json::to_string(&status)?);
    Ok(())
}

fn check(args: &CheckArgs) -> anyhow::Result<()> {
    // The job's default dead-letter topic, as the job names it.
    let dead_letters = match &args.dead_letters {
        Some(topic) => topic.clone(),
        None => format!("{}.dead-letters", args.output),
    };
    let log: Box<dyn jobs::CommittedRecords> = match (&args.log, &args.dir) {
        (Some(address), _) => Box::new(
            exactly_nats::NatsLog::connect(address)
                .with_context(|| format!("connecting to {address}"))?,
        ),
        (None, Some(dir)) => Box::new(
            Log::open_read_only(dir, LogConfig::default())
                .with_context(|| format!("opening the log in {}", dir.display()))?,
        ),
        (None, None) => anyhow::bail!("--dir or --log is required"),
    };
    let check = jobs::check_balances(
        log.as_ref(),
        &args.input,
        &args.output,
        &dead_letters,
        args.audit.as_deref(),
    )?;
    if args.json || !std::io::stdout().is_terminal() {
        println!("{}", serde_json::to_string(&check)?);
    } else {
        println!("{}", check.to_text(&dead_letters));
    }
    anyhow::ensure!(check.exactly_once(), "balances are not exactly once");
    if let Some(report) = args.checkpoints.report(&args.job)? {
        println!("{report}");
        let restorable = report
            .get("restorable_checkpoint")
            .is_some_and(serde_json::Value::is_u64);
        anyhow::ensure!(
            restorable,
            "job {} has no restorable checkpoint in PostgreSQL",
            args.job
        );
    }
    Ok(())
}
