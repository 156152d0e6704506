//! Helpers shared by the integration tests of `exactly-log`.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{
    ManualClock, Offset, ProducerEpoch, ProducerId, Sequence, SimStorage, Storage, Timestamp,
};
use exactly_log::{Isolation, Log, LogConfig, ProducerStamp, Record, StoredRecord};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Directory of the log inside simulated storage.
pub const LOG_DIR: &str = "/log";

/// A record with a timestamp, optional key and value.
pub fn rec(ts: i64, key: Option<&[u8]>, value: &[u8]) -> Record {
    Record {
        timestamp: Timestamp(ts),
        key: key.map(<[u8]>::to_vec),
        value: value.to_vec(),
    }
}

/// An idempotent-producer stamp.
pub fn stamp(pid: u64, epoch: u16, seq: u64) -> ProducerStamp {
    ProducerStamp {
        producer_id: ProducerId(pid),
        epoch: ProducerEpoch(epoch),
        base_sequence: Sequence(seq),
    }
}

/// `record` as it should read back at `offset`.
pub fn stored(offset: u64, record: &Record) -> StoredRecord {
    StoredRecord {
        offset: Offset(offset),
        timestamp: record.timestamp,
        key: record.key.clone(),
        value: record.value.clone(),
    }
}

/// Opens the log at [`LOG_DIR`] on simulated storage.
pub fn open_sim(
    storage: &SimStorage,
    clock: &ManualClock,
    config: LogConfig,
) -> Result<Log, exactly_log::OpenError> {
    Log::open_with(
        Arc::new(storage.clone()),
        Arc::new(clock.clone()),
        LOG_DIR,
        config,
    )
}

/// Directory of a partition of a topic in the log at [`LOG_DIR`].
pub fn partition_dir(topic: &str, partition: u32) -> PathBuf {
    Path::new(LOG_DIR).join(topic).join(partition.to_string())
}

/// Every visible record of a partition, read in chunks of `chunk` records.
pub fn read_all_chunked(log: &Log, topic: &str, partition: u32, chunk: usize) -> Vec<StoredRecord> {
    let start = log.partition_info(topic, partition).unwrap().start_offset;
    let mut out = Vec::new();
    let mut next = start;
    loop {
        let batch = log.read(topic, partition, next, chunk).unwrap();
        let Some(last) = batch.last() else {
            return out;
        };
        assert_eq!(
            batch[0].offset, next,
            "a read starts at the requested offset"
        );
        next = last.offset.next();
        out.extend(batch);
    }
}

/// Every visible record of a partition.
pub fn read_all(log: &Log, topic: &str, partition: u32) -> Vec<StoredRecord> {
    read_all_chunked(log, topic, partition, 100_000)
}

/// Sorted file names with the given extension in a directory of the storage.
pub fn files_with_ext(storage: &dyn Storage, dir: &Path, ext: &str) -> Vec<String> {
    let suffix = format!(".{ext}");
    storage
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(&suffix))
        .collect()
}

/// Offset encoded in a segment/index/snapshot file name.
pub fn base_of(name: &str) -> u64 {
    name.split('.').next().unwrap().parse().unwrap()
}

/// Seeds for randomized tests: `EXACTLY_SEED` pins one, `EXACTLY_SEEDS=n` runs `n` of them
/// (starting at `default`), otherwise `default` alone.
pub fn seeds(default: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let n: u64 = std::env::var("EXACTLY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    (0..n.max(1)).map(|i| default.wrapping_add(i)).collect()
}

/// Runs `body(seed)` and reports the seed if it panics.
pub fn with_seed(seed: u64, body: impl FnOnce(u64)) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(seed)));
    if let Err(panic) = result {
        eprintln!("FAILED with seed {seed} (rerun with EXACTLY_SEED={seed})");
        std::panic::resume_unwind(panic);
    }
}

/// Every record of a partition as (offset, UTF-8 value), read in small chunks so that
/// continuation past markers and aborted batches is exercised.
pub fn read_all_with(
    log: &Log,
    topic: &str,
    partition: u32,
    isolation: Isolation,
) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut next = Offset(0);
    loop {
        let batch = log
            .read_with(topic, partition, next, 50, isolation)
            .unwrap();
        for r in &batch.records {
            assert!(r.offset >= next, "offsets increase");
            out.push((r.offset.0, String::from_utf8(r.value.clone()).unwrap()));
        }
        if batch.next_offset <= next {
            return out;
        }
        next = batch.next_offset;
    }
}
