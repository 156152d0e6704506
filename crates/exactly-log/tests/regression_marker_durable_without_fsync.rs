//! Regression: under `Durability::None` a commit marker was written but never synced, while
//! the transaction's data (flushed before the decision) and its `CompleteCommit` record
//! were. A crash then kept the data without its marker: the committed transaction was
//! invisible and stayed open in the partition forever (recovery saw a completed
//! transaction and wrote nothing), holding the last stable offset back for every later
//! record. Markers are now durable before completion is recorded, whatever the durability.
//! Found by `txn_crash_point_sweep_offsets.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::{Durability, Isolation, LogConfig};

#[test]
fn a_committed_transaction_survives_a_crash_without_fsync() {
    let storage = SimStorage::new(3);
    let clock = ManualClock::new(1_000_000);
    let config = || LogConfig {
        durability: Durability::None,
        ..LogConfig::default()
    };
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic("a", 1).unwrap();
    let mut producer = log.transactional_producer("t", 60_000).unwrap();
    producer.begin().unwrap();
    producer
        .send("a", 0, &[rec(1, None, b"committed")])
        .unwrap();
    producer.commit().unwrap();
    drop(producer);
    drop(log);
    storage.crash(TearMode::DropUnsynced);

    let log = open_sim(&storage, &clock, config()).unwrap();
    let read = log
        .read_with("a", 0, Offset(0), 10, Isolation::ReadCommitted)
        .unwrap();
    assert_eq!(read.records.len(), 1, "the committed record is visible");
    let info = log.partition_info("a", 0).unwrap();
    assert!(info.open_transactions.is_empty(), "nothing left open");
    assert_eq!(info.last_stable_offset, info.end_offset);
}
