//! Sequential read of everything a durable-append run wrote to topic `bench`.

use super::appends::Measurement;
use crate::error::{BenchError, Context};
use exactly_log::{Log, LogConfig};
use std::path::Path;
use std::time::Instant;

/// Records per read call: what a consumer processing in batches asks for.
const READ_BATCH_RECORDS: usize = 2_000;

/// Reads partition 0 of `bench` from the start; `how` ("hot" or "cold") names the figure.
pub(super) fn sequential_read(dir: &Path, how: &str) -> Result<Measurement, BenchError> {
    let log = Log::open(dir, LogConfig::default()).during("opening the log to read")?;
    let started = Instant::now();
    let mut next = exactly_core::Offset(0);
    let (mut records, mut bytes) = (0u64, 0u64);
    loop {
        let batch = log
            .read("bench", 0, next, READ_BATCH_RECORDS)
            .during("reading")?;
        let Some(last) = batch.last() else { break };
        next = last.offset.next();
        records += batch.len() as u64;
        bytes += batch.iter().map(|r| r.value.len() as u64).sum::<u64>();
    }
    let elapsed = started.elapsed();
    log.close().during("closing the log")?;
    Ok(Measurement {
        name: format!("sequential read, 1 KiB records, {how}"),
        records,
        bytes,
        elapsed,
        bytes_per_sync: None,
        rounds_mb_per_sec: Vec::new(),
    })
}
