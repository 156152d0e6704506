//! `exactly demo producer`: an idempotent producer appends records to an embedded log,
//! is killed with SIGKILL a few times mid-stream, and is restarted with the same command;
//! the log is then checked record by record: every input record exactly once, in order.

use anyhow::{bail, Context};
use clap::Args;
use exactly_core::StdStorage;
use exactly_log::verify::verify_log;
use exactly_log::LogConfig;
use exactly_testkit::producer_audit::{audit_log, create_topic, write_input, ProducerAudit};
use exactly_testkit::KillLoop;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const TOPIC: &str = "payments";

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

/// How the producer runs went.
#[derive(Default, Debug)]
struct Runs {
    started: u32,
    killed: u32,
    last_appended: u64,
    last_deduplicated: u64,
    producer_wall: Duration,
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

    let runs = produce_with_kills(&log_dir, &input, args.kills, seed)?;

    let bar = spinner("auditing the log");
    let audit = audit_log(&log_dir, TOPIC, args.records, args.partitions)?;
    let report = verify_log(&StdStorage, &log_dir, &LogConfig::default());
    bar.finish_and_clear();

    let ok = audit.exactly_once(args.records) && !report.has_damage();
    let throughput = audit.stored as f64 / runs.producer_wall.as_secs_f64().max(1e-9);
    if args.json {
        println!(
            "{}",
            json!({"records_sent": args.records, "producer_runs": runs.started, "sigkills": runs.killed,
                   "stored": audit.stored, "deduplicated_by_last_run": runs.last_deduplicated,
                   "appended_by_last_run": runs.last_appended, "missing": audit.missing,
                   "duplicated": audit.duplicated, "out_of_order": audit.out_of_order,
                   "exactly_once": ok, "records_per_sec": throughput as u64, "seed": seed,
                   "log_bytes": report.bytes, "verify_findings": report.findings.len()})
        );
    } else {
        print_report(
            &args, &runs, &audit, &report, ok, throughput, seed, &log_dir,
        );
    }
    if !ok {
        bail!("the log does not hold every record exactly once (seed {seed})");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    args: &ProducerArgs,
    runs: &Runs,
    audit: &ProducerAudit,
    report: &exactly_log::verify::VerifyReport,
    ok: bool,
    throughput: f64,
    seed: u64,
    log_dir: &Path,
) {
    let yes_no = |b: bool| if b { "yes" } else { "NO" };
    println!("exactly demo: an idempotent producer, killed with SIGKILL and resumed\n");
    println!("  records sent           {}", args.records);
    println!(
        "  producer runs          {} ({} killed with SIGKILL mid-stream, seed {seed})",
        runs.started, runs.killed
    );
    println!("  records in the log     {}", audit.stored);
    println!(
        "  last run               appended {}, de-duplicated {} (re-sent, dropped by the log)",
        runs.last_appended, runs.last_deduplicated
    );
    println!(
        "  exactly once           {} (missing {}, duplicated {}, out of order {}, misrouted {})",
        yes_no(ok),
        audit.missing,
        audit.duplicated,
        audit.out_of_order,
        audit.misrouted
    );
    println!(
        "  log integrity          {} batches / {} bytes checksummed, {} finding(s)",
        report.batches,
        report.bytes,
        report.findings.len()
    );
    println!("  throughput             {throughput:.0} records/s (durable, fsync per group, incl. restarts)");
    if args.dir.is_some() {
        println!("  log directory          {}", log_dir.display());
    }
}

fn producer_command(exe: &Path, log_dir: &Path, input: &Path) -> Command {
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

fn produce_with_kills(log_dir: &Path, input: &Path, kills: u32, seed: u64) -> anyhow::Result<Runs> {
    let exe = crate::exactly_exe()?;
    let bar = spinner("producer run 1");
    let finished = KillLoop::new(kills, seed)
        .delay_ms(150..1200)
        .run_to_completion(
            || producer_command(&exe, log_dir, input),
            |so_far| bar.set_message(format!("producer run {}", so_far.runs)),
        )
        .context("producer");
    bar.finish_and_clear();
    let finished = finished?;
    let summary: serde_json::Value = serde_json::from_slice(&finished.output.stdout)
        .context("reading the producer's summary")?;
    let count = |field: &str| {
        summary
            .get(field)
            .and_then(serde_json::Value::as_u64)
            .with_context(|| format!("the producer's summary has no `{field}` count: {summary}"))
    };
    Ok(Runs {
        started: finished.runs,
        killed: finished.kills,
        last_appended: count("appended")?,
        last_deduplicated: count("deduplicated")?,
        producer_wall: finished.wall,
    })
}
