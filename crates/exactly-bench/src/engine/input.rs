//! Generated bank transfers written to the embedded log: the engine benchmark's input.
//! The same generator (`exactly_engine::jobs::generate_transfers`) and record format as
//! `exactly gen transfers`; ids continue after the records already in the topic.

use crate::error::{io_error, BenchError, Context};
use exactly_engine::jobs::{generate_transfers, transfer_record};
use exactly_log::{partition_for_key, Log, LogConfig, Record};
use std::collections::BTreeMap;
use std::path::Path;

/// Records generated per append round.
const CHUNK_RECORDS: u64 = 100_000;

/// Appends `count` transfers between `accounts` accounts to `topic` (created with
/// `partitions` if missing) in the log in `dir`.
pub(super) fn transfers(
    dir: &Path,
    topic: &str,
    partitions: u32,
    count: u64,
    accounts: u64,
    seed: u64,
) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
    let log = Log::open(dir, LogConfig::default()).during("opening the input log")?;
    let partitions = match log.partition_count(topic) {
        Some(existing) => existing,
        None => {
            log.create_topic(topic, partitions)
                .during("creating the input topic")?;
            partitions
        }
    };
    let mut first = 0;
    for partition in 0..partitions {
        let info = log
            .partition_info(topic, partition)
            .during("reading the input topic")?;
        first += info.end_offset.0 - info.start_offset.0;
    }
    let end = first + count;
    while first < end {
        let chunk = CHUNK_RECORDS.min(end - first);
        let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for transfer in generate_transfers(seed, first, chunk, accounts) {
            let record = transfer_record(&transfer).during("encoding a transfer")?;
            let key = record.key.as_deref().unwrap_or_default();
            let partition = partition_for_key(key, partitions);
            by_partition.entry(partition).or_default().push(record);
        }
        for (partition, records) in by_partition {
            for piece in records.chunks(4096) {
                log.append(topic, partition, piece, None)
                    .during("appending the input")?;
            }
        }
        first += chunk;
    }
    log.close().during("closing the input log")
}
