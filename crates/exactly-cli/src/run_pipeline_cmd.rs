//! `exactly run balances-by-branch`: the built-in two-stage pipeline on the embedded log
//! (stage `accounts` keyed by account, stage `branches` keyed by branch, joined by the
//! repartition topic `<pipeline>.accounts.repartition`), its stages run in threads of
//! this process.

use anyhow::Context;
use clap::Args;
use exactly_engine::jobs::{self, Rejected, BALANCES_BY_BRANCH, BRANCHES_DEFAULT};
use exactly_engine::pipeline::REPARTITION_PARTITIONS_DEFAULT;
use exactly_engine::{BadInputPolicy, Guarantee, Pipeline, PipelineReport, RunOptions, SinkMode};
use exactly_log::{Log, LogConfig};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `exactly run balances-by-branch`.
#[derive(Args, Debug)]
pub struct BranchArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// The pipeline's name: its stages' jobs are `<pipeline>_accounts` and
    /// `<pipeline>_branches` (their checkpoints, journals, transactions).
    #[arg(long, default_value = BALANCES_BY_BRANCH)]
    pipeline: String,
    /// Input topic of transfers.
    #[arg(long)]
    input: String,
    /// Output topic of branch totals (`{"key":branch,"value":total}`).
    #[arg(long)]
    output: String,
    /// Branches accounts are spread over (FNV-1a of the account modulo this); fixed for
    /// the pipeline's life.
    #[arg(long, default_value_t = BRANCHES_DEFAULT, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    branches: u32,
    /// Partitions of the repartition topic when it is created.
    #[arg(long, default_value_t = REPARTITION_PARTITIONS_DEFAULT, value_parser = clap::value_parser!(u32).range(1..=1024))]
    repartition_partitions: u32,
    /// Delivery guarantee of every stage.
    #[arg(long, value_enum, default_value = "exactly-once")]
    guarantee: Guarantee,
    /// Time between checkpoints of each stage (a hop's records become visible downstream
    /// when the upstream stage checkpoints).
    #[arg(long, default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// How exactly-once outputs are published (see `run balances --sink`).
    #[arg(long, value_enum, default_value = "transactional")]
    sink: SinkMode,
    /// Source and keyed tasks per stage (1..=128); a restart may change it.
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Keep running at the end of the input (every stage).
    #[arg(long)]
    follow: bool,
    /// A new pipeline's first stage starts at the first record at or after this time (ms
    /// since the Unix epoch) in each input partition.
    #[arg(long, value_name = "MS")]
    from_time: Option<i64>,
    /// What to do with a record a stage cannot parse: dead-letter it (to
    /// `<stage output>.dead-letters`) or stop with an error naming it.
    #[arg(long, value_enum, default_value = "dead-letter")]
    on_bad_input: BadInputPolicy,
    /// Print the summary as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Runs `exactly run balances-by-branch`.
pub fn run(args: &BranchArgs) -> anyhow::Result<()> {
    let rejected = Rejected::default();
    let pipeline = jobs::balances_by_branch(
        &args.pipeline,
        &args.input,
        &args.output,
        args.branches,
        args.repartition_partitions,
        rejected.clone(),
    )?;
    // Refused before the log is opened: a bad pipeline must not create even lock files.
    pipeline.validate()?;
    let log = Log::open_scoped(&args.dir, LogConfig::default(), pipeline.write_scope())
        .with_context(|| format!("opening the log in {}", args.dir.display()))?;
    crate::log_cmd::warn_pending_markers(&log);
    let options = options(&log, &pipeline, args)?;
    let started = Instant::now();
    let report = pipeline
        .run(&log, &options)
        .with_context(|| format!("running pipeline {}", pipeline.name()))?;
    let summary = summary(&pipeline, &options, &report, &rejected, started);
    if args.json || !std::io::stdout().is_terminal() {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    log.close()?;
    Ok(())
}

/// The stages' options template (each stage gets its own state directory from it).
fn options(log: &Log, pipeline: &Pipeline, args: &BranchArgs) -> anyhow::Result<RunOptions> {
    let first = pipeline
        .stages()
        .first()
        .context("the pipeline has no stage")?;
    let mut options = RunOptions::new(log, first.job(), args.guarantee);
    options.parallelism = args.parallelism;
    options.sink_mode = args.sink;
    options.checkpoint_interval_ms = args.checkpoint_interval_ms.max(1);
    options.follow = args.follow;
    options.start_from_time_ms = args.from_time;
    options.on_bad_input = args.on_bad_input;
    Ok(options)
}

/// One JSON object: the pipeline, its throughput (input records of the first stage per
/// second) and each stage's summary as `exactly run` prints a job's.
fn summary(
    pipeline: &Pipeline,
    options: &RunOptions,
    report: &PipelineReport,
    rejected: &Rejected,
    started: Instant,
) -> serde_json::Value {
    let seconds = started.elapsed().as_secs_f64();
    let stages: Vec<serde_json::Value> = (pipeline.stages().iter())
        .zip(&report.stages)
        .enumerate()
        .map(|(index, (stage, run))| {
            // Only the first stage parses transfers (and counts rejections).
            let rejected = (index == 0).then(|| rejected.count());
            let mut summary =
                jobs::run_summary(stage.job(), options, &run.report, rejected, seconds);
            if let Some(fields) = summary.as_object_mut() {
                fields.insert("stage".into(), serde_json::json!(stage.name()));
            }
            summary
        })
        .collect();
    let records_in = report.stages.first().map_or(0, |s| s.report.records_in);
    serde_json::json!({
        "pipeline": pipeline.name(),
        "repartition_topics": pipeline.repartition_topics(),
        "records_in": records_in,
        "seconds": seconds,
        "records_per_sec": (records_in as f64 / seconds.max(1e-9)) as u64,
        "stages": stages,
    })
}
