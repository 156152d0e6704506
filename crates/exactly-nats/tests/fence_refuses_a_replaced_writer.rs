//! Fencing by epoch: writer A (epoch 1) publishes; writer B (epoch 2) takes over from the
//! tail and publishes; A, still holding its old tail, is refused (`WrongLastSequence`) and
//! on reading the tail again learns it is fenced (`Fenced`). A fresh reader finds A's
//! records, then B's, and nothing of A after B's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::fence::check_fence;
use exactly_nats::{NatsError, NatsLog, OutRecord, TopicOptions};

fn batch(writer: &str, epoch: u64, range: std::ops::Range<u64>) -> Vec<OutRecord> {
    range
        .map(|i| OutRecord {
            origin: None,
            msg_id: format!("{writer}.{i}"),
            epoch: Some(epoch),
            key: None,
            timestamp_ms: 0,
            value: vec![0; 8],
        })
        .collect()
}

fn fence(url: &str) {
    let a = NatsLog::connect(url).unwrap();
    let b = NatsLog::connect(url).unwrap();
    let topic = a
        .create_topic(&common::unique_topic("fence"), 1, TopicOptions::default())
        .unwrap();
    let stream = topic.stream(0).unwrap();

    let a_tail = a.tail(&topic, 0).unwrap();
    check_fence(&stream, a_tail.as_ref(), 1).unwrap();
    let acks = a
        .publish(&topic, 0, &batch("a", 1, 0..10), Some(0))
        .unwrap();
    let a_last = acks.last().unwrap().sequence;

    // B takes over: reads the tail (epoch 1 ≤ 2), continues after it.
    let b_tail = b.tail(&topic, 0).unwrap();
    check_fence(&stream, b_tail.as_ref(), 2).unwrap();
    b.publish(
        &topic,
        0,
        &batch("b", 2, 0..5),
        Some(b_tail.unwrap().sequence),
    )
    .unwrap();

    // A, a zombie with its old view, is refused, then learns it is fenced.
    let refused = a
        .publish(&topic, 0, &batch("a", 1, 10..20), Some(a_last))
        .unwrap_err();
    assert!(
        matches!(refused.error, NatsError::WrongLastSequence { .. }),
        "{}",
        refused.error
    );
    assert!(refused.acked.is_empty());
    let a_tail = a.tail(&topic, 0).unwrap();
    assert!(matches!(
        check_fence(&stream, a_tail.as_ref(), 1),
        Err(NatsError::Fenced {
            epoch: 1,
            tail_epoch: 2,
            ..
        })
    ));

    let read = NatsLog::connect(url)
        .unwrap()
        .reader(&topic, 0, 1)
        .unwrap()
        .next_batch(100)
        .unwrap();
    let epochs: Vec<u64> = read.iter().map(|r| r.epoch.unwrap()).collect();
    assert_eq!(epochs, [vec![1; 10], vec![2; 5]].concat());
    a.delete_topic(&topic).unwrap();
}

#[test]
fn on_a_sync_always_node() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = common::single_node(dir.path()) else {
        return;
    };
    fence(&server.url());
}

#[test]
fn on_the_machines_2_9_server() {
    let Some(url) = common::machine_nats() else {
        return;
    };
    fence(&url);
}
