//! `exactly log produce`: JSON lines in, batched appends out.
//!
//! With `--producer-id`, every record's sequence number is its position among the input
//! records routed to its partition, and batches are cut at fixed sequence boundaries. Running
//! the same command again after a crash therefore re-sends byte-identical batches: the log
//! answers `Duplicate` for those it already has and appends the rest — exactly once.

use super::open_writer;
use anyhow::{bail, Context};
use clap::Args;
use exactly_core::{Clock, ProducerEpoch, ProducerId, Sequence, SystemClock, Timestamp};
use exactly_log::{
    partition_for_key, AppendError, AppendOutcome, Durability, Log, LogConfig, ProducerStamp,
    Record,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// Arguments of `exactly log produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Topic to append to.
    #[arg(long)]
    topic: String,
    /// Idempotent producer id: re-running the same input appends only what is missing.
    #[arg(long)]
    producer_id: Option<u64>,
    /// Producer epoch (a higher epoch fences lower ones).
    #[arg(long, default_value_t = 0)]
    epoch: u16,
    /// immediate | interval:MS | none.
    #[arg(long, default_value = "immediate")]
    durability: Durability,
    /// Input file of JSON lines (default: standard input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Records per batch (per partition). Keep it the same across re-runs of one input.
    #[arg(long, default_value_t = 1000)]
    batch_records: usize,
    /// Roll segments at this size (bytes).
    #[arg(long, default_value_t = LogConfig::default().segment_bytes_max)]
    segment_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputRecord {
    #[serde(default)]
    key: Option<serde_json::Value>,
    value: serde_json::Value,
    #[serde(default)]
    timestamp: Option<i64>,
}

/// Parses one input line into a record; `now_ms` stamps records without a timestamp.
pub(crate) fn parse_line(line: &str, now_ms: i64) -> anyhow::Result<Record> {
    let input: InputRecord = serde_json::from_str(line)
        .context("want a JSON object {\"key\":…, \"value\":…, \"timestamp\":…}")?;
    let key = match input.key {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(k)) => Some(k.into_bytes()),
        Some(other) => bail!("key must be a string or null, got {other}"),
    };
    let value = match input.value {
        serde_json::Value::String(v) => v.into_bytes(),
        other => other.to_string().into_bytes(),
    };
    Ok(Record {
        timestamp: Timestamp(input.timestamp.unwrap_or(now_ms)),
        key,
        value,
    })
}

/// Most appender threads one produce command runs (partitions share them round-robin).
const APPENDERS_MAX: usize = 8;

/// One batch for one partition, with the sequence of its first record.
struct Job {
    partition: u32,
    records: Vec<Record>,
    first_sequence: u64,
}

/// What the appenders did.
#[derive(Default)]
struct Counters {
    appended: AtomicU64,
    deduplicated: AtomicU64,
}

struct Appender {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Routes records to partitions, cuts them into deterministic batches and hands each batch
/// to the appender thread that owns its partition. Partitions are appended to in
/// parallel, so their fsyncs overlap; within a partition, batches stay in input order.
pub(crate) struct Batcher {
    batch_records: usize,
    pending: Vec<Vec<Record>>,
    next_sequence: Vec<u64>,
    routed: u64,
    appenders: Vec<Appender>,
    counters: Arc<Counters>,
}

impl Batcher {
    pub fn new(
        log: &Arc<Log>,
        topic: &str,
        producer: Option<(ProducerId, ProducerEpoch)>,
        batch_records: usize,
    ) -> anyhow::Result<Self> {
        let partitions = log
            .partition_count(topic)
            .with_context(|| format!("unknown topic '{topic}'"))?;
        if batch_records == 0 {
            bail!("--batch-records must be at least 1");
        }
        let counters = Arc::new(Counters::default());
        let appenders = (0..APPENDERS_MAX.min(partitions as usize))
            .map(|_| spawn_appender(log, topic, producer, &counters))
            .collect();
        Ok(Self {
            batch_records,
            pending: vec![Vec::new(); partitions as usize],
            next_sequence: vec![0; partitions as usize],
            routed: 0,
            appenders,
            counters,
        })
    }

    /// Queues a record; hands its partition's batch to an appender when full.
    pub fn push(&mut self, record: Record) -> anyhow::Result<()> {
        let partitions = self.pending.len() as u32;
        let partition = match &record.key {
            Some(key) => partition_for_key(key, partitions),
            None => (self.routed % u64::from(partitions)) as u32,
        };
        self.routed += 1;
        let Some(queue) = self.pending.get_mut(partition as usize) else {
            bail!("partition {partition} out of range");
        };
        queue.push(record);
        if queue.len() >= self.batch_records {
            self.flush_partition(partition)?;
        }
        Ok(())
    }

    /// Appends every queued record, waits for the appenders, and returns
    /// `(appended, deduplicated)`.
    pub fn finish(mut self) -> anyhow::Result<(u64, u64)> {
        let flushed = (0..self.pending.len() as u32).try_for_each(|p| self.flush_partition(p));
        let joined = self.join_appenders();
        flushed.and(joined)?;
        let appended = self.counters.appended.load(Ordering::SeqCst);
        Ok((appended, self.counters.deduplicated.load(Ordering::SeqCst)))
    }

    fn flush_partition(&mut self, partition: u32) -> anyhow::Result<()> {
        let index = partition as usize;
        let records = std::mem::take(self.pending.get_mut(index).context("partition")?);
        if records.is_empty() {
            return Ok(());
        }
        let sequence = self.next_sequence.get_mut(index).context("partition")?;
        let first_sequence = *sequence;
        *sequence += records.len() as u64;
        let job = Job {
            partition,
            records,
            first_sequence,
        };
        let count = self.appenders.len();
        let appender = self.appenders.get(index % count).context("appender")?;
        let sent = appender.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            // The appender stopped: its error says why.
            self.join_appenders()?;
            bail!("an appender stopped unexpectedly");
        }
        Ok(())
    }

    /// Closes every appender's queue and waits; returns the first error.
    fn join_appenders(&mut self) -> anyhow::Result<()> {
        for appender in &mut self.appenders {
            appender.jobs = None;
        }
        let mut first_error = None;
        for appender in &mut self.appenders {
            let Some(thread) = appender.thread.take() else {
                continue;
            };
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("appender thread panicked")));
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn spawn_appender(
    log: &Arc<Log>,
    topic: &str,
    producer: Option<(ProducerId, ProducerEpoch)>,
    counters: &Arc<Counters>,
) -> Appender {
    // Two batches in flight per appender: the next one is encoded while one is fsynced.
    let (jobs, queue) = sync_channel::<Job>(2);
    let (log, topic, counters) = (Arc::clone(log), topic.to_string(), Arc::clone(counters));
    let thread = std::thread::spawn(move || -> anyhow::Result<()> {
        for job in queue {
            append_job(
                &log,
                &topic,
                producer,
                &job.records,
                job.partition,
                job.first_sequence,
                &counters,
            )?;
        }
        Ok(())
    });
    Appender {
        jobs: Some(jobs),
        thread: Some(thread),
    }
}

fn append_job(
    log: &Log,
    topic: &str,
    producer: Option<(ProducerId, ProducerEpoch)>,
    records: &[Record],
    partition: u32,
    first_sequence: u64,
    counters: &Counters,
) -> anyhow::Result<()> {
    let stamp = producer.map(|(producer_id, epoch)| ProducerStamp {
        producer_id,
        epoch,
        base_sequence: Sequence(first_sequence),
    });
    let count = records.len() as u64;
    match log.append(topic, partition, records, stamp) {
        Ok(AppendOutcome::Appended { .. }) => {
            counters.appended.fetch_add(count, Ordering::SeqCst);
        }
        Ok(AppendOutcome::Duplicate { .. }) => {
            counters.deduplicated.fetch_add(count, Ordering::SeqCst);
        }
        // A re-run with different batch boundaries overlaps a stored batch: the log says
        // where it stands; the part before that is already there.
        Err(AppendError::OutOfOrderSequence { expected, .. })
            if stamp.is_some() && expected.0 > first_sequence =>
        {
            let already = (expected.0 - first_sequence).min(count);
            counters.deduplicated.fetch_add(already, Ordering::SeqCst);
            if let Some(rest) = records.get(already as usize..).filter(|r| !r.is_empty()) {
                append_job(log, topic, producer, rest, partition, expected.0, counters)?;
            }
        }
        Err(e) => return Err(e).with_context(|| format!("appending to {topic}/{partition}")),
    }
    Ok(())
}

/// Runs `exactly log produce`.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = LogConfig {
        durability: args.durability,
        segment_bytes_max: args.segment_bytes,
        // A batch must fit in a segment.
        batch_bytes_max: LogConfig::default()
            .batch_bytes_max
            .min(u32::try_from(args.segment_bytes).unwrap_or(u32::MAX)),
        ..LogConfig::default()
    };
    let log = Arc::new(open_writer(&args.dir, config)?);
    let producer = args
        .producer_id
        .map(|id| (ProducerId(id), ProducerEpoch(args.epoch)));
    let mut batcher = Batcher::new(&log, &args.topic, producer, args.batch_records)?;
    let reader: Box<dyn BufRead> = match &args.input {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {pos} records ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let clock = SystemClock;
    let mut records = 0u64;
    for (line_index, line) in reader.lines().enumerate() {
        let line_no = line_index + 1;
        let line = line.with_context(|| format!("reading line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line, clock.now_ms()) {
            Ok(record) => batcher.push(record)?,
            Err(error) => {
                // Everything before the bad line is appended, so a fixed input can resume.
                batcher.finish()?;
                return Err(error.context(format!(
                    "line {line_no}: bad record; the {records} records before it were appended"
                )));
            }
        }
        records += 1;
        if records.is_multiple_of(10_000) {
            progress.set_position(records);
        }
    }
    let (appended, deduplicated) = batcher.finish()?;
    progress.finish_and_clear();
    let log = Arc::try_unwrap(log).map_err(|_| anyhow::anyhow!("appenders still hold the log"))?;
    log.close()?;
    let elapsed = started.elapsed();
    println!(
        "{}",
        json!({"topic": args.topic, "records": records, "appended": appended,
               "deduplicated": deduplicated, "elapsed_ms": elapsed.as_millis() as u64,
               "records_per_sec": (records as f64 / elapsed.as_secs_f64().max(1e-9)) as u64})
    );
    Ok(())
}
