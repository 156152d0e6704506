//! `exactly log produce`: JSON lines in, batched appends out. The resumable idempotent
//! batching and the input fingerprint are `exactly_log::produce`; this is its arguments,
//! progress bar and summary line.

use super::open_scoped_writer;
use anyhow::Context;
use clap::Args;
use exactly_core::{ProducerEpoch, ProducerId, SystemClock};
use exactly_log::produce::{parse_json_line, produce_lines, ProduceOptions};
use exactly_log::{Durability, LogConfig, Record, WriteScope};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
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

/// Parses one input line into a record; `now_ms` stamps records without a timestamp.
pub(crate) fn parse_line(line: &str, now_ms: i64) -> anyhow::Result<Record> {
    Ok(parse_json_line(line, now_ms)?)
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
    let options = ProduceOptions {
        producer,
        batch_records: args.batch_records,
    };
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
    let produced = produce_lines(
        &log,
        &args.topic,
        options,
        reader,
        &SystemClock,
        &mut |records| progress.set_position(records),
    )?;
    let (records, appended, deduplicated) =
        (produced.records, produced.appended, produced.deduplicated);
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
