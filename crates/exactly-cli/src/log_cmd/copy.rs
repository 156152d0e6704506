//! `exactly log copy`: the consume-transform-produce loop. Reads a topic from a consumer
//! group's committed positions and writes the transformed records to another topic.
//!
//! Under `exactly-once` the outputs and the new positions go into one transaction per
//! commit interval: killed at any moment and run again, the output topic (read committed)
//! holds every input record exactly once. Under `at-least-once` outputs are plain appends
//! and positions are committed after them: a kill between the two duplicates the outputs
//! written since the last commit.

use super::open_scoped_writer;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use exactly_core::Offset;
use exactly_log::{partition_for_key, Isolation, Log, LogConfig, Record, StoredRecord, WriteScope};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What happens to each value on the way.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Transform {
    /// Unchanged.
    Identity,
    /// UTF-8 upper-cased (non-UTF-8 values unchanged).
    Upper,
}

/// Delivery guarantee of the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Guarantee {
    /// Outputs and positions in one transaction.
    ExactlyOnce,
    /// Outputs first, positions after: duplicates after a crash.
    AtLeastOnce,
}

/// Arguments of `exactly log copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Input topic.
    #[arg(long)]
    from: String,
    /// Output topic.
    #[arg(long)]
    to: String,
    /// Consumer group whose positions are read and committed.
    #[arg(long)]
    group: String,
    /// Transactional id (exactly-once).
    #[arg(long, default_value = "exactly-copy")]
    transactional_id: String,
    /// Transformation of each value.
    #[arg(long, value_enum, default_value = "identity")]
    transform: Transform,
    /// Commit (outputs + positions) at least this often.
    #[arg(long, default_value_t = 100)]
    commit_interval_ms: u64,
    /// exactly-once or at-least-once.
    #[arg(long, value_enum, default_value = "exactly-once")]
    guarantee: Guarantee,
    /// Keep running and copy new input as it arrives.
    #[arg(long)]
    follow: bool,
}

fn transform(record: &StoredRecord, how: Transform) -> Record {
    let value = match (how, std::str::from_utf8(&record.value)) {
        (Transform::Upper, Ok(text)) => text.to_uppercase().into_bytes(),
        _ => record.value.clone(),
    };
    Record {
        timestamp: record.timestamp,
        key: record.key.clone(),
        value,
    }
}

/// Output partition: by key, else the input partition (so input order per partition is
/// kept in the output).
fn output_partition(record: &Record, input_partition: u32, outputs: u32) -> u32 {
    match &record.key {
        Some(key) => partition_for_key(key, outputs),
        None => input_partition % outputs,
    }
}

/// Where the copy stands: positions per input partition, and what it has done.
struct Progress {
    positions: BTreeMap<u32, Offset>,
    copied: u64,
    commits: u64,
}

impl Progress {
    fn offsets(&self, topic: &str) -> Vec<(String, u32, Offset)> {
        self.positions
            .iter()
            .map(|(p, o)| (topic.to_string(), *p, *o))
            .collect()
    }
}

/// Reads the next chunk of each input partition; returns the outputs by output partition.
fn poll(
    log: &Log,
    args: &CopyArgs,
    progress: &mut Progress,
    outputs: u32,
) -> anyhow::Result<BTreeMap<u32, Vec<Record>>> {
    let mut out: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
    for (partition, position) in progress.positions.iter_mut() {
        let batch = log.read_with(
            &args.from,
            *partition,
            *position,
            1000,
            Isolation::ReadCommitted,
        )?;
        *position = batch.next_offset;
        for record in &batch.records {
            let output = transform(record, args.transform);
            let target = output_partition(&output, *partition, outputs);
            out.entry(target).or_default().push(output);
        }
    }
    Ok(out)
}

/// Runs `exactly log copy`.
pub fn run(args: CopyArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Owns its output and the group positions and transactions; follows its input.
    let scope = WriteScope::topics([args.to.as_str()]).with_transactions();
    let log = open_scoped_writer(&args.dir, LogConfig::default(), scope)?;
    let inputs = log
        .partition_count(&args.from)
        .with_context(|| format!("unknown input topic '{}'", args.from))?;
    let outputs = log
        .partition_count(&args.to)
        .with_context(|| format!("unknown output topic '{}'", args.to))?;
    if args.from == args.to {
        bail!("--from and --to must differ");
    }
    let committed = log.committed_offsets(&args.group)?;
    let mut progress = Progress {
        positions: BTreeMap::new(),
        copied: 0,
        commits: 0,
    };
    for partition in 0..inputs {
        let start = log.partition_info(&args.from, partition)?.start_offset;
        let position = committed
            .get(&(args.from.clone(), partition))
            .copied()
            .unwrap_or(start);
        progress.positions.insert(partition, position);
    }
    match args.guarantee {
        Guarantee::ExactlyOnce => copy_exactly_once(&log, &args, &mut progress, outputs)?,
        Guarantee::AtLeastOnce => copy_at_least_once(&log, &args, &mut progress, outputs)?,
    }
    log.close()?;
    let elapsed = started.elapsed();
    println!(
        "{}",
        json!({"from": args.from, "to": args.to, "group": args.group,
               "guarantee": format!("{:?}", args.guarantee), "copied": progress.copied,
               "commits": progress.commits, "elapsed_ms": elapsed.as_millis() as u64})
    );
    Ok(())
}

/// Where outputs and positions go: a transaction, or plain appends then positions.
trait CopySink {
    /// Starts a commit interval.
    fn begin(&mut self) -> anyhow::Result<()>;
    /// Writes outputs for one output partition.
    fn write(&mut self, partition: u32, records: &[Record]) -> anyhow::Result<()>;
    /// Commits the interval's outputs and the positions reached.
    fn commit(&mut self, positions: &[(String, u32, Offset)]) -> anyhow::Result<()>;
}

/// Exactly-once: outputs and positions in one transaction per interval.
struct TransactionSink<'a> {
    producer: exactly_log::TransactionalProducer<'a>,
    to: &'a str,
    group: &'a str,
}

impl CopySink for TransactionSink<'_> {
    fn begin(&mut self) -> anyhow::Result<()> {
        Ok(self.producer.begin()?)
    }
    fn write(&mut self, partition: u32, records: &[Record]) -> anyhow::Result<()> {
        self.producer.send(self.to, partition, records)?;
        Ok(())
    }
    fn commit(&mut self, positions: &[(String, u32, Offset)]) -> anyhow::Result<()> {
        self.producer.add_offsets(self.group, positions)?;
        Ok(self.producer.commit()?)
    }
}

/// At-least-once: plain appends, positions committed after them.
struct AppendSink<'a> {
    log: &'a Log,
    to: &'a str,
    group: &'a str,
}

impl CopySink for AppendSink<'_> {
    fn begin(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    fn write(&mut self, partition: u32, records: &[Record]) -> anyhow::Result<()> {
        self.log.append(self.to, partition, records, None)?;
        Ok(())
    }
    fn commit(&mut self, positions: &[(String, u32, Offset)]) -> anyhow::Result<()> {
        Ok(self.log.commit_offsets(self.group, positions)?)
    }
}

fn copy_exactly_once(
    log: &Log,
    args: &CopyArgs,
    progress: &mut Progress,
    outputs: u32,
) -> anyhow::Result<()> {
    let producer = log.transactional_producer(&args.transactional_id, 60_000)?;
    if producer.is_prepared() {
        // `copy` never prepares; a prepared transaction under this id belongs to a
        // two-phase-commit user, so refuse rather than guess its outcome.
        bail!(
            "transactional id '{}' holds a prepared transaction",
            args.transactional_id
        );
    }
    let mut sink = TransactionSink {
        producer,
        to: &args.to,
        group: &args.group,
    };
    copy_loop(log, args, progress, outputs, &mut sink)
}

fn copy_at_least_once(
    log: &Log,
    args: &CopyArgs,
    progress: &mut Progress,
    outputs: u32,
) -> anyhow::Result<()> {
    let mut sink = AppendSink {
        log,
        to: &args.to,
        group: &args.group,
    };
    copy_loop(log, args, progress, outputs, &mut sink)
}

/// Polls, transforms and writes for one commit interval at a time, until the input is
/// drained (or forever with `--follow`).
fn copy_loop(
    log: &Log,
    args: &CopyArgs,
    progress: &mut Progress,
    outputs: u32,
    sink: &mut dyn CopySink,
) -> anyhow::Result<()> {
    let interval = Duration::from_millis(args.commit_interval_ms);
    loop {
        sink.begin()?;
        let since = Instant::now();
        let mut drained = false;
        while since.elapsed() < interval {
            let batch = poll(log, args, progress, outputs)?;
            if batch.is_empty() {
                drained = true;
                break;
            }
            for (partition, records) in &batch {
                sink.write(*partition, records)?;
                progress.copied += records.len() as u64;
            }
        }
        sink.commit(&progress.offsets(&args.from))?;
        progress.commits += 1;
        if drained && !args.follow {
            return Ok(());
        }
        if drained {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
