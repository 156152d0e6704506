//! The durable-end evidence decides what recovery may cut on its own, on simulated storage:
//!
//! 1. bytes beyond the evidence (an unacknowledged, torn write after a kill) are still
//!    truncated silently, and `verify_log` reports them as a torn tail that is no damage;
//! 2. a flipped bit in the last acknowledged batch after a kill (no clean close) is refused
//!    with `DurableDataLost`, `verify_log` reports it, `repair_log` cuts exactly that batch and
//!    the partition continues at its offset;
//! 3. the documented window: after an OS crash the evidence is only as new as its last
//!    fsync. With the default interval (never reached on a frozen clock) the same damage is
//!    then taken for a torn tail; with a zero interval (fsync every time) it is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::batch::check_batch;
use exactly_log::repair::repair_log;
use exactly_log::verify::{verify_log, Finding};
use exactly_log::{LogConfig, OpenError};
use std::path::{Path, PathBuf};

const TOPIC: &str = "ev";

fn segment() -> PathBuf {
    partition_dir(TOPIC, 0).join(exactly_log::segment_file_name(Offset(0)))
}

/// Five acknowledged one-record batches (offsets 0..5); the log is dropped without a close.
fn five_acknowledged(storage: &SimStorage, clock: &ManualClock, config: LogConfig) {
    let log = open_sim(storage, clock, config).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    for i in 0..5u8 {
        log.append(TOPIC, 0, &[rec(0, None, &[b'a' + i; 20])], None)
            .unwrap();
    }
    drop(log);
}

/// Byte range of the last whole batch of the segment.
fn last_batch(bytes: &[u8]) -> (usize, usize) {
    let mut at = 0;
    let mut last = (0, 0);
    while let Ok(h) = check_batch(&bytes[at..], 1 << 20) {
        last = (at, at + h.batch_len as usize);
        at = last.1;
    }
    last
}

fn flip_last_batch(storage: &SimStorage) -> usize {
    let mut bytes = storage.live_bytes(&segment()).unwrap();
    let (start, end) = last_batch(&bytes);
    bytes[(start + end) / 2] ^= 0x40;
    storage.overwrite_bytes(&segment(), bytes).unwrap();
    start
}

#[test]
fn garbage_beyond_the_evidence_is_a_torn_tail_and_recovers_silently() {
    let (storage, clock) = (SimStorage::new(1), ManualClock::new(0));
    five_acknowledged(&storage, &clock, LogConfig::default());
    let mut bytes = storage.live_bytes(&segment()).unwrap();
    let whole = bytes.len();
    let (start, end) = last_batch(&bytes);
    let copy = bytes[start..end - 3].to_vec();
    bytes.extend_from_slice(&copy); // a half-written sixth batch nobody was told about
    storage.overwrite_bytes(&segment(), bytes).unwrap();
    let report = verify_log(&storage, Path::new(LOG_DIR), &LogConfig::default());
    assert!(!report.has_damage(), "{:?}", report.findings);
    assert!(
        matches!(
            report.findings.as_slice(),
            [Finding::TornTail { position, beyond_evidence: true, .. }] if *position == whole as u64
        ),
        "{:?}",
        report.findings
    );
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    let events = log.recovery_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].truncated_at, whole as u64);
    assert_eq!(read_all(&log, TOPIC, 0).len(), 5);
}

#[test]
fn damage_below_the_evidence_after_a_kill_is_refused_until_repaired() {
    let (storage, clock) = (SimStorage::new(2), ManualClock::new(0));
    five_acknowledged(&storage, &clock, LogConfig::default());
    let start = flip_last_batch(&storage) as u64;
    match open_sim(&storage, &clock, LogConfig::default()) {
        Err(OpenError::DurableDataLost {
            file,
            position,
            first_lost_offset,
            durable_next_offset,
            ..
        }) => assert_eq!(
            (file, position, first_lost_offset, durable_next_offset),
            (segment(), start, Offset(4), Offset(5))
        ),
        other => panic!("want DurableDataLost, got {other:?}"),
    }
    let report = verify_log(&storage, Path::new(LOG_DIR), &LogConfig::default());
    assert!(report.has_damage());
    assert!(
        matches!(
            report.findings.as_slice(),
            [Finding::DurableDataLost { position, .. }] if *position == start
        ),
        "{:?}",
        report.findings
    );
    let dir = Path::new(LOG_DIR);
    let actions = repair_log(&storage, dir, &LogConfig::default(), None, None).unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].cut_at, start);
    assert_eq!(actions[0].durable_offsets_dropped(), 1);
    assert!(repair_log(&storage, dir, &LogConfig::default(), None, None)
        .unwrap()
        .is_empty());
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    assert!(
        log.recovery_events().is_empty(),
        "repair left nothing to cut"
    );
    assert_eq!(read_all(&log, TOPIC, 0).len(), 4);
    let again = log.append(TOPIC, 0, &[rec(0, None, b"new")], None).unwrap();
    assert_eq!(
        again,
        exactly_log::AppendOutcome::Appended {
            base_offset: Offset(4),
            last_offset: Offset(4)
        }
    );
}

#[test]
fn after_an_os_crash_the_evidence_is_as_new_as_its_last_sync() {
    for (interval_ms, refused) in [(1_000u64, false), (0, true)] {
        let (storage, clock) = (SimStorage::new(3), ManualClock::new(0));
        let config = || LogConfig {
            durable_end_sync_interval_ms: interval_ms,
            ..LogConfig::default()
        };
        five_acknowledged(&storage, &clock, config());
        storage.crash(TearMode::DropUnsynced);
        assert_eq!(
            storage.live_bytes(&segment()).unwrap().len(),
            last_batch(&storage.live_bytes(&segment()).unwrap()).1,
            "every acknowledged batch survives the crash"
        );
        flip_last_batch(&storage);
        let opened = open_sim(&storage, &clock, config());
        assert_eq!(
            matches!(opened, Err(OpenError::DurableDataLost { .. })),
            refused,
            "interval {interval_ms} ms: {opened:?}"
        );
    }
}
