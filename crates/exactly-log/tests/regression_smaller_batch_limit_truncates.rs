//! Regression: reopening with a smaller `batch_bytes_max` truncated acknowledged data.
//!
//! Recovery treated a batch whose length exceeds the configured `batch_bytes_max` as a
//! damaged tail; when it was the last batch (nothing valid after it) it was cut off as a
//! torn write — a whole, checksummed, fsynced, acknowledged batch silently deleted because
//! the limit was lowered between runs. Later it was refused as corrupt, which made a log
//! unreadable after any command with a smaller limit (`log produce --segment-bytes 4096`
//! opened the whole log with that limit). Now the limit bounds only appends: reads and
//! recovery accept any batch the format allows, and nothing is cut or refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::verify::verify_log;
use exactly_log::LogConfig;
use std::path::Path;

#[test]
fn a_smaller_batch_limit_never_truncates_acknowledged_batches() {
    let storage = SimStorage::new(1);
    let clock = ManualClock::new(0);
    let big = LogConfig {
        batch_bytes_max: 64 << 10,
        ..LogConfig::default()
    };
    let log = open_sim(&storage, &clock, big.clone()).unwrap();
    log.create_topic("t", 1).unwrap();
    log.append("t", 0, &[rec(0, None, b"small")], None).unwrap();
    let large = rec(0, None, &[b'x'; 40_000]);
    log.append("t", 0, std::slice::from_ref(&large), None)
        .unwrap();
    drop(log);
    let segment = partition_dir("t", 0).join(exactly_log::segment_file_name(Offset(0)));
    let bytes = storage.live_bytes(&segment).unwrap();

    let small = LogConfig {
        batch_bytes_max: 16 << 10,
        ..LogConfig::default()
    };
    let report = verify_log(&storage, Path::new(LOG_DIR), &small);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // Reads accept any batch the format allows: the limit only bounds new appends.
    let log = open_sim(&storage, &clock, small).unwrap();
    assert!(log.recovery_events().is_empty());
    let all = read_all(&log, "t", 0);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], stored(1, &large));
    drop(log);
    assert_eq!(
        storage.live_bytes(&segment).unwrap(),
        bytes,
        "nothing was truncated"
    );
    let log = open_sim(&storage, &clock, big).unwrap();
    assert_eq!(read_all(&log, "t", 0).len(), 2);
}
