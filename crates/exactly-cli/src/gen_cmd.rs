//! `exactly gen …`: deterministic input for the built-in jobs, written to the embedded log.

use anyhow::Context;
use clap::{Args, Subcommand};
use exactly_core::Timestamp;
use exactly_engine::jobs::{
    generate_lines, generate_transfers, transfer_record, GENERATED_EPOCH_MS,
};
use exactly_log::{partition_for_key, Log, LogConfig, Record, WriteScope};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `exactly gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(subcommand)]
    command: GenCommand,
}

#[derive(Subcommand, Debug)]
enum GenCommand {
    /// Transfers `{"id","from","to","amount"}` keyed by the debited account; ids continue
    /// after the records already in the topic, so running it again adds new transfers.
    Transfers(TransfersArgs),
    /// Lines of words for `exactly run wordcount`.
    Words(WordsArgs),
}

#[derive(Args, Debug)]
struct Target {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Topic (created if missing).
    #[arg(long)]
    topic: String,
    /// Partitions when the topic is created.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Records to write.
    #[arg(long)]
    count: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
struct TransfersArgs {
    #[command(flatten)]
    target: Target,
    /// Number of accounts (≥ 2).
    #[arg(long, default_value_t = 1000)]
    accounts: u64,
}

#[derive(Args, Debug)]
struct WordsArgs {
    #[command(flatten)]
    target: Target,
    /// Distinct words.
    #[arg(long, default_value_t = 1000)]
    vocabulary: u64,
}

/// Runs `exactly gen …`.
pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let summary = match args.command {
        GenCommand::Transfers(args) => write_transfers(&args.target, args.accounts)?,
        GenCommand::Words(args) => write(&args.target, |first, count, seed| {
            let records = generate_lines(seed ^ first, count, args.vocabulary)
                .into_iter()
                .enumerate()
                .map(|(i, line)| Record {
                    timestamp: Timestamp(GENERATED_EPOCH_MS + first as i64 + i as i64),
                    key: Some(format!("line-{}", first + i as u64).into_bytes()),
                    value: line.into_bytes(),
                })
                .collect::<Vec<_>>();
            Ok(records)
        })?,
    };
    println!("{summary}");
    Ok(())
}

/// Appends `count` generated transfers between `accounts` accounts to `topic` in the log
/// in `dir` (created with `partitions` if missing); ids continue after what is there.
/// Returns the JSON summary `exactly gen transfers` prints.
pub(crate) fn transfers(
    dir: &std::path::Path,
    topic: &str,
    partitions: u32,
    count: u64,
    accounts: u64,
    seed: u64,
) -> anyhow::Result<serde_json::Value> {
    let target = Target {
        dir: dir.to_path_buf(),
        topic: topic.to_string(),
        partitions,
        count,
        seed,
    };
    write_transfers(&target, accounts)
}

fn write_transfers(target: &Target, accounts: u64) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(accounts >= 2, "--accounts must be at least 2");
    write(target, |first, count, seed| {
        generate_transfers(seed, first, count, accounts)
            .iter()
            .map(transfer_record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::from)
    })
}

/// Records generated per append round.
const CHUNK_RECORDS: u64 = 100_000;

fn write(
    target: &Target,
    generate: impl Fn(u64, u64, u64) -> Result<Vec<Record>, anyhow::Error>,
) -> anyhow::Result<serde_json::Value> {
    // Owns only the generated topic: a job may follow the log meanwhile.
    let scope = WriteScope::topics([target.topic.as_str()]);
    let log = Log::open_scoped(&target.dir, LogConfig::default(), scope)
        .with_context(|| format!("opening the log in {}", target.dir.display()))?;
    let partitions = match log.partition_count(&target.topic) {
        Some(existing) => existing,
        None => {
            log.create_topic(&target.topic, target.partitions)?;
            target.partitions
        }
    };
    let mut first = existing_records(&log, &target.topic, partitions)?;
    let start = first;
    let end = first + target.count;
    while first < end {
        let count = CHUNK_RECORDS.min(end - first);
        let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for record in generate(first, count, target.seed)? {
            let key = record.key.as_deref().unwrap_or_default();
            let partition = partition_for_key(key, partitions);
            by_partition.entry(partition).or_default().push(record);
        }
        for (partition, records) in by_partition {
            for chunk in records.chunks(4096) {
                log.append(&target.topic, partition, chunk, None)?;
            }
        }
        first += count;
    }
    log.close()?;
    Ok(
        json!({"topic": target.topic, "partitions": partitions, "written": end - start,
              "first_id": start, "total": end}),
    )
}

/// Records already in the topic (the next generated id).
fn existing_records(log: &Log, topic: &str, partitions: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for partition in 0..partitions {
        let info = log.partition_info(topic, partition)?;
        total += info.end_offset.0 - info.start_offset.0;
    }
    Ok(total)
}
