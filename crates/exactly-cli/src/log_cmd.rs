//! `exactly log …`: create, produce, consume, describe and verify an embedded log, with
//! JSON lines in and out.

mod consume;
mod copy;
mod produce;
mod repair;
mod txn;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use exactly_log::verify::verify_log;
use exactly_log::{Log, LogConfig, ReadOnlyStorage, TxnState, WriteScope};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Arguments of `exactly log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Subcommand, Debug)]
enum LogCommand {
    /// Create a topic with N partitions.
    Create(CreateArgs),
    /// Append JSON-lines records (`{"key":…,"value":…,"timestamp":…}`) to a topic.
    Produce(produce::ProduceArgs),
    /// Print records as JSON lines.
    Consume(consume::ConsumeArgs),
    /// Write a JSON-lines file (each line names its topic) to several topics atomically.
    Txn(txn::TxnArgs),
    /// Consume-transform-produce from one topic to another, exactly once (or at least once).
    Copy(copy::CopyArgs),
    /// Print topics and partitions (offsets, sizes, producers) as JSON lines.
    Describe(DescribeArgs),
    /// Checksum every batch; exit non-zero on damage.
    Verify(VerifyArgs),
    /// Cut damaged data at the end of partitions (also data known durable), printing what
    /// is dropped.
    Repair(repair::RepairArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Topic name.
    #[arg(long)]
    topic: String,
    /// Number of partitions.
    #[arg(long, default_value_t = 1)]
    partitions: u32,
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Only this topic.
    #[arg(long)]
    topic: Option<String>,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
}

/// Runs `exactly log …`.
pub fn run(args: LogArgs) -> anyhow::Result<()> {
    match args.command {
        LogCommand::Create(args) => create(args),
        LogCommand::Produce(args) => produce::run(args),
        LogCommand::Consume(args) => consume::run(args),
        LogCommand::Txn(args) => txn::run(args),
        LogCommand::Copy(args) => copy::run(args),
        LogCommand::Describe(args) => describe(args),
        LogCommand::Verify(args) => verify(args),
        LogCommand::Repair(args) => repair::run(args),
    }
}

/// Opens an existing log directory for writing with `config`.
pub(crate) fn open_writer(dir: &Path, config: LogConfig) -> anyhow::Result<Log> {
    if !dir.is_dir() {
        bail!(
            "log directory {} does not exist (create a topic first)",
            dir.display()
        );
    }
    Log::open(dir, config).with_context(|| format!("opening log {}", dir.display()))
}

/// Opens an existing log directory as the writer of the topics in `scope` only: other
/// processes may write other topics meanwhile (see `Log::open_scoped`).
pub(crate) fn open_scoped_writer(
    dir: &Path,
    config: LogConfig,
    scope: WriteScope,
) -> anyhow::Result<Log> {
    if !dir.is_dir() {
        bail!(
            "log directory {} does not exist (create a topic first)",
            dir.display()
        );
    }
    let log = Log::open_scoped(dir, config, scope)
        .with_context(|| format!("opening log {}", dir.display()))?;
    warn_pending_markers(&log);
    Ok(log)
}

/// Warns on standard error of every transaction marker recovery left to another owner:
/// `read_committed` readers of those partitions wait until it is written.
pub(crate) fn warn_pending_markers(log: &Log) {
    for pending in log.pending_markers() {
        eprintln!(
            "warning: transaction {} (producer {} epoch {}) is decided ({:?}) but its marker \
             in {}/{} is not written: that topic is owned elsewhere; readers of it wait until \
             a process owning it and __transactions opens the log",
            pending
                .transactional_id
                .as_deref()
                .unwrap_or("(unknown id)"),
            pending.producer_id,
            pending.epoch,
            pending.kind,
            pending.topic,
            pending.partition
        );
    }
}

/// Opens a log for reading without taking its lock, so it can follow a log another process
/// is appending to (see `Log::open_read_only`).
pub(crate) fn open_follower(dir: &Path) -> anyhow::Result<Log> {
    if !dir.is_dir() {
        bail!(
            "log directory {} does not exist (create a topic first)",
            dir.display()
        );
    }
    Log::open_read_only(dir, LogConfig::default())
        .with_context(|| format!("opening log {} for reading", dir.display()))
}

fn create(args: CreateArgs) -> anyhow::Result<()> {
    // Scoped to the new topic: a topic can be created while jobs write others.
    let scope = WriteScope::topics([args.topic.as_str()]);
    let log = Log::open_scoped(&args.dir, LogConfig::default(), scope)
        .with_context(|| format!("opening log {}", args.dir.display()))?;
    log.create_topic(&args.topic, args.partitions)?;
    log.close()?;
    println!(
        "{}",
        json!({"created": args.topic, "partitions": args.partitions, "dir": args.dir})
    );
    Ok(())
}

fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    let log = open_follower(&args.dir)?;
    for event in log.recovery_events() {
        println!(
            "{}",
            json!({"recovery": "truncated torn tail", "file": event.file, "at": event.truncated_at,
                   "bytes_removed": event.bytes_removed, "reason": event.reason})
        );
    }
    let topics = log.topics();
    if let Some(wanted) = &args.topic {
        if !topics.iter().any(|(name, _)| name == wanted) {
            bail!("unknown topic '{wanted}'");
        }
    }
    for (topic, partitions) in topics {
        if args.topic.as_ref().is_some_and(|t| *t != topic) {
            continue;
        }
        for partition in 0..partitions {
            let info = log.partition_info(&topic, partition)?;
            let open: Vec<serde_json::Value> = info
                .open_transactions
                .iter()
                .map(|t| json!({"producer_id": t.producer_id, "epoch": t.epoch, "first_offset": t.first_offset}))
                .collect();
            // The oldest open transaction is the one holding the last stable offset back.
            let holding = info
                .open_transactions
                .iter()
                .min_by_key(|t| t.first_offset)
                .map(|t| t.producer_id);
            println!(
                "{}",
                json!({"topic": topic, "partition": partition,
                       "start_offset": info.start_offset.0, "end_offset": info.end_offset.0,
                       "last_stable_offset": info.last_stable_offset.0,
                       "lso_held_by_producer": holding, "open_transactions": open,
                       "aborted_transactions": info.aborted_transactions,
                       "segments": info.segments, "bytes": info.bytes, "producers": info.producers})
            );
        }
    }
    for txn in log.transactions()? {
        let live = !matches!(
            txn.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        );
        if live || args.topic.is_none() {
            let partitions: Vec<String> = txn
                .partitions
                .iter()
                .map(|(t, p)| format!("{t}/{p}"))
                .collect();
            println!(
                "{}",
                json!({"transactional_id": txn.transactional_id, "producer_id": txn.producer_id,
                       "epoch": txn.epoch, "state": format!("{:?}", txn.state),
                       "partitions": partitions, "timeout_ms": txn.timeout_ms})
            );
        }
    }
    Ok(())
}

fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        bail!("log directory {} does not exist", args.dir.display());
    }
    // Read-only opens: verify works on a read-only mount and never writes.
    let report = verify_log(&ReadOnlyStorage, &args.dir, &LogConfig::default());
    for finding in &report.findings {
        eprintln!("{finding}");
    }
    println!(
        "{}",
        json!({"partitions": report.partitions, "segments": report.segments,
               "batches": report.batches, "records": report.records, "bytes": report.bytes,
               "findings": report.findings.len(), "damage": report.has_damage()})
    );
    if report.has_damage() {
        bail!(
            "verification failed: {} problem(s), first: {}",
            report.findings.len(),
            report
                .findings
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
    }
    Ok(())
}
