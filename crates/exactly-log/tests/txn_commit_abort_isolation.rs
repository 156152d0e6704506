//! Transactions end to end on simulated storage: atomic visibility across partitions for
//! `read_committed` readers, aborted data skipped, the last stable offset held by open
//! transactions, fencing of older instances, prepared transactions surviving a crash,
//! open ones aborted by recovery, timeouts, and consumer positions committed with the data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::{Isolation, Log, LogConfig, TxnError};

fn values(log: &Log, topic: &str, partition: u32, isolation: Isolation) -> Vec<String> {
    let batch = log
        .read_with(topic, partition, Offset(0), 10_000, isolation)
        .unwrap();
    batch
        .records
        .iter()
        .map(|r| String::from_utf8(r.value.clone()).unwrap())
        .collect()
}

fn setup() -> (SimStorage, ManualClock, Log) {
    let storage = SimStorage::new(7);
    let clock = ManualClock::new(1_000_000);
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    log.create_topic("a", 2).unwrap();
    log.create_topic("b", 1).unwrap();
    (storage, clock, log)
}

#[test]
fn commit_is_atomic_across_partitions_and_abort_is_invisible() {
    let (_storage, _clock, log) = setup();
    let mut producer = log.transactional_producer("t", 60_000).unwrap();
    producer.begin().unwrap();
    producer.send("a", 0, &[rec(1, None, b"a0")]).unwrap();
    producer.send("a", 1, &[rec(1, None, b"a1")]).unwrap();
    producer.send("b", 0, &[rec(1, None, b"b0")]).unwrap();
    // A plain append behind the open transaction is held back by the LSO too.
    log.append("b", 0, &[rec(2, None, b"plain")], None).unwrap();
    assert!(values(&log, "a", 0, Isolation::ReadCommitted).is_empty());
    assert!(values(&log, "b", 0, Isolation::ReadCommitted).is_empty());
    assert_eq!(
        values(&log, "b", 0, Isolation::ReadUncommitted),
        ["b0", "plain"]
    );
    let info = log.partition_info("b", 0).unwrap();
    assert_eq!(info.last_stable_offset, Offset(0));
    assert_eq!(info.open_transactions.len(), 1);
    producer.commit().unwrap();
    assert_eq!(values(&log, "a", 0, Isolation::ReadCommitted), ["a0"]);
    assert_eq!(values(&log, "a", 1, Isolation::ReadCommitted), ["a1"]);
    assert_eq!(
        values(&log, "b", 0, Isolation::ReadCommitted),
        ["b0", "plain"]
    );

    producer.begin().unwrap();
    producer.send("a", 0, &[rec(3, None, b"aborted")]).unwrap();
    producer.send("b", 0, &[rec(3, None, b"aborted")]).unwrap();
    producer.abort().unwrap();
    producer.begin().unwrap();
    producer.send("a", 0, &[rec(4, None, b"after")]).unwrap();
    producer.commit().unwrap();
    assert_eq!(
        values(&log, "a", 0, Isolation::ReadCommitted),
        ["a0", "after"]
    );
    assert_eq!(
        values(&log, "a", 0, Isolation::ReadUncommitted),
        ["a0", "aborted", "after"]
    );
    assert_eq!(
        values(&log, "b", 0, Isolation::ReadCommitted),
        ["b0", "plain"]
    );
    let info = log.partition_info("a", 0).unwrap();
    assert_eq!(
        info.last_stable_offset, info.end_offset,
        "nothing open holds the LSO"
    );
    assert_eq!(info.aborted_transactions, 1);
}

#[test]
fn a_new_instance_fences_the_old_one_and_aborts_its_transaction() {
    let (_storage, _clock, log) = setup();
    let mut old = log.transactional_producer("t", 60_000).unwrap();
    old.begin().unwrap();
    old.send("a", 0, &[rec(1, None, b"zombie")]).unwrap();
    let mut new = log.transactional_producer("t", 60_000).unwrap();
    assert!(matches!(
        old.send("a", 0, &[rec(2, None, b"x")]),
        Err(TxnError::Fenced { .. })
    ));
    assert!(matches!(old.commit(), Err(TxnError::Fenced { .. })));
    new.begin().unwrap();
    new.send("a", 0, &[rec(3, None, b"new")]).unwrap();
    new.commit().unwrap();
    assert_eq!(values(&log, "a", 0, Isolation::ReadCommitted), ["new"]);
}

#[test]
fn prepared_survives_a_crash_and_open_transactions_are_aborted_by_recovery() {
    let (storage, clock, log) = setup();
    let mut prepared = log.transactional_producer("p", 60_000).unwrap();
    prepared.begin().unwrap();
    prepared.send("a", 0, &[rec(1, None, b"prepared")]).unwrap();
    prepared.prepare().unwrap();
    assert!(matches!(
        prepared.send("a", 0, &[rec(1, None, b"no")]),
        Err(TxnError::InvalidState { .. })
    ));
    let mut open = log.transactional_producer("o", 60_000).unwrap();
    open.begin().unwrap();
    open.send("a", 1, &[rec(1, None, b"open")]).unwrap();
    drop((prepared, open));
    drop(log);
    storage.crash(TearMode::DropUnsynced);

    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    assert!(values(&log, "a", 1, Isolation::ReadCommitted).is_empty());
    let info = log.partition_info("a", 1).unwrap();
    assert!(
        info.open_transactions.is_empty(),
        "recovery aborted the open transaction"
    );
    assert!(
        values(&log, "a", 0, Isolation::ReadCommitted).is_empty(),
        "prepared is not visible"
    );
    let mut resumed = log.transactional_producer("p", 60_000).unwrap();
    assert!(resumed.is_prepared());
    resumed.commit().unwrap();
    assert_eq!(values(&log, "a", 0, Isolation::ReadCommitted), ["prepared"]);
}

#[test]
fn timed_out_transactions_are_aborted_and_their_producer_fenced() {
    let (_storage, clock, log) = setup();
    let mut producer = log.transactional_producer("t", 1_000).unwrap();
    producer.begin().unwrap();
    producer.send("a", 0, &[rec(1, None, b"late")]).unwrap();
    clock.advance_ms(5_000);
    assert_eq!(log.expire_transactions().unwrap(), 1);
    assert!(matches!(producer.commit(), Err(TxnError::Fenced { .. })));
    assert!(values(&log, "a", 0, Isolation::ReadCommitted).is_empty());
    assert!(log
        .partition_info("a", 0)
        .unwrap()
        .open_transactions
        .is_empty());
}

#[test]
fn positions_commit_with_the_outputs() {
    let (_storage, _clock, log) = setup();
    let mut producer = log.transactional_producer("copy", 60_000).unwrap();
    producer.begin().unwrap();
    producer.send("b", 0, &[rec(1, None, b"out")]).unwrap();
    producer
        .add_offsets("g", &[("a".into(), 0, Offset(5))])
        .unwrap();
    assert!(log.committed_offsets("g").unwrap().is_empty());
    producer.commit().unwrap();
    let positions = log.committed_offsets("g").unwrap();
    assert_eq!(positions.get(&("a".to_string(), 0)), Some(&Offset(5)));
    producer.begin().unwrap();
    producer
        .add_offsets("g", &[("a".into(), 0, Offset(9))])
        .unwrap();
    producer.abort().unwrap();
    let positions = log.committed_offsets("g").unwrap();
    assert_eq!(
        positions.get(&("a".to_string(), 0)),
        Some(&Offset(5)),
        "aborted positions never apply"
    );
    assert!(matches!(
        log.append("__consumer_offsets", 0, &[rec(1, None, b"x")], None),
        Err(exactly_log::AppendError::InternalTopic { .. })
    ));
}
