//! An fsync error is fatal for the log handle (fail-stop), and a crash after it loses
//! nothing that was acknowledged.
//!
//! For every point k of a small workload (so the failing sync is sometimes an append's own
//! and sometimes the sync of a segment roll): `SimStorage::fail_next_sync()`, the next
//! append returns `AppendError::FailStopped`; from then on every append (any topic, any
//! partition, retries included), read, `offset_for_time`, flush and close fails; a crash
//! (each tear mode in turn) and reopen keeps every acknowledged record, and the
//! unacknowledged batch is either absent or present exactly once — a retry with the same
//! sequence then gets `Duplicate` or `Appended` accordingly, never a second copy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode, Timestamp};
use exactly_log::{
    AppendError, AppendOutcome, Durability, Log, LogConfig, MaintenanceError, ReadError, Record,
    StoredRecord,
};
use std::time::{Duration, Instant};

const TOPIC: &str = "fs";
const OTHER: &str = "other";
const TEARS: [TearMode; 4] = [
    TearMode::DropUnsynced,
    TearMode::KeepPrefix,
    TearMode::PrefixThenGarbage,
    TearMode::PrefixThenZeros,
];

fn config(durability: Durability) -> LogConfig {
    LogConfig {
        durability,
        segment_bytes_max: 4096,
        batch_bytes_max: 1024,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

fn batch(i: u64) -> Vec<Record> {
    (0..=(i % 3))
        .map(|j| {
            rec(
                i as i64,
                Some(b"k"),
                format!("batch-{i}-{j}-{}", "z".repeat(200)).as_bytes(),
            )
        })
        .collect()
}

fn assert_fail_stopped(log: &Log, ctx: &str) {
    for (topic, part) in [(TOPIC, 0), (TOPIC, 1), (OTHER, 0)] {
        let appended = log.append(topic, part, &batch(999), None);
        assert!(
            matches!(appended, Err(AppendError::FailStopped { .. })),
            "{ctx}: append to {topic}/{part}: {appended:?}"
        );
        let retry = log.append(topic, part, &batch(0), Some(stamp(1, 0, 0)));
        assert!(
            matches!(retry, Err(AppendError::FailStopped { .. })),
            "{ctx}: retry to {topic}/{part}: {retry:?}"
        );
        let read = log.read(topic, part, Offset(0), 10);
        assert!(
            matches!(read, Err(ReadError::FailStopped { .. })),
            "{ctx}: read of {topic}/{part}: {read:?}"
        );
        let by_time = log.offset_for_time(topic, part, Timestamp(0));
        assert!(
            matches!(by_time, Err(ReadError::FailStopped { .. })),
            "{ctx}: offset_for_time of {topic}/{part}: {by_time:?}"
        );
        let started = Instant::now();
        let waited = log.wait_for(topic, part, Offset(1_000_000), Duration::from_secs(5));
        assert!(matches!(waited, Ok(false)), "{ctx}: {waited:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{ctx}: wait_for returns at once"
        );
    }
    assert!(
        matches!(log.flush(), Err(MaintenanceError::FailStopped { .. })),
        "{ctx}: flush"
    );
}

/// Acknowledged records per partition: (offset-ordered records).
fn run_point(k: u64, tear: TearMode) {
    let ctx = format!("fail at append {k}, {tear:?}");
    let storage = SimStorage::new(k);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, config(Durability::Immediate)).unwrap();
    log.create_topic(TOPIC, 2).unwrap();
    log.create_topic(OTHER, 1).unwrap();
    let mut acked: Vec<Vec<StoredRecord>> = vec![Vec::new(), Vec::new()];
    let mut seq = [0u64; 2];
    let send = |log: &Log, i: u64, seq: &[u64; 2]| {
        let part = (i % 2) as usize;
        let records = batch(i);
        let result = log.append(TOPIC, part as u32, &records, Some(stamp(1, 0, seq[part])));
        (part, records, result)
    };
    for i in 0..k {
        let (part, records, result) = send(&log, i, &seq);
        let base = acked[part].len() as u64;
        assert_eq!(
            result.unwrap(),
            AppendOutcome::Appended {
                base_offset: Offset(base),
                last_offset: Offset(base + records.len() as u64 - 1)
            },
            "{ctx}"
        );
        seq[part] += records.len() as u64;
        acked[part].extend(
            records
                .iter()
                .enumerate()
                .map(|(j, r)| stored(base + j as u64, r)),
        );
    }
    storage.fail_next_sync();
    let (part, records, result) = send(&log, k, &seq);
    assert!(
        matches!(result, Err(AppendError::FailStopped { .. })),
        "{ctx}: {result:?}"
    );
    assert_fail_stopped(&log, &ctx);
    assert!(log.close().is_err(), "{ctx}: close after fail-stop");
    storage.crash(tear);

    let log = open_sim(&storage, &clock, config(Durability::Immediate)).unwrap();
    let unacked_base = acked[part].len() as u64;
    let unacked: Vec<StoredRecord> = records
        .iter()
        .enumerate()
        .map(|(j, r)| stored(unacked_base + j as u64, r))
        .collect();
    for p in 0..2 {
        let got = read_all(&log, TOPIC, p as u32);
        assert!(
            got.len() >= acked[p].len() && got[..acked[p].len()] == acked[p][..],
            "{ctx}: partition {p} lost acknowledged records"
        );
        let extra = &got[acked[p].len()..];
        if p == part {
            assert!(
                extra.is_empty() || extra == unacked,
                "{ctx}: partition {p} has {} unexpected records",
                extra.len()
            );
        } else {
            assert!(extra.is_empty(), "{ctx}: partition {p} grew");
        }
    }
    let survived = log.partition_info(TOPIC, part as u32).unwrap().end_offset.0 > unacked_base;
    let retry = log
        .append(TOPIC, part as u32, &records, Some(stamp(1, 0, seq[part])))
        .unwrap();
    let offsets = (
        Offset(unacked_base),
        Offset(unacked_base + records.len() as u64 - 1),
    );
    let want = match survived {
        true => AppendOutcome::Duplicate {
            original: Some(offsets),
        },
        false => AppendOutcome::Appended {
            base_offset: offsets.0,
            last_offset: offsets.1,
        },
    };
    assert_eq!(retry, want, "{ctx}");
    acked[part].extend(unacked);
    for (p, want) in acked.iter().enumerate() {
        assert!(
            read_all(&log, TOPIC, p as u32) == *want,
            "{ctx}: partition {p}"
        );
    }
}

#[test]
fn fsync_error_fail_stops_and_loses_nothing_acknowledged() {
    // Enough appends that several of the failing syncs are segment rolls.
    for k in 0..60u64 {
        run_point(k, TEARS[(k % 4) as usize]);
    }
}

#[test]
fn fsync_error_in_the_background_flusher_fail_stops_too() {
    let storage = SimStorage::new(9);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, config(Durability::Interval(2))).unwrap();
    log.create_topic(TOPIC, 2).unwrap();
    log.create_topic(OTHER, 1).unwrap();
    log.append(TOPIC, 0, &batch(0), None).unwrap();
    log.flush().unwrap();
    storage.fail_next_sync();
    // Interval durability acknowledges at once; the flusher's sync then fails.
    log.append(TOPIC, 1, &batch(1), None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match log.append(TOPIC, 0, &batch(2), None) {
            Err(AppendError::FailStopped { .. }) => break,
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            other => panic!("the flusher's fsync error never fail-stopped the log: {other:?}"),
        }
    }
    assert_fail_stopped(&log, "background flusher");
}
