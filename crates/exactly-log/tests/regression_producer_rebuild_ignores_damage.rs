//! Regression: rebuilding producer state from sealed segments trusted unchecked headers.
//!
//! When no usable producer snapshot covers a sealed segment (snapshots deleted or damaged),
//! open rebuilds the producer table by scanning that segment — with a headers-only scan
//! whose stop was ignored and whose header fields were not checksummed. A damaged length
//! silently ended the rebuild early (the producers' later batches were forgotten, so their
//! retries would be appended a second time) and a flipped bit in a producer id or sequence
//! went straight into the table. The rebuild now checksums every batch and refuses to open
//! (`OpenError::Corrupt`) when a segment it needs is damaged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, SimStorage, Storage};
use exactly_log::batch::check_batch;
use exactly_log::{LogConfig, OpenError};

const TOPIC: &str = "rebuild";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 4096,
        batch_bytes_max: 1024,
        ..LogConfig::default()
    }
}

/// A log whose producer snapshots are all deleted; returns the storage and the path and
/// bytes of the last sealed segment plus its batch starts.
fn without_snapshots() -> (
    SimStorage,
    ManualClock,
    std::path::PathBuf,
    Vec<u8>,
    Vec<usize>,
) {
    let storage = SimStorage::new(3);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    for i in 0..60u64 {
        let records = [rec(0, None, &[b'v'; 100])];
        log.append(TOPIC, 0, &records, Some(stamp(1, 0, i)))
            .unwrap();
    }
    log.close().unwrap();
    let dir = partition_dir(TOPIC, 0);
    for name in files_with_ext(&storage, &dir, "snapshot") {
        storage.remove_file(&dir.join(name)).unwrap();
    }
    let segments = files_with_ext(&storage, &dir, "log");
    assert!(segments.len() >= 3);
    let path = dir.join(&segments[segments.len() - 2]);
    let bytes = storage.live_bytes(&path).unwrap();
    let mut starts = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        starts.push(at);
        at += check_batch(&bytes[at..], 1024).unwrap().batch_len as usize;
    }
    // Sanity: undamaged, the log opens and rebuilds producer 1 from the segments.
    let log = open_sim(&storage, &clock, config()).unwrap();
    let state = log
        .producer_state(TOPIC, 0, exactly_core::ProducerId(1))
        .unwrap();
    assert_eq!(
        state.unwrap().last_sequence,
        Some(exactly_core::Sequence(59))
    );
    drop(log);
    (storage, clock, path, bytes, starts)
}

fn open_after(damage: impl Fn(&mut Vec<u8>, &[usize])) -> Result<(), OpenError> {
    let (storage, clock, path, mut bytes, starts) = without_snapshots();
    damage(&mut bytes, &starts);
    storage.overwrite_bytes(&path, bytes).unwrap();
    open_sim(&storage, &clock, config()).map(|_| ())
}

#[test]
fn damaged_length_in_a_segment_to_replay_is_corrupt() {
    let got = open_after(|bytes, starts| bytes[starts[1] + 9] ^= 0x01);
    assert!(matches!(got, Err(OpenError::Corrupt { .. })), "{got:?}");
}

#[test]
fn flipped_sequence_in_a_segment_to_replay_is_corrupt() {
    let got = open_after(|bytes, starts| bytes[starts[starts.len() - 1] + 48] ^= 0x04);
    assert!(matches!(got, Err(OpenError::Corrupt { .. })), "{got:?}");
}

#[test]
fn flipped_producer_id_in_a_segment_to_replay_is_corrupt() {
    let got = open_after(|bytes, starts| bytes[starts[2] + 40] ^= 0x02);
    assert!(matches!(got, Err(OpenError::Corrupt { .. })), "{got:?}");
}
