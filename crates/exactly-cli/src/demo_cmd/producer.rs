//! `exactly demo producer`: an idempotent producer appends records to an embedded log,
//! is killed with SIGKILL a few times mid-stream, and is restarted with the same command;
//! the log is then checked record by record: every input record exactly once, in order
//! (`exactly_testkit::producer_demo`).

use anyhow::{bail, Context};
use clap::Args;
use exactly_core::StdStorage;
use exactly_log::verify::verify_log;
use exactly_log::LogConfig;
use exactly_testkit::producer_audit::{audit_log, create_topic, write_input};
use exactly_testkit::producer_demo::{produce_with_kills, ProducerReport, TOPIC};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `exactly demo producer`.
#[derive(Args, Debug)]
pub struct ProducerArgs {
    /// Records to produce.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// How many times the producer is killed with SIGKILL before it may finish.
    #[arg(long, default_value_t = 3)]
    kills: u32,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Seed for the kill timing (default: from the clock; printed in the report).
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the log in this directory instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(super) fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Runs the demo.
pub fn run(args: ProducerArgs) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let work = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let log_dir = work.join("log");
    let input = work.join("input.jsonl");

    let bar = spinner("writing input");
    write_input(&input, args.records)?;
    create_topic(&log_dir, TOPIC, args.partitions)?;
    bar.finish_and_clear();

    let exe = crate::exactly_exe()?;
    let bar = spinner("producer run 1");
    let runs = produce_with_kills(&exe, &log_dir, &input, args.kills, seed, |so_far| {
        bar.set_message(format!("producer run {}", so_far.runs))
    });
    bar.finish_and_clear();
    let runs = runs?;

    let bar = spinner("auditing the log");
    let audit = audit_log(&log_dir, TOPIC, args.records, args.partitions)?;
    let verify = verify_log(&StdStorage, &log_dir, &LogConfig::default());
    bar.finish_and_clear();

    let report = ProducerReport {
        records: args.records,
        runs: &runs,
        audit: &audit,
        verify: &verify,
        seed,
        kept_dir: args.dir.is_some().then(|| log_dir.clone()),
    };
    match args.json {
        true => println!("{}", report.json()),
        false => print!("{report}"),
    }
    if !report.ok() {
        bail!("the log does not hold every record exactly once (seed {seed})");
    }
    Ok(())
}
