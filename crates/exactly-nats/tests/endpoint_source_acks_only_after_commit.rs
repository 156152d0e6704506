//! `NatsSource`, an endpoint's input on JetStream, acknowledges a delivery only once the
//! store committed it: after a poll the endpoint's durable consumer has every delivery
//! pending and its ack floor unmoved; after `committed` for a prefix, the floor is that
//! prefix's last sequence. A new session opened at the committed position gets the rest at
//! once — not after `ack_wait` (30 s) — and nothing before it. Oracle: the server's consumer
//! info, read through a separate client. On our own server (2.15) and on the machine's
//! 2.9.10.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_endpoint::message::encode_envelope;
use exactly_endpoint::{MessageId, Source, SourceOpener};
use exactly_nats::{NatsEndpointInput, NatsLog, OutRecord, TopicOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: u64 = 10;
const COMMITTED: usize = 4;
const CONSUMER: &str = "accounts-b";

/// (ack floor stream sequence, deliveries pending acknowledgment) of the consumer.
fn consumer_state(url: &str, stream: &str) -> (u64, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream(stream).await.unwrap();
        let info = stream.consumer_info(CONSUMER).await.unwrap();
        (info.ack_floor.stream_sequence, info.num_ack_pending)
    })
}

#[test]
fn deliveries_are_acknowledged_only_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(server) = common::single_node(dir.path()) {
        acks_after_commit(&server.url());
    }
    if let Some(url) = common::machine_nats() {
        acks_after_commit(&url);
    }
}

fn acks_after_commit(url: &str) {
    let url = url.to_string();
    let log = Arc::new(NatsLog::connect(&url).unwrap());
    let name = common::unique_topic("epsource");
    let topic = log.create_topic(&name, 1, TopicOptions::default()).unwrap();
    let records: Vec<OutRecord> = (0..MESSAGES)
        .map(|i| OutRecord {
            msg_id: format!("m.{i}"),
            epoch: None,
            origin: None,
            key: None,
            timestamp_ms: 0,
            value: encode_envelope(MessageId::from_name(&format!("m{i}")), b"x"),
        })
        .collect();
    log.publish(&topic, 0, &records, None).unwrap();
    let stream = topic.stream(0).unwrap();

    let mut input = NatsEndpointInput::new(Arc::clone(&log), &name, CONSUMER).unwrap();
    let mut source = input.open(&[]).unwrap();
    let polled = source.poll(100, Duration::from_secs(2)).unwrap();
    assert_eq!(polled.len() as u64, MESSAGES);
    assert_eq!(
        consumer_state(&url, &stream),
        (0, MESSAGES as usize),
        "nothing acknowledged before the commit"
    );
    source.committed(&polled[..COMMITTED]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while consumer_state(&url, &stream).0 < COMMITTED as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        consumer_state(&url, &stream),
        (COMMITTED as u64, MESSAGES as usize - COMMITTED),
        "exactly the committed prefix acknowledged"
    );

    // A new session (the process restarted) from the committed position.
    drop(source);
    let position = polled[COMMITTED - 1].position.clone();
    let mut source = input.open(&[position]).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    while rest.len() < MESSAGES as usize - COMMITTED && started.elapsed() < Duration::from_secs(10)
    {
        rest.extend(source.poll(100, Duration::from_millis(200)).unwrap());
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not after ack_wait"
    );
    let ids: Vec<MessageId> = rest.iter().map(|d| d.message.id).collect();
    let expected: Vec<MessageId> = polled[COMMITTED..].iter().map(|d| d.message.id).collect();
    assert_eq!(ids, expected, "the uncommitted rest, once, in order");
    assert!(source.caught_up().unwrap());
    drop(source);
    log.delete_topic(&topic).unwrap(); // The machine's server is shared.
}
