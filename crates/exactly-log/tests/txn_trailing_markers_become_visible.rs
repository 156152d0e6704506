//! Markers trailing the decision (the default `MarkerSync::Trailing`): `commit` returns once
//! the decision is durable, and the markers become durable — and the transaction visible
//! to `read_committed` readers — a moment later, even when the producer then stays idle.
//! Three properties, each checked by reading the partitions back:
//! - an idle producer's last commit becomes visible without any further call (the
//!   background syncer; bounded wait of 10 s, polled);
//! - a clean close records the completion: the reopened log has nothing to recover;
//! - a snapshot taken while a marker is written but not durable, followed by an OS crash
//!   that drops everything unsynced, keeps the commit: the snapshot made the marker durable
//!   first (otherwise it would have forgotten the decision and recovery presumed abort).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::{Isolation, Log, LogConfig, MarkerSync, TxnState};
use std::time::{Duration, Instant};

fn committed(log: &Log, topic: &str, partition: u32) -> Vec<String> {
    log.read_with(topic, partition, Offset(0), 1000, Isolation::ReadCommitted)
        .unwrap()
        .records
        .into_iter()
        .map(|r| String::from_utf8(r.value).unwrap())
        .collect()
}

#[test]
fn an_idle_producers_commit_becomes_visible_and_its_completion_is_recorded_at_close() {
    let temp = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    assert!(matches!(config.marker_sync, MarkerSync::Trailing { .. }));
    {
        let log = Log::open(temp.path(), config.clone()).unwrap();
        log.create_topic("out", 1).unwrap();
        let mut producer = log.transactional_producer("idle", 60_000).unwrap();
        producer.begin().unwrap();
        producer
            .send("out", 0, &[rec(1, None, b"one"), rec(2, None, b"two")])
            .unwrap();
        producer.commit().unwrap();
        // No further call on the log: only the syncer can make the markers durable.
        let deadline = Instant::now() + Duration::from_secs(10);
        while committed(&log, "out", 0).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(committed(&log, "out", 0), ["one", "two"]);
        drop(producer);
        log.close().unwrap();
    }
    let log = Log::open(temp.path(), config).unwrap();
    let state = log.transactions().unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].state, TxnState::CompleteCommit, "{state:?}");
    assert_eq!(committed(&log, "out", 0), ["one", "two"]);
}

#[test]
fn a_snapshot_makes_trailing_markers_durable_before_forgetting_their_decision() {
    let storage = SimStorage::new(7);
    let clock = ManualClock::new(1_000_000);
    // No syncer: the marker stays unsynced until something syncs its partition.
    let config = LogConfig {
        marker_sync: MarkerSync::WithNextSync,
        ..LogConfig::default()
    };
    {
        let log = open_sim(&storage, &clock, config.clone()).unwrap();
        log.create_topic("a", 1).unwrap();
        log.create_topic("b", 1).unwrap();
        let mut producer = log.transactional_producer("t", 60_000).unwrap();
        producer.begin().unwrap();
        producer
            .send("a", 0, &[rec(1, None, b"committed")])
            .unwrap();
        producer.commit().unwrap();
        // The id moves on, so the table no longer names the first transaction as decided.
        producer.begin().unwrap();
        producer.send("b", 0, &[rec(2, None, b"open")]).unwrap();
        log.snapshot_transactions().unwrap();
        std::mem::forget(producer);
        std::mem::forget(log);
    }
    storage.crash(TearMode::DropUnsynced);
    let log = open_sim(&storage, &clock, config).unwrap();
    assert_eq!(committed(&log, "a", 0), ["committed"]);
    assert!(
        committed(&log, "b", 0).is_empty(),
        "the open one is aborted"
    );
}
