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

/// Routes records to partitions and appends them in deterministic batches.
pub(crate) struct Batcher<'a> {
    log: &'a Log,
    topic: &'a str,
    producer: Option<(ProducerId, ProducerEpoch)>,
    batch_records: usize,
    pending: Vec<Vec<Record>>,
    next_sequence: Vec<u64>,
    routed: u64,
    /// Records appended by this run.
    pub appended: u64,
    /// Records the log already had (idempotent re-sends).
    pub deduplicated: u64,
}

impl<'a> Batcher<'a> {
    pub fn new(
        log: &'a Log,
        topic: &'a str,
        producer: Option<(ProducerId, ProducerEpoch)>,
        batch_records: usize,
    ) -> anyhow::Result<Self> {
        let partitions = log
            .partition_count(topic)
            .with_context(|| format!("unknown topic '{topic}'"))?;
        if batch_records == 0 {
            bail!("--batch-records must be at least 1");
        }
        Ok(Self {
            log,
            topic,
            producer,
            batch_records,
            pending: vec![Vec::new(); partitions as usize],
            next_sequence: vec![0; partitions as usize],
            routed: 0,
            appended: 0,
            deduplicated: 0,
        })
    }

    /// Queues a record; appends its partition's batch when full.
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

    /// Appends every queued record.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        for partition in 0..self.pending.len() as u32 {
            self.flush_partition(partition)?;
        }
        Ok(())
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
        self.append(partition, &records, first_sequence)
    }

    fn append(
        &mut self,
        partition: u32,
        records: &[Record],
        first_sequence: u64,
    ) -> anyhow::Result<()> {
        let stamp = self.producer.map(|(producer_id, epoch)| ProducerStamp {
            producer_id,
            epoch,
            base_sequence: Sequence(first_sequence),
        });
        let count = records.len() as u64;
        match self.log.append(self.topic, partition, records, stamp) {
            Ok(AppendOutcome::Appended { .. }) => self.appended += count,
            Ok(AppendOutcome::Duplicate { .. }) => self.deduplicated += count,
            // A re-run with different batch boundaries overlaps a stored batch: the log
            // says where it stands; the part before that is already there.
            Err(AppendError::OutOfOrderSequence { expected, .. })
                if stamp.is_some() && expected.0 > first_sequence =>
            {
                let already = (expected.0 - first_sequence).min(count);
                self.deduplicated += already;
                if let Some(rest) = records.get(already as usize..).filter(|r| !r.is_empty()) {
                    self.append(partition, rest, expected.0)?;
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("appending to {}/{partition}", self.topic))
            }
        }
        Ok(())
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
    let log = open_writer(&args.dir, config)?;
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
    batcher.finish()?;
    let (appended, deduplicated) = (batcher.appended, batcher.deduplicated);
    progress.finish_and_clear();
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
