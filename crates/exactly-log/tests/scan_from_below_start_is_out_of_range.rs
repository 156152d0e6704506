//! `Log::scan` from an offset retention already deleted (or past the end) fails with
//! `ReadError::OffsetOutOfRange` when called; retention deleting the rest of a running scan
//! ends it with one `OffsetOutOfRange` item.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{Durability, Isolation, Log, LogConfig, ReadError};

fn append_records(log: &Log, count: usize) {
    for chunk in 0..count / 500 {
        let batch: Vec<_> = (0..500)
            .map(|i| rec(1, None, format!("{chunk}-{i}").as_bytes()))
            .collect();
        log.append("t", 0, &batch, None).unwrap();
    }
}

#[test]
fn scans_below_the_start_or_past_the_end_are_typed_errors() {
    let storage = SimStorage::new(3);
    let clock = ManualClock::new(1_000);
    let config = LogConfig {
        durability: Durability::None,
        segment_bytes_max: 32 << 10,
        batch_bytes_max: 32 << 10,
        retention_bytes: Some(128 << 10),
        ..LogConfig::default()
    };
    let log = open_sim(&storage, &clock, config).unwrap();
    log.create_topic("t", 1).unwrap();
    append_records(&log, 20_000);
    let info = log.partition_info("t", 0).unwrap();
    assert!(
        info.start_offset > Offset(0),
        "retention deleted the oldest: {info:?}"
    );

    match log.scan("t", 0, Offset(0), Isolation::ReadCommitted) {
        Err(ReadError::OffsetOutOfRange {
            requested,
            start,
            end,
        }) => {
            assert_eq!(requested, Offset(0));
            assert_eq!(start, info.start_offset);
            assert_eq!(end, info.end_offset);
        }
        other => panic!("want OffsetOutOfRange, got {other:?}"),
    }
    assert!(matches!(
        log.scan("t", 0, info.end_offset.next(), Isolation::ReadUncommitted),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.scan("nope", 0, Offset(0), Isolation::ReadCommitted),
        Err(ReadError::UnknownTopic { .. })
    ));
    assert!(matches!(
        log.scan("t", 1, Offset(0), Isolation::ReadCommitted),
        Err(ReadError::UnknownPartition { .. })
    ));

    // From the start: every stored record, dense offsets.
    let got: Vec<_> = log
        .scan("t", 0, info.start_offset, Isolation::ReadCommitted)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len() as u64, info.end_offset.0 - info.start_offset.0);
    assert!(got
        .iter()
        .zip(info.start_offset.0..)
        .all(|(r, o)| r.offset == Offset(o)));

    // Retention deletes what a running scan has not read yet: it ends with one error.
    let mut scan = log
        .scan("t", 0, info.start_offset, Isolation::ReadCommitted)
        .unwrap();
    let first = scan.next().unwrap().unwrap();
    assert_eq!(first.offset, info.start_offset);
    append_records(&log, 20_000);
    let after = log.partition_info("t", 0).unwrap();
    assert!(after.start_offset >= info.end_offset, "{after:?}");
    let rest: Vec<_> = scan.by_ref().collect();
    let (errors, records): (Vec<_>, Vec<_>) = rest.into_iter().partition(Result::is_err);
    assert_eq!(errors.len(), 1, "one error item, then the end");
    assert!(matches!(errors[0], Err(ReadError::OffsetOutOfRange { .. })));
    // What it returned before the error was the buffered prefix, in order.
    assert!(records
        .iter()
        .map(|r| r.as_ref().unwrap().offset)
        .eq((info.start_offset.0 + 1..).take(records.len()).map(Offset)));
    assert!(scan.next().is_none());
}
