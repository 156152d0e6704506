//! `Log::scan` reads across many segment rolls — from the start, from the middle of a batch
//! in the middle of a segment, and after a reopen — returning every record once, in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{Durability, Isolation, LogConfig, StoredRecord};

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::None,
        segment_bytes_max: 4096,
        batch_bytes_max: 4096,
        ..LogConfig::default()
    }
}

#[test]
fn a_scan_crosses_segment_boundaries() {
    let storage = SimStorage::new(9);
    let clock = ManualClock::new(1_000);
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic("t", 1).unwrap();
    let mut expected: Vec<StoredRecord> = Vec::new();
    for b in 0..300u64 {
        let batch: Vec<_> = (0..3)
            .map(|i| {
                rec(
                    b as i64,
                    Some(b"k"),
                    format!("value-{b}-{i}-{}", "x".repeat(40)).as_bytes(),
                )
            })
            .collect();
        for r in &batch {
            expected.push(stored(expected.len() as u64, r));
        }
        log.append("t", 0, &batch, None).unwrap();
    }
    let info = log.partition_info("t", 0).unwrap();
    assert!(info.segments > 10, "{info:?}");
    assert_eq!(info.end_offset, Offset(900));

    let all: Vec<_> = log
        .scan("t", 0, Offset(0), Isolation::ReadCommitted)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(all, expected);

    // 451: the second record of batch 150, somewhere in the middle segment.
    let tail: Vec<_> = log
        .scan("t", 0, Offset(451), Isolation::ReadUncommitted)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tail, expected[451..]);

    log.close().unwrap();
    let log = open_sim(&storage, &clock, config()).unwrap();
    let reopened: Vec<_> = log
        .scan("t", 0, Offset(0), Isolation::ReadCommitted)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reopened, expected,
        "sealed segments read back after a reopen"
    );
}
