//! A reader whose position is below what retention kept gets a typed error, never a silent
//! skip: records older than `max_age` are deleted by the server; reading from sequence 1
//! afterwards fails with `RetentionDeleted`, naming the first sequence kept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::{NatsError, NatsLog, OutRecord, TopicOptions};
use std::time::Duration;

fn expire_then_read(url: &str) {
    let log = NatsLog::connect(url).unwrap();
    let options = TopicOptions {
        max_age_ms: 1_000,
        duplicate_window_ms: 1_000,
        ..TopicOptions::default()
    };
    let topic = log
        .create_topic(&common::unique_topic("retention"), 1, options)
        .unwrap();
    let record = |i: u64| OutRecord {
        origin: None,
        msg_id: format!("r{i}"),
        epoch: None,
        key: None,
        timestamp_ms: i as i64,
        value: b"v".to_vec(),
    };
    log.publish(&topic, 0, &[record(1), record(2)], Some(0))
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    log.publish(&topic, 0, &[record(3)], Some(2)).unwrap();
    let state = log.partition_state(&topic, 0).unwrap();
    assert_eq!(
        (state.first_seq, state.last_seq),
        (3, 3),
        "the server expired 1 and 2"
    );
    match log.reader(&topic, 0, 1) {
        Err(NatsError::RetentionDeleted {
            requested: 1,
            first_kept: 3,
            ..
        }) => {}
        Err(other) => panic!("expected RetentionDeleted, got {other}"),
        Ok(_) => panic!("expected RetentionDeleted, the reader opened"),
    }
    // Reading from what is kept works.
    let kept = log.reader(&topic, 0, 3).unwrap().next_batch(10).unwrap();
    assert_eq!(kept.len(), 1);
    log.delete_topic(&topic).unwrap();
}

#[test]
fn on_a_sync_always_node() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = common::single_node(dir.path()) else {
        return;
    };
    expire_then_read(&server.url());
}

#[test]
fn on_the_machines_2_9_server() {
    let Some(url) = common::machine_nats() else {
        return;
    };
    expire_then_read(&url);
}
