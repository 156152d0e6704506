//! `exactly log produce`: JSON lines in, batched appends out.
//!
//! With `--producer-id`, every record's sequence number is its position among the input
//! records routed to its partition, and batches are cut deterministically (at most
//! `--batch-records` records and at most the log's batch size in bytes, counted with a
//! per-record bound that does not depend on timestamps). Running the same command again
//! after a crash therefore re-sends the same batches: the log answers `Duplicate` for
//! those it already has and appends the rest — exactly once. That the input is the same
//! is checked, not assumed: see [`fingerprint`].

mod fingerprint;

use super::open_scoped_writer;
use anyhow::{bail, Context};
use clap::Args;
use exactly_core::{Clock, ProducerEpoch, ProducerId, Sequence, SystemClock, Timestamp};
use exactly_log::batch::HEADER_BYTES;
use exactly_log::{
    partition_for_key, AppendError, AppendOutcome, Durability, Log, LogConfig, ProducerStamp,
    Record, WriteScope,
};
use fingerprint::{line_hash, FingerprintError, InputFingerprint};
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
    /// Producer epoch. A re-run at the same epoch resumes: it must read the same input
    /// (checked against a fingerprint of the consumed lines kept in
    /// `<dir>/.produce-inputs/`; a different input is refused with the first line that
    /// differs) and appends only what is missing. A higher epoch fences older instances and
    /// starts over: the whole input is appended again as new records (what the older epoch
    /// appended stays in the log).
    #[arg(long, default_value_t = 0)]
    epoch: u16,
    /// immediate | interval:MS | none.
    #[arg(long, default_value = "immediate")]
    durability: Durability,
    /// Input file of JSON lines (default: standard input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Most records per batch (per partition). Batches are also cut so that they stay
    /// within the log's batch size in bytes.
    #[arg(long, default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
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

/// Why `log produce` stopped at a line of its input.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    /// Reading the input failed.
    #[error("line {line}: cannot read the input")]
    Read {
        /// Line number (1-based).
        line: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// The line is not UTF-8.
    #[error("line {line} is not valid UTF-8 (invalid byte at position {byte} of the line)")]
    NotUtf8 {
        /// Line number (1-based).
        line: u64,
        /// Position of the first invalid byte within the line (0-based).
        byte: usize,
    },
    /// The line is not a record.
    #[error("line {line}: bad record")]
    BadRecord {
        /// Line number (1-based).
        line: u64,
        /// What is wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record cannot fit in any batch.
    #[error(
        "line {line}: the record takes up to {record_bytes} bytes in a batch, more than the \
         {batch_bytes_max}-byte batch limit allows (the limit is the smaller of 16 MiB and \
         --segment-bytes)"
    )]
    TooLarge {
        /// Line number (1-based).
        line: u64,
        /// Bound of the record's encoded size.
        record_bytes: usize,
        /// The log's batch limit.
        batch_bytes_max: u32,
    },
    /// The input is not the one an earlier run of this producer consumed.
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),
}

impl InputError {
    fn line(&self) -> Option<u64> {
        match self {
            Self::Read { line, .. }
            | Self::NotUtf8 { line, .. }
            | Self::BadRecord { line, .. }
            | Self::TooLarge { line, .. } => Some(*line),
            Self::Fingerprint(FingerprintError::Differs { line, .. }) => Some(*line),
            Self::Fingerprint(_) => None,
        }
    }
}

/// `log produce` stopped at a line; every record before it is in the log.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped at line {line}: the {kept} records before it are in the log ({appended} \
     appended by this run, {already} were already there)"
)]
pub(crate) struct Stopped {
    /// Line number (1-based).
    line: u64,
    /// Records before the line that are in the log.
    kept: u64,
    /// Of those, appended by this run.
    appended: u64,
    /// Of those, already in the log (a resumed run).
    already: u64,
    /// Why.
    #[source]
    cause: InputError,
}

/// Most bytes a record takes in an encoded batch: its key and value plus four varints
/// (record length, timestamp delta, key length, value length) of at most 10 bytes each.
/// A bound rather than the exact size, so that batch cuts do not depend on timestamps
/// (records without one are stamped with the clock, which differs between runs).
fn record_bytes_bound(record: &Record) -> usize {
    record.key.as_ref().map_or(0, Vec::len) + record.value.len() + 40
}

/// Routes records to partitions, cuts them into deterministic batches and hands each batch
/// to the appender thread that owns its partition. Partitions are appended to in
/// parallel, so their fsyncs overlap; within a partition, batches stay in input order.
pub(crate) struct Batcher {
    batch_records: usize,
    /// Bytes of records a batch may hold (the log's batch limit minus the header).
    batch_record_bytes_max: usize,
    batch_bytes_max: u32,
    pending: Vec<Vec<Record>>,
    pending_bytes: Vec<usize>,
    next_sequence: Vec<u64>,
    routed: u64,
    fingerprint: Option<InputFingerprint>,
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
        let fingerprint = match producer {
            Some((id, epoch)) => Some(InputFingerprint::open(log, topic, partitions, id, epoch)?),
            None => None,
        };
        let batch_bytes_max = log.config().batch_bytes_max;
        let counters = Arc::new(Counters::default());
        let appenders = (0..APPENDERS_MAX.min(partitions as usize))
            .map(|_| spawn_appender(log, topic, producer, &counters))
            .collect();
        Ok(Self {
            batch_records,
            batch_record_bytes_max: (batch_bytes_max as usize).saturating_sub(HEADER_BYTES),
            batch_bytes_max,
            pending: vec![Vec::new(); partitions as usize],
            pending_bytes: vec![0; partitions as usize],
            next_sequence: vec![0; partitions as usize],
            routed: 0,
            fingerprint,
            appenders,
            counters,
        })
    }

    /// Routes the record of input line `line_no` (whose raw bytes hash to `line_hash`),
    /// checks that it fits in a batch and matches what an earlier run of this producer
    /// consumed; returns its partition. Nothing is queued.
    pub fn admit(
        &mut self,
        record: &Record,
        line_no: u64,
        line_hash: u64,
    ) -> Result<u32, InputError> {
        let record_bytes = record_bytes_bound(record);
        if record_bytes > self.batch_record_bytes_max {
            return Err(InputError::TooLarge {
                line: line_no,
                record_bytes: record_bytes + HEADER_BYTES,
                batch_bytes_max: self.batch_bytes_max,
            });
        }
        let partitions = self.pending.len() as u32;
        let partition = match &record.key {
            Some(key) => partition_for_key(key, partitions),
            None => (self.routed % u64::from(partitions)) as u32,
        };
        self.routed += 1;
        if let Some(fingerprint) = self.fingerprint.as_mut() {
            fingerprint.admit(line_no, line_hash, partition)?;
        }
        Ok(partition)
    }

    /// Queues an admitted record; hands its partition's batch to an appender when the
    /// record would not fit in it, and when it is full.
    pub fn queue(&mut self, partition: u32, record: Record) -> anyhow::Result<()> {
        let record_bytes = record_bytes_bound(&record);
        let queued_bytes = self.pending_bytes.get(partition as usize).copied();
        let Some(queued_bytes) = queued_bytes else {
            bail!("partition {partition} out of range");
        };
        if queued_bytes + record_bytes > self.batch_record_bytes_max {
            self.flush_partition(partition)?;
        }
        let (Some(queue), Some(bytes)) = (
            self.pending.get_mut(partition as usize),
            self.pending_bytes.get_mut(partition as usize),
        ) else {
            bail!("partition {partition} out of range");
        };
        queue.push(record);
        *bytes += record_bytes;
        if queue.len() >= self.batch_records {
            self.flush_partition(partition)?;
        }
        Ok(())
    }

    /// Records appended and found already in the log so far (complete after `finish`).
    fn counts(&self) -> (u64, u64) {
        (
            self.counters.appended.load(Ordering::SeqCst),
            self.counters.deduplicated.load(Ordering::SeqCst),
        )
    }

    /// Appends every queued record, waits for the appenders, and returns
    /// `(appended, deduplicated)`.
    pub fn finish(mut self) -> anyhow::Result<(u64, u64)> {
        let flushed = (0..self.pending.len() as u32).try_for_each(|p| self.flush_partition(p));
        let joined = self.join_appenders();
        flushed.and(joined)?;
        Ok(self.counts())
    }

    fn flush_partition(&mut self, partition: u32) -> anyhow::Result<()> {
        let index = partition as usize;
        let records = std::mem::take(self.pending.get_mut(index).context("partition")?);
        if records.is_empty() {
            return Ok(());
        }
        *self.pending_bytes.get_mut(index).context("partition")? = 0;
        // Write-ahead: the fingerprint knows these records before the log may hold them.
        if let Some(fingerprint) = self.fingerprint.as_mut() {
            fingerprint.sync()?;
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

/// Reads the input into `batcher`; returns the number of records.
fn feed(
    mut reader: Box<dyn BufRead>,
    batcher: &mut Batcher,
    clock: &dyn Clock,
    progress: &ProgressBar,
) -> Result<u64, Fed> {
    let mut records = 0u64;
    let mut buffer = Vec::new();
    for line_no in 1u64.. {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|source| InputError::Read {
                line: line_no,
                source,
            })?;
        if read == 0 {
            break;
        }
        let raw = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| InputError::NotUtf8 {
            line: line_no,
            byte: e.valid_up_to(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_line(line, clock.now_ms()).map_err(|e| InputError::BadRecord {
            line: line_no,
            source: e.into(),
        })?;
        let partition = batcher.admit(&record, line_no, line_hash(raw))?;
        batcher.queue(partition, record).map_err(Fed::Append)?;
        records += 1;
        if records.is_multiple_of(10_000) {
            progress.set_position(records);
        }
    }
    Ok(records)
}

/// Why feeding stopped early.
enum Fed {
    /// The input is bad at a line.
    Input(InputError),
    /// The log refused an append.
    Append(anyhow::Error),
}

impl From<InputError> for Fed {
    fn from(error: InputError) -> Self {
        Self::Input(error)
    }
}

/// Appends everything admitted before an input error (so a fixed input can resume) and
/// says how much of it is in the log.
fn stop(batcher: Batcher, cause: Fed) -> anyhow::Error {
    let cause = match cause {
        Fed::Append(error) => {
            // The appenders' own error says what failed; stop them.
            let _ = batcher.finish();
            return error;
        }
        Fed::Input(cause) => cause,
    };
    let Some(line) = cause.line() else {
        return cause.into();
    };
    match batcher.finish() {
        Ok((appended, already)) => Stopped {
            line,
            kept: appended + already,
            appended,
            already,
            cause,
        }
        .into(),
        Err(error) => error.context(format!(
            "appending the records before line {line}, which stopped the run: {cause}"
        )),
    }
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
    let scope = WriteScope::topics([args.topic.as_str()]);
    let log = Arc::new(open_scoped_writer(&args.dir, config, scope)?);
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
    let records = match feed(reader, &mut batcher, &clock, &progress) {
        Ok(records) => records,
        Err(cause) => return Err(stop(batcher, cause)),
    };
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
