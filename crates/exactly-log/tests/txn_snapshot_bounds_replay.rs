//! The coordinator's snapshot: opening a log loads it and replays only the records of
//! `__transactions` after it, with the same outcome as replaying the whole history; a
//! snapshot of an unknown version or with a bad CRC is refused with a typed error; a lost
//! marker is still reconciled from the decisions the snapshot keeps — and the documented
//! limit (a marker of an older, complete transaction lost after the snapshot) is what it
//! says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, SimStorage, Storage};
use exactly_log::txn::snapshot::{Snapshot, FILE_NAME, VERSION};
use exactly_log::{Isolation, Log, LogConfig, TxnMetadata};
use std::path::{Path, PathBuf};

fn snapshot_path() -> PathBuf {
    Path::new(LOG_DIR).join(FILE_NAME)
}

fn read_committed(log: &Log, topic: &str, partition: u32) -> Vec<(u64, String)> {
    read_all_with(log, topic, partition, Isolation::ReadCommitted)
}

/// Everything a reader and the coordinator see.
fn observed(log: &Log) -> (Vec<TxnMetadata>, Vec<Vec<(u64, String)>>) {
    let parts = (0..2).map(|p| read_committed(log, "a", p)).collect();
    (log.transactions().unwrap(), parts)
}

#[test]
fn reopening_from_a_snapshot_equals_replaying_the_whole_history() {
    let storage = SimStorage::new(7);
    let clock = ManualClock::new(1_000_000);
    {
        let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
        log.set_transaction_snapshot_interval(Some(5));
        log.create_topic("a", 2).unwrap();
        for round in 0..40u32 {
            let id = format!("t{}", round % 3);
            let mut producer = log.transactional_producer(&id, 60_000).unwrap();
            producer.begin().unwrap();
            let value = format!("r{round}");
            producer
                .send(
                    "a",
                    round % 2,
                    &[rec(i64::from(round), None, value.as_bytes())],
                )
                .unwrap();
            match round % 4 {
                3 => producer.abort().unwrap(),
                _ => producer.commit().unwrap(),
            }
        }
        // One prepared transaction must survive both ways.
        let mut producer = log.transactional_producer("held", 60_000).unwrap();
        producer.begin().unwrap();
        producer.send("a", 0, &[rec(99, None, b"held")]).unwrap();
        producer.prepare().unwrap();
        drop(producer);
        log.close().unwrap();
    }
    let bytes = read_file(&storage, &snapshot_path());
    let snapshot = Snapshot::decode(&bytes, &snapshot_path()).unwrap();
    assert!(
        snapshot.next_offset > 0,
        "automatic snapshots were written: {snapshot:?}"
    );

    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    let from_snapshot = observed(&log);
    log.close().unwrap();
    storage.remove_file(&snapshot_path()).unwrap();
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    let from_history = observed(&log);
    assert_eq!(from_snapshot, from_history);
    let held = from_history
        .0
        .iter()
        .find(|m| m.transactional_id == "held")
        .unwrap();
    assert_eq!(held.state, exactly_log::TxnState::Prepared);
    // 30 committed records, none of the aborted or prepared ones.
    assert_eq!(from_history.1.iter().map(Vec::len).sum::<usize>(), 30);
}

fn read_file(storage: &SimStorage, path: &Path) -> Vec<u8> {
    exactly_core::storage::read_file(storage, path).unwrap()
}

fn write_one_snapshot(storage: &SimStorage, clock: &ManualClock) {
    let log = open_sim(storage, clock, LogConfig::default()).unwrap();
    log.create_topic("a", 2).unwrap();
    let mut producer = log.transactional_producer("t", 60_000).unwrap();
    producer.begin().unwrap();
    producer.send("a", 0, &[rec(1, None, b"x")]).unwrap();
    producer.commit().unwrap();
    drop(producer);
    log.snapshot_transactions().unwrap();
    log.close().unwrap();
}

#[test]
fn a_snapshot_of_an_unknown_version_or_with_a_bad_crc_is_refused() {
    let storage = SimStorage::new(8);
    let clock = ManualClock::new(1_000_000);
    write_one_snapshot(&storage, &clock);
    let good = read_file(&storage, &snapshot_path());

    // A well-formed frame (its CRC covers the header) of a newer version.
    let newer_kind = exactly_core::framing::FrameKind {
        magic: *b"EXTS",
        version: VERSION + 1,
        body_bytes_max: 1 << 30,
    };
    let body = &good[exactly_core::framing::HEADER_BYTES..];
    let newer = exactly_core::framing::encode(&newer_kind, body).unwrap();
    storage.overwrite_bytes(&snapshot_path(), newer).unwrap();
    let error = open_sim(&storage, &clock, LogConfig::default()).unwrap_err();
    assert!(
        error.to_string().contains("unknown format version"),
        "{error}"
    );

    let mut flipped = good.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 0x01;
    storage.overwrite_bytes(&snapshot_path(), flipped).unwrap();
    let error = open_sim(&storage, &clock, LogConfig::default()).unwrap_err();
    assert!(error.to_string().contains("CRC32C mismatch"), "{error}");

    storage.overwrite_bytes(&snapshot_path(), good).unwrap();
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    assert_eq!(read_committed(&log, "a", 0).len(), 1);
}

#[test]
fn a_snapshot_in_the_layout_of_older_builds_is_still_read() {
    let storage = SimStorage::new(9);
    let clock = ManualClock::new(1_000_000);
    write_one_snapshot(&storage, &clock);
    let good = read_file(&storage, &snapshot_path());
    let snapshot = Snapshot::decode(&good, &snapshot_path()).unwrap();
    // Version 1: magic, version, length, CRC32C of the payload alone, payload.
    let payload = &good[exactly_core::framing::HEADER_BYTES..];
    let mut legacy = b"EXTS".to_vec();
    legacy.extend_from_slice(&1u32.to_le_bytes());
    legacy.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    legacy.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    legacy.extend_from_slice(payload);
    assert_eq!(
        Snapshot::decode(&legacy, &snapshot_path()).unwrap(),
        snapshot
    );
    storage.overwrite_bytes(&snapshot_path(), legacy).unwrap();
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    assert_eq!(read_committed(&log, "a", 0).len(), 1);
}

/// Cuts the newest batch of `a/partition` (its last marker) as `log repair` would after
/// damage to it.
fn lose_last_marker(storage: &SimStorage, partition: u32) {
    let dir = partition_dir("a", partition);
    let last = files_with_ext(storage, &dir, "log").pop().unwrap();
    let path = dir.join(last);
    let mut bytes = storage.live_bytes(&path).unwrap();
    let mut at = 0;
    let mut batch = None;
    while let Ok(h) = exactly_log::batch::check_batch(&bytes[at..], 1 << 20) {
        batch = Some((at, at + h.batch_len as usize));
        at += h.batch_len as usize;
    }
    let (start, end) = batch.unwrap();
    bytes[(start + end) / 2] ^= 0x08;
    storage.overwrite_bytes(&path, bytes).unwrap();
    let dir = Path::new(LOG_DIR);
    let actions =
        exactly_log::repair::repair_log(storage, dir, &LogConfig::default(), None, None).unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
}

/// Id `t` commits one record to a/0, then (when `second`) another to a/1; a snapshot is
/// taken; then the marker in a/0 is lost.
fn commit_snapshot_and_lose(storage: &SimStorage, clock: &ManualClock, second: bool) {
    let log = open_sim(storage, clock, LogConfig::default()).unwrap();
    log.create_topic("a", 2).unwrap();
    let mut producer = log.transactional_producer("t", 60_000).unwrap();
    producer.begin().unwrap();
    producer.send("a", 0, &[rec(1, None, b"first")]).unwrap();
    producer.commit().unwrap();
    if second {
        producer.begin().unwrap();
        producer.send("a", 1, &[rec(2, None, b"second")]).unwrap();
        producer.commit().unwrap();
    }
    drop(producer);
    log.snapshot_transactions().unwrap();
    log.close().unwrap();
    lose_last_marker(storage, 0);
}

#[test]
fn a_lost_marker_of_an_ids_current_transaction_is_reconciled_from_the_snapshot() {
    let storage = SimStorage::new(9);
    let clock = ManualClock::new(1_000_000);
    commit_snapshot_and_lose(&storage, &clock, false);
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    let records = read_committed(&log, "a", 0);
    assert_eq!(records.len(), 1, "the commit was written again");
    assert_eq!(records[0].1, "first");
    assert!(log
        .partition_info("a", 0)
        .unwrap()
        .open_transactions
        .is_empty());
}

#[test]
fn the_documented_limit_an_older_transactions_marker_lost_after_the_snapshot() {
    // With the snapshot: no decision is kept for the first transaction (complete at the
    // snapshot, no longer its id's current one), so it is reconciled as aborted.
    let storage = SimStorage::new(10);
    let clock = ManualClock::new(1_000_000);
    commit_snapshot_and_lose(&storage, &clock, true);
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    assert!(read_committed(&log, "a", 0).is_empty());
    assert!(log
        .partition_info("a", 0)
        .unwrap()
        .open_transactions
        .is_empty());
    assert_eq!(read_committed(&log, "a", 1).len(), 1);
    drop(log);

    // Without it, the whole history is searched and the commit is found.
    let storage = SimStorage::new(11);
    commit_snapshot_and_lose(&storage, &clock, true);
    storage.remove_file(&snapshot_path()).unwrap();
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    assert_eq!(read_committed(&log, "a", 0).len(), 1);
}
