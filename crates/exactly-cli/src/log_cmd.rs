//! `exactly log …`: create, produce, consume, describe and verify an embedded log, with
//! JSON lines in and out.

mod consume;
mod copy;
mod nats;

pub(crate) use nats::connect as nats_connect;
mod produce;
mod repair;
mod txn;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use exactly_log::describe::{partition_rows, recovery_rows, transaction_rows};
use exactly_log::existing::{create_topic_in, open_existing_read_only, open_existing_scoped};
use exactly_log::verify::verify_log;
use exactly_log::{Log, LogConfig, ReadOnlyStorage, WriteScope};
use exactly_nats::TopicOptions;
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
    /// Print records: JSON lines (JSON values as JSON), raw bytes as kcat, or a table.
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
    #[arg(long, required_unless_present = "log")]
    dir: Option<PathBuf>,
    /// A NATS JetStream log instead of a directory: `nats://host:port[,host:port…]`.
    #[arg(long, conflicts_with = "dir", value_name = "nats://HOST:PORT[,…]")]
    log: Option<String>,
    /// Topic name.
    #[arg(long)]
    topic: String,
    /// Number of partitions.
    #[arg(long, default_value_t = 1)]
    partitions: u32,
    /// Options of a topic created on NATS (ignored for `--dir`).
    #[command(flatten)]
    nats: TopicOptions,
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// Log directory.
    #[arg(long, required_unless_present = "log")]
    dir: Option<PathBuf>,
    /// A NATS JetStream log instead of a directory: `nats://host:port[,host:port…]`.
    #[arg(long, conflicts_with = "dir", value_name = "nats://HOST:PORT[,…]")]
    log: Option<String>,
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
        LogCommand::Create(args) => match &args.log {
            Some(address) => nats::create(address, &args.topic, args.partitions, &args.nats),
            None => create(args),
        },
        LogCommand::Produce(args) => produce::run(args),
        LogCommand::Consume(args) => match args.log.clone() {
            Some(address) => nats::consume(&address, args),
            None => consume::run(args),
        },
        LogCommand::Txn(args) => txn::run(args),
        LogCommand::Copy(args) => copy::run(args),
        LogCommand::Describe(args) => match &args.log {
            Some(address) => nats::describe(address, args.topic.as_deref()),
            None => describe(args),
        },
        LogCommand::Verify(args) => verify(args),
        LogCommand::Repair(args) => repair::run(args),
    }
}

/// Opens an existing log directory as the writer of the topics in `scope` only: other
/// processes may write other topics meanwhile (see `Log::open_scoped`).
pub(crate) fn open_scoped_writer(
    dir: &Path,
    config: LogConfig,
    scope: WriteScope,
) -> anyhow::Result<Log> {
    let log = open_existing_scoped(dir, config, scope)?;
    warn_pending_markers(&log);
    Ok(log)
}

/// Warns on standard error of every transaction marker recovery left to another owner:
/// `read_committed` readers of those partitions wait until it is written.
pub(crate) fn warn_pending_markers(log: &Log) {
    for pending in log.pending_markers() {
        eprintln!("warning: {pending}");
    }
}

fn create(args: CreateArgs) -> anyhow::Result<()> {
    let dir = args.dir.context("--dir or --log is required")?;
    create_topic_in(&dir, &args.topic, args.partitions)?;
    println!(
        "{}",
        json!({"created": args.topic, "partitions": args.partitions, "dir": dir})
    );
    Ok(())
}

fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    let dir = args.dir.as_deref().context("--dir or --log is required")?;
    let log = open_existing_read_only(dir)?;
    // Through a `Value`: the keys print sorted, as they always have.
    for row in recovery_rows(&log) {
        println!("{}", serde_json::to_value(row)?);
    }
    for row in partition_rows(&log, args.topic.as_deref())? {
        println!("{}", serde_json::to_value(row)?);
    }
    for row in transaction_rows(&log, args.topic.is_some())? {
        println!("{}", serde_json::to_value(row)?);
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
    println!("{}", report.summary());
    Ok(report.check()?)
}
