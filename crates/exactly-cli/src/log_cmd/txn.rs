//! `exactly log txn`: write a JSON-lines file to several topics in one transaction — all
//! of it becomes visible to `read_committed` readers, or none of it.

use super::produce::parse_line;
use super::{open_follower, open_scoped_writer};
use anyhow::{bail, Context};
use clap::Args;
use exactly_core::{Clock, SystemClock};
use exactly_log::{partition_for_key, LogConfig, Record, WriteScope};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

/// Arguments of `exactly log txn`.
#[derive(Args, Debug)]
pub struct TxnArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Transactional id (a newer instance with the same id fences older ones).
    #[arg(long)]
    transactional_id: String,
    /// Input file of JSON lines `{"topic":…, "key":…, "value":…, "timestamp":…}`
    /// (default: standard input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Abort instead of committing at the end (to see that nothing becomes visible).
    #[arg(long)]
    abort: bool,
    /// Transaction timeout.
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: i64,
}

/// Splits `{"topic": …, …}` into the topic and the record line without it.
fn split_topic(line: &str, now_ms: i64) -> anyhow::Result<(String, Record)> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line).context("want a JSON object with a \"topic\"")?;
    let topic = match object.remove("topic") {
        Some(serde_json::Value::String(topic)) => topic,
        Some(other) => bail!("topic must be a string, got {other}"),
        None => bail!("missing \"topic\""),
    };
    let record = parse_line(&serde_json::Value::Object(object).to_string(), now_ms)?;
    Ok((topic, record))
}

/// Runs `exactly log txn`.
pub fn run(args: TxnArgs) -> anyhow::Result<()> {
    // Parse against a read-only view (partition counts never change), then own only the
    // topics the transaction writes.
    let view = open_follower(&args.dir)?;
    let reader: Box<dyn BufRead> = match &args.input {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    // Read and check everything first: a bad line aborts before anything is written.
    let clock = SystemClock;
    let mut batches: BTreeMap<(String, u32), Vec<Record>> = BTreeMap::new();
    let mut round_robin: BTreeMap<String, u64> = BTreeMap::new();
    let mut records = 0u64;
    for (index, line) in reader.lines().enumerate() {
        let line_no = index + 1;
        let line = line.with_context(|| format!("reading line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let (topic, record) = split_topic(&line, clock.now_ms())
            .with_context(|| format!("line {line_no}: bad record; nothing was written"))?;
        let partitions = view.partition_count(&topic).with_context(|| {
            format!("line {line_no}: unknown topic '{topic}'; nothing was written")
        })?;
        let partition = match &record.key {
            Some(key) => partition_for_key(key, partitions),
            None => {
                let next = round_robin.entry(topic.clone()).or_insert(0);
                *next += 1;
                ((*next - 1) % u64::from(partitions)) as u32
            }
        };
        batches.entry((topic, partition)).or_default().push(record);
        records += 1;
    }
    drop(view);
    let scope = WriteScope::topics(batches.keys().map(|(topic, _)| topic.clone()));
    let log = open_scoped_writer(&args.dir, LogConfig::default(), scope.with_transactions())?;
    let mut producer = log.transactional_producer(&args.transactional_id, args.timeout_ms)?;
    if producer.is_prepared() {
        bail!(
            "transactional id '{}' holds a prepared transaction; it needs a commit or abort decision first",
            args.transactional_id
        );
    }
    producer.begin()?;
    for ((topic, partition), batch) in &batches {
        for chunk in batch.chunks(1000) {
            producer.send(topic, *partition, chunk)?;
        }
    }
    match args.abort {
        true => producer.abort()?,
        false => producer.commit()?,
    }
    drop(producer);
    log.close()?;
    println!(
        "{}",
        json!({"transactional_id": args.transactional_id, "records": records,
               "partitions": batches.len(), "outcome": if args.abort { "aborted" } else { "committed" }})
    );
    Ok(())
}
