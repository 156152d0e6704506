//! An endpoint's outbox republished after JetStream's duplicate window expired (window
//! 1 s; a session published part of the outbox and crashed before marking it; 2.5 s pass;
//! the next session publishes the whole unmarked outbox again): `NatsPublisher` reads the
//! partition's tail, finds the endpoint's last entry by `Exactly-Origin` and publishes only
//! what follows — every entry once, in outbox order. Beside it, the same republish with
//! the outbox message id alone (what the window would have de-duplicated) stores copies:
//! the window is not the guarantee. Oracle: a fresh reader counting message ids. On our
//! own server (2.15) and on the machine's 2.9.10.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_endpoint::message::encode_envelope;
use exactly_endpoint::{MessageId, OutboxEntry, Publisher};
use exactly_nats::{NatsLog, NatsPublisher, OutRecord, Topic, TopicOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const TOTAL: u64 = 300;
/// Entries the first session published before it crashed (none marked dispatched).
const PUBLISHED_BEFORE_CRASH: u64 = 200;

fn outbox() -> Vec<OutboxEntry> {
    (1..=TOTAL)
        .map(|seq| OutboxEntry {
            seq,
            id: MessageId::from_name(&format!("credit-{seq}")),
            topic: "credits".to_string(),
            key: format!("b-{}", seq % 7).into_bytes(),
            payload: seq.to_le_bytes().to_vec(),
        })
        .collect()
}

/// Message id → copies, and the stream's order of origins.
fn stored(log: &NatsLog, topic: &Topic) -> (BTreeMap<String, u32>, Vec<String>) {
    let mut reader = log.reader(topic, 0, 1).unwrap();
    let (mut copies, mut origins) = (BTreeMap::new(), Vec::new());
    loop {
        let batch = reader.next_batch(1_000).unwrap();
        if batch.is_empty() {
            return (copies, origins);
        }
        for record in batch {
            *copies.entry(record.msg_id.unwrap()).or_default() += 1;
            origins.extend(record.origin);
        }
    }
}

#[test]
fn outbox_republished_after_the_window_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(server) = common::single_node(dir.path()) {
        republish_after_window(&server.url());
    }
    if let Some(url) = common::machine_nats() {
        republish_after_window(&url);
    }
}

fn republish_after_window(url: &str) {
    let log = Arc::new(NatsLog::connect(url).unwrap());
    let options = TopicOptions {
        duplicate_window_ms: 1_000,
        ..TopicOptions::default()
    };
    let prefix = format!("{}.", common::unique_topic("outbox"));
    let topic = log
        .create_topic(&format!("{prefix}credits"), 1, options.clone())
        .unwrap();
    let entries = outbox();

    // Session 1 publishes a prefix of the outbox, then "crashes" before marking it.
    NatsPublisher::new(Arc::clone(&log), "accounts-a", &prefix)
        .publish(&entries[..PUBLISHED_BEFORE_CRASH as usize])
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    // Session 2: a new publisher (nothing in memory) republishes the whole unmarked outbox.
    NatsPublisher::new(Arc::clone(&log), "accounts-a", &prefix)
        .publish(&entries)
        .unwrap();
    let (copies, origins) = stored(&log, &topic);
    assert_eq!(copies.len() as u64, TOTAL, "every entry is stored");
    let doubled = copies.values().filter(|n| **n > 1).count();
    assert_eq!(doubled, 0, "no entry stored twice");
    let expected: Vec<String> = (1..=TOTAL).map(|s| format!("accounts-a.{s}")).collect();
    assert_eq!(origins, expected, "in outbox order");

    // The same republish relying on the message id (the window) alone stores copies.
    let naive = log
        .create_topic(&format!("{prefix}naive"), 1, options)
        .unwrap();
    let records = |slice: &[OutboxEntry]| -> Vec<OutRecord> {
        slice
            .iter()
            .map(|e| OutRecord {
                msg_id: e.id.to_hex(),
                epoch: None,
                origin: None,
                key: Some(e.key.clone()),
                timestamp_ms: 0,
                value: encode_envelope(e.id, &e.payload),
            })
            .collect()
    };
    log.publish(
        &naive,
        0,
        &records(&entries[..PUBLISHED_BEFORE_CRASH as usize]),
        None,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    log.publish(&naive, 0, &records(&entries), None).unwrap();
    let (naive_copies, _) = stored(&log, &naive);
    let doubled = naive_copies.values().filter(|n| **n > 1).count() as u64;
    assert_eq!(
        doubled, PUBLISHED_BEFORE_CRASH,
        "past the window the message id alone does not de-duplicate"
    );
    // The machine's server is shared.
    log.delete_topic(&topic).unwrap();
    log.delete_topic(&naive).unwrap();
}
