//! `exactly log produce`: JSON lines in, batched appends out. The resumable idempotent
//! batching and the input fingerprint are `exactly_log::produce` (on NATS JetStream:
//! `exactly_nats::produce`, resumable from the streams themselves); this is the
//! arguments, progress bar and summary line.

use super::open_scoped_writer;
use anyhow::{bail, Context};
use clap::Args;
use exactly_core::{ProducerEpoch, ProducerId, SystemClock};
use exactly_log::produce::{produce_lines, ProduceOptions};
use exactly_log::{Durability, LogConfig, WriteScope};
use exactly_nats::produce::{
    produce_lines as nats_produce_lines, ProduceOptions as NatsProduceOptions,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `exactly log produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Log directory.
    #[arg(long, required_unless_present = "log")]
    dir: Option<PathBuf>,
    /// A NATS JetStream log instead of a directory: `nats://host:port[,host:port…]`.
    #[arg(long, conflicts_with = "dir", value_name = "nats://HOST:PORT[,…]")]
    log: Option<String>,
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

/// Runs `exactly log produce`: to the embedded log, or with `--log` to NATS JetStream.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {pos} records ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut on_progress = |records| progress.set_position(records);
    let (records, appended, deduplicated) = match &args.log {
        Some(address) => produce_to_nats(address, &args, &mut on_progress)?,
        None => produce_to_dir(&args, &mut on_progress)?,
    };
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    println!(
        "{}",
        json!({"topic": args.topic, "records": records, "appended": appended,
               "deduplicated": deduplicated, "elapsed_ms": elapsed.as_millis() as u64,
               "records_per_sec": (records as f64 / elapsed.as_secs_f64().max(1e-9)) as u64})
    );
    Ok(())
}

/// Produces to the embedded log (`exactly_log::produce`); returns the records read,
/// appended and de-duplicated.
fn produce_to_dir(
    args: &ProduceArgs,
    on_progress: &mut dyn FnMut(u64),
) -> anyhow::Result<(u64, u64, u64)> {
    let config = LogConfig::with_segments(args.durability, args.segment_bytes);
    let scope = WriteScope::topics([args.topic.as_str()]);
    let dir = args.dir.as_deref().context("--dir or --log is required")?;
    let log = Arc::new(open_scoped_writer(dir, config, scope)?);
    let producer = args
        .producer_id
        .map(|id| (ProducerId(id), ProducerEpoch(args.epoch)));
    let options = ProduceOptions {
        producer,
        batch_records: args.batch_records,
    };
    let reader = input(args.input.as_deref())?;
    let produced = produce_lines(
        &log,
        &args.topic,
        options,
        reader,
        &SystemClock,
        on_progress,
    )?;
    let log = Arc::try_unwrap(log).map_err(|_| anyhow::anyhow!("appenders still hold the log"))?;
    log.close()?;
    Ok((produced.records, produced.appended, produced.deduplicated))
}

/// Produces to NATS JetStream, resumably (`exactly_nats::produce`).
fn produce_to_nats(
    address: &str,
    args: &ProduceArgs,
    on_progress: &mut dyn FnMut(u64),
) -> anyhow::Result<(u64, u64, u64)> {
    let Some(producer_id) = args.producer_id else {
        bail!("--log nats://… needs --producer-id: it names the records so a re-run resumes");
    };
    let log = super::nats_connect(address)?;
    let topic = log.open_topic(&args.topic)?;
    let options = NatsProduceOptions {
        producer_id,
        epoch: args.epoch,
        batch_records: args.batch_records,
    };
    let reader = input(args.input.as_deref())?;
    let produced = nats_produce_lines(&log, &topic, &options, reader, &SystemClock, on_progress)?;
    Ok((produced.records, produced.appended, produced.deduplicated))
}

/// The input file, or standard input.
pub(super) fn input(path: Option<&Path>) -> anyhow::Result<Box<dyn BufRead>> {
    Ok(match path {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(BufReader::new(std::io::stdin())),
    })
}
