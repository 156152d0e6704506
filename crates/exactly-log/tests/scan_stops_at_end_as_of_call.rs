//! `Log::scan` stops at the partition's end as of the call: records a writer appends while
//! the scan runs (concurrently, or between creating and iterating it) are never returned,
//! and everything below the end is returned once, in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{Durability, Isolation, LogConfig};
use std::sync::Arc;

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::None,
        ..LogConfig::default()
    }
}

#[test]
fn a_scan_ignores_records_appended_after_it_was_created() {
    let storage = SimStorage::new(11);
    let clock = ManualClock::new(1_000);
    let log = Arc::new(open_sim(&storage, &clock, config()).unwrap());
    log.create_topic("t", 1).unwrap();
    let mut written = Vec::new();
    for b in 0..10u64 {
        let batch: Vec<_> = (0..10)
            .map(|i| rec(1, None, format!("v{}", b * 10 + i).as_bytes()))
            .collect();
        log.append("t", 0, &batch, None).unwrap();
        written.extend(batch);
    }

    for isolation in [Isolation::ReadUncommitted, Isolation::ReadCommitted] {
        let scan = log.scan("t", 0, Offset(0), isolation).unwrap();
        assert_eq!(scan.end(), Offset(100), "{isolation:?}");
    }
    let scan = log
        .scan("t", 0, Offset(0), Isolation::ReadUncommitted)
        .unwrap();
    // One append between creating the scan and iterating it, more while it iterates.
    log.append("t", 0, &[rec(2, None, b"late")], None).unwrap();
    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for i in 0..200 {
                log.append("t", 0, &[rec(3, None, format!("w{i}").as_bytes())], None)
                    .unwrap();
            }
        })
    };
    let mut got = Vec::new();
    let mut scan = scan;
    for record in scan.by_ref() {
        got.push(record.unwrap());
        std::thread::yield_now();
    }
    writer.join().unwrap();
    let expected: Vec<_> = written
        .iter()
        .enumerate()
        .map(|(i, r)| stored(i as u64, r))
        .collect();
    assert_eq!(
        got, expected,
        "exactly the records below the end at call time"
    );
    assert_eq!(scan.next_offset(), Offset(100));
    assert!(scan.next().is_none(), "an exhausted scan stays exhausted");

    // A scan created now sees the later appends and stops at the new end.
    let end = log.partition_info("t", 0).unwrap().end_offset;
    assert_eq!(end, Offset(301));
    let later: Vec<_> = log
        .scan("t", 0, Offset(95), Isolation::ReadUncommitted)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(later.len(), 301 - 95);
    assert_eq!(later[0].offset, Offset(95));
    assert_eq!(later[5].value, b"late");
    assert_eq!(later.last().unwrap().offset, Offset(300));

    // From the end: nothing, and not an error.
    let mut at_end = log.scan("t", 0, end, Isolation::ReadUncommitted).unwrap();
    assert!(at_end.next().is_none());
}
