//! Regression: reads trusted a batch header before checking its CRC.
//!
//! `read_segment` decided from the *unchecked* header whether a batch was past the visible
//! end (stop) or entirely before the requested offset (skip without checksumming). A flipped
//! bit in the base offset (or record count) of a batch in a sealed segment therefore made a
//! read of that batch return `Ok([])` — a consumer would think it reached the end — or skip
//! the batch's records and return the next batch's instead. Now every batch scanned is
//! checksummed before any header field is used, and offsets must continue densely; damage is
//! `ReadError::Corrupt`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::batch::check_batch;
use exactly_log::{LogConfig, ReadError};

const TOPIC: &str = "t";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 4096,
        index_interval_bytes: 100_000,
        batch_bytes_max: 1024,
        ..LogConfig::default()
    }
}

/// Writes 3 records per batch until there are sealed segments; returns the storage and the
/// bytes of the first segment with its batch boundaries.
fn prepared() -> (SimStorage, ManualClock, Vec<u8>, Vec<(usize, u64)>) {
    let storage = SimStorage::new(1);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    for i in 0..200 {
        let records: Vec<_> = (0..3).map(|j| rec(i, None, &[b'a' + j; 20])).collect();
        log.append(TOPIC, 0, &records, None).unwrap();
    }
    log.close().unwrap();
    let path = partition_dir(TOPIC, 0).join(exactly_log::segment_file_name(Offset(0)));
    let bytes = storage.live_bytes(&path).unwrap();
    let mut batches = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let h = check_batch(&bytes[at..], 1024).unwrap();
        batches.push((at, h.base_offset.0));
        at += h.batch_len as usize;
    }
    (storage, clock, bytes, batches)
}

fn damage(flip: impl Fn(&mut Vec<u8>, usize)) -> Result<Vec<exactly_log::StoredRecord>, ReadError> {
    let (storage, clock, mut bytes, batches) = prepared();
    let (at, base) = batches[5];
    flip(&mut bytes, at);
    let path = partition_dir(TOPIC, 0).join(exactly_log::segment_file_name(Offset(0)));
    storage.overwrite_bytes(&path, bytes).unwrap();
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.read(TOPIC, 0, Offset(base + 1), 10)
}

#[test]
fn base_offset_flipped_past_the_end_is_corrupt_not_empty() {
    // Top bit of the base offset: the batch looked past the visible end → Ok([]).
    let got = damage(|bytes, at| bytes[at + 7] ^= 0x80);
    assert!(matches!(got, Err(ReadError::Corrupt { .. })), "{got:?}");
}

#[test]
fn base_offset_flipped_below_the_target_is_corrupt_not_skipped() {
    // Base offset 15 → 11: the batch looked as if it ended before offset 16 → skipped, and
    // the read returned the next batch's records.
    let got = damage(|bytes, at| bytes[at] ^= 0x04);
    assert!(matches!(got, Err(ReadError::Corrupt { .. })), "{got:?}");
}

#[test]
fn record_count_flipped_is_corrupt() {
    let got = damage(|bytes, at| bytes[at + 20] ^= 0x02);
    assert!(matches!(got, Err(ReadError::Corrupt { .. })), "{got:?}");
}
