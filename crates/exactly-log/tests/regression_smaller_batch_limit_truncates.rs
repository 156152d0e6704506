//! Regression: reopening with a smaller `batch_bytes_max` truncated acknowledged data.
//!
//! Recovery treated a batch whose length exceeds the configured `batch_bytes_max` as a
//! damaged tail; when it was the last batch (nothing valid after it) it was cut off as a
//! torn write — a whole, checksummed, fsynced, acknowledged batch silently deleted because
//! the limit was lowered between runs. Such a batch now counts as valid data after the stop,
//! so open refuses with `OpenError::Corrupt` (raise the limit to open) and `verify_log`
//! reports `Corrupt`, not a torn tail; the bytes stay on disk.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::verify::{verify_log, Finding};
use exactly_log::{LogConfig, OpenError};
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
    assert!(
        matches!(report.findings.as_slice(), [Finding::Corrupt { .. }]),
        "{:?}",
        report.findings
    );
    let opened = open_sim(&storage, &clock, small);
    assert!(
        matches!(opened, Err(OpenError::Corrupt { position: 73, .. })),
        "{opened:?}"
    );
    assert_eq!(
        storage.live_bytes(&segment).unwrap(),
        bytes,
        "nothing was truncated"
    );
    // With the limit raised again, everything is there.
    let log = open_sim(&storage, &clock, big).unwrap();
    assert!(log.recovery_events().is_empty());
    let all = read_all(&log, "t", 0);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], stored(1, &large));
}
