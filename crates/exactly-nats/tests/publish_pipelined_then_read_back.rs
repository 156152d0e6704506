//! Pipelined publishing with a message id per record, read back by a fresh reader in
//! bounded batches: every record once, in order, with key, timestamp and id intact; a
//! retry of the same ids is answered `duplicate` with the original sequences; a stale
//! expected last sequence is refused (typed) and stores nothing; the reader stops at the
//! end as of its opening; the tail is the last record.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::{NatsError, NatsLog, OutRecord, TopicOptions};

fn records(from: u64, count: u64) -> Vec<OutRecord> {
    (from..from + count)
        .map(|i| OutRecord {
            origin: None,
            msg_id: format!("roundtrip/{i}"),
            epoch: None,
            key: (i % 3 != 0).then(|| format!("k{i}").into_bytes()),
            timestamp_ms: 1_700_000_000_000 + i as i64,
            value: vec![(i % 251) as u8; (i % 200) as usize],
        })
        .collect()
}

fn roundtrip(url: &str) {
    let log = NatsLog::connect(url).unwrap();
    let topic = log
        .create_topic(
            &common::unique_topic("roundtrip"),
            2,
            TopicOptions::default(),
        )
        .unwrap();
    let first = records(0, 2_000);
    let acks = log.publish(&topic, 1, &first, Some(0)).unwrap();
    let sequences: Vec<u64> = acks.iter().map(|a| a.sequence).collect();
    assert_eq!(sequences, (1..=2_000).collect::<Vec<_>>());
    assert!(acks.iter().all(|a| !a.duplicate));

    // The same ids again (a producer retrying after a lost ack): nothing new stored.
    let retried = log.publish(&topic, 1, &first[1_500..], None).unwrap();
    assert!(retried.iter().all(|a| a.duplicate));
    assert_eq!(retried[0].sequence, 1_501);

    // A stale expectation (someone else wrote since) is refused and stores nothing.
    let stale = log.publish(&topic, 1, &records(5_000, 3), Some(1_999));
    let failure = stale.unwrap_err();
    assert!(failure.acked.is_empty());
    assert!(
        matches!(
            failure.error,
            NatsError::WrongLastSequence {
                expected: 1_999,
                ..
            }
        ),
        "got {}",
        failure.error
    );
    assert_eq!(log.partition_state(&topic, 1).unwrap().last_seq, 2_000);

    // A reader on its own connection, from sequence 1, bounded batches.
    let fresh = NatsLog::connect(url).unwrap();
    let topic_seen = fresh.open_topic(topic.name()).unwrap();
    let mut reader = fresh.reader(&topic_seen, 1, 1).unwrap();
    assert_eq!(reader.end_seq(), 2_000);
    // Written after the reader opened: not part of this read.
    log.publish(&topic, 1, &records(2_000, 10), Some(2_000))
        .unwrap();
    let mut read = Vec::new();
    loop {
        let batch = reader.next_batch(333).unwrap();
        assert!(batch.len() <= 333);
        if batch.is_empty() {
            break;
        }
        read.extend(batch);
    }
    assert_eq!(read.len(), 2_000, "stops at the end as of opening");
    for (stored, sent) in read.iter().zip(&first) {
        assert_eq!(stored.msg_id.as_deref(), Some(sent.msg_id.as_str()));
        assert_eq!(stored.key, sent.key);
        assert_eq!(stored.timestamp_ms, sent.timestamp_ms);
        assert_eq!(stored.value, sent.value);
    }
    assert_eq!(read.last().map(|r| r.sequence), Some(2_000));

    // From the middle, and the tail.
    let mut middle = fresh.reader(&topic_seen, 1, 2_005).unwrap();
    let rest = middle.next_batch(100).unwrap();
    assert_eq!(
        rest.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        (2_005..=2_010).collect::<Vec<_>>()
    );
    let tail = fresh.tail(&topic_seen, 1).unwrap().unwrap();
    assert_eq!(
        (tail.sequence, tail.msg_id.as_deref()),
        (2_010, Some("roundtrip/2009"))
    );
    assert_eq!(fresh.tail(&topic_seen, 0).unwrap(), None);
    assert!(fresh
        .reader(&topic_seen, 0, 1)
        .unwrap()
        .next_batch(10)
        .unwrap()
        .is_empty());
    assert!(matches!(
        fresh.reader(&topic_seen, 2, 1),
        Err(NatsError::NoSuchPartition { partition: 2, .. })
    ));
    log.delete_topic(&topic).unwrap();
}

#[test]
fn on_a_sync_always_node() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = common::single_node(dir.path()) else {
        return;
    };
    roundtrip(&server.url());
}

#[test]
fn on_the_machines_2_9_server() {
    let Some(url) = common::machine_nats() else {
        return;
    };
    roundtrip(&url);
}
