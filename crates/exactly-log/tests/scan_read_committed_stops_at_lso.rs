//! `Log::scan` under `read_committed` stops at the last stable offset as of the call (the
//! first offset of the oldest open transaction), skips aborted transactions and markers,
//! and does not move its end when the open transaction commits while the scan exists.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{Isolation, Log, LogConfig};

fn values(log: &Log, from: Offset, isolation: Isolation) -> Vec<String> {
    log.scan("t", 0, from, isolation)
        .unwrap()
        .map(|r| String::from_utf8(r.unwrap().value).unwrap())
        .collect()
}

#[test]
fn read_committed_scan_stops_at_the_lso_and_skips_aborted_batches() {
    let storage = SimStorage::new(5);
    let clock = ManualClock::new(1_000_000);
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    log.create_topic("t", 1).unwrap();
    log.append("t", 0, &[rec(1, None, b"p0")], None).unwrap();
    let mut producer = log.transactional_producer("tx", 60_000).unwrap();
    producer.begin().unwrap();
    producer.send("t", 0, &[rec(2, None, b"aborted")]).unwrap();
    producer.abort().unwrap();
    log.append("t", 0, &[rec(3, None, b"p1")], None).unwrap();
    producer.begin().unwrap();
    producer.send("t", 0, &[rec(4, None, b"open")]).unwrap();
    log.append("t", 0, &[rec(5, None, b"p2")], None).unwrap();

    let info = log.partition_info("t", 0).unwrap();
    assert_eq!(info.open_transactions.len(), 1);
    let lso = info.last_stable_offset;
    assert!(lso < info.end_offset);

    let mut committed = log
        .scan("t", 0, Offset(0), Isolation::ReadCommitted)
        .unwrap();
    assert_eq!(committed.end(), lso, "read_committed stops at the LSO");
    let uncommitted = log
        .scan("t", 0, Offset(0), Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(uncommitted.end(), info.end_offset);

    // The open transaction commits after the scan was created: its end stays put.
    producer.commit().unwrap();
    let first: Vec<String> = committed
        .by_ref()
        .map(|r| String::from_utf8(r.unwrap().value).unwrap())
        .collect();
    assert_eq!(
        first,
        ["p0", "p1"],
        "aborted skipped, nothing at or past the LSO"
    );
    assert_eq!(committed.next_offset(), lso);
    let all: Vec<String> = uncommitted
        .map(|r| String::from_utf8(r.unwrap().value).unwrap())
        .collect();
    assert_eq!(
        all,
        ["p0", "aborted", "p1", "open", "p2"],
        "markers never returned"
    );

    // A scan created after the commit reads through it.
    assert_eq!(
        values(&log, Offset(0), Isolation::ReadCommitted),
        ["p0", "p1", "open", "p2"]
    );
    // From inside the aborted transaction: it is skipped, not an error.
    assert_eq!(
        values(&log, Offset(1), Isolation::ReadCommitted),
        ["p1", "open", "p2"]
    );
    // From between the LSO and the end (nothing stable there yet) a scan is empty.
    producer.begin().unwrap();
    producer.send("t", 0, &[rec(6, None, b"open2")]).unwrap();
    log.append("t", 0, &[rec(7, None, b"p3")], None).unwrap();
    let info = log.partition_info("t", 0).unwrap();
    let mut beyond = log
        .scan("t", 0, info.end_offset, Isolation::ReadCommitted)
        .unwrap();
    assert!(beyond.next().is_none());
    producer.abort().unwrap();
    assert_eq!(
        values(&log, Offset(0), Isolation::ReadCommitted),
        ["p0", "p1", "open", "p2", "p3"]
    );
}
