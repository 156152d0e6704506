//! `exactly log consume`: records as JSON lines, by offset or by time, optionally following
//! the tail.

use super::open_follower;
use anyhow::{bail, Context};
use clap::Args;
use exactly_core::{Offset, Timestamp};
use exactly_log::{Isolation, Log, StoredRecord};
use serde_json::{json, Value};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `exactly log consume`.
#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Topic to read.
    #[arg(long)]
    topic: String,
    /// Only this partition (default: all, one after the other).
    #[arg(long)]
    partition: Option<u32>,
    /// Start at this offset.
    #[arg(long, conflicts_with = "from_time")]
    from_offset: Option<u64>,
    /// Start at the first record with timestamp ≥ MS.
    #[arg(long)]
    from_time: Option<i64>,
    /// Stop after this many records.
    #[arg(long)]
    max: Option<u64>,
    /// read-committed (default: committed transactions only) or read-uncommitted.
    #[arg(long, default_value = "read-committed", value_parser = parse_isolation)]
    isolation: Isolation,
    /// Keep waiting for new records (also those another process appends).
    #[arg(long)]
    follow: bool,
}

fn parse_isolation(text: &str) -> Result<Isolation, String> {
    match text {
        "read-committed" => Ok(Isolation::ReadCommitted),
        "read-uncommitted" => Ok(Isolation::ReadUncommitted),
        other => Err(format!(
            "unknown isolation '{other}': want read-committed or read-uncommitted"
        )),
    }
}

/// Renders bytes as a JSON string when they are UTF-8, else as `{"hex": …}`.
pub(crate) fn bytes_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => json!({"hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()}),
    }
}

fn record_json(topic: &str, partition: u32, record: &StoredRecord) -> Value {
    json!({"topic": topic, "partition": partition, "offset": record.offset.0,
           "timestamp": record.timestamp.0,
           "key": record.key.as_deref().map(bytes_json), "value": bytes_json(&record.value)})
}

fn start_offset(log: &Log, args: &ConsumeArgs, partition: u32) -> anyhow::Result<Offset> {
    let info = log.partition_info(&args.topic, partition)?;
    if let Some(offset) = args.from_offset {
        return Ok(Offset(offset));
    }
    if let Some(ms) = args.from_time {
        return Ok(log
            .offset_for_time(&args.topic, partition, Timestamp(ms))?
            .unwrap_or(info.end_offset));
    }
    Ok(info.start_offset)
}

/// Runs `exactly log consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let log = open_follower(&args.dir)?;
    let count = log
        .partition_count(&args.topic)
        .with_context(|| format!("unknown topic '{}'", args.topic))?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) if p >= count => bail!(
            "topic '{}' has {count} partitions; {p} does not exist",
            args.topic
        ),
        Some(p) => vec![p],
        None => (0..count).collect(),
    };
    let mut positions = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        positions.push((p, start_offset(&log, &args, p)?));
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let limit = args.max.unwrap_or(u64::MAX);
    if !args.follow {
        return print_to_end(&log, &args, &positions, limit, out);
    }
    let mut printed = 0u64;
    let isolation = args.isolation;
    loop {
        let mut progressed = false;
        for (partition, position) in positions.iter_mut() {
            loop {
                let want = (limit - printed).min(10_000) as usize;
                if want == 0 {
                    return finish(out);
                }
                let batch = log.read_with(&args.topic, *partition, *position, want, isolation)?;
                let moved = batch.next_offset > *position;
                *position = batch.next_offset;
                if batch.records.is_empty() {
                    if moved {
                        continue; // Only markers or aborted batches: keep going.
                    }
                    break;
                }
                let records = batch.records;
                for record in &records {
                    if writeln!(out, "{}", record_json(&args.topic, *partition, record)).is_err() {
                        return Ok(()); // The reader went away (a closed pipe): stop quietly.
                    }
                }
                printed += records.len() as u64;
                progressed = true;
            }
        }
        if !progressed {
            let _ = out.flush();
            if let Some((partition, position)) = positions.first() {
                log.wait_for(
                    &args.topic,
                    *partition,
                    *position,
                    Duration::from_millis(200),
                )?;
            }
        }
    }
}

/// Without `--follow`: each partition from its position to its end as of now, one after
/// the other, at most `limit` records in all.
fn print_to_end(
    log: &Log,
    args: &ConsumeArgs,
    positions: &[(u32, Offset)],
    limit: u64,
    mut out: impl Write,
) -> anyhow::Result<()> {
    let mut printed = 0u64;
    for &(partition, position) in positions {
        for record in log.scan(&args.topic, partition, position, args.isolation)? {
            if printed >= limit {
                return finish(out);
            }
            let record = record?;
            if writeln!(out, "{}", record_json(&args.topic, partition, &record)).is_err() {
                return Ok(()); // The reader went away (a closed pipe): stop quietly.
            }
            printed += 1;
        }
    }
    finish(out)
}

fn finish(mut out: impl Write) -> anyhow::Result<()> {
    let _ = out.flush();
    Ok(())
}
