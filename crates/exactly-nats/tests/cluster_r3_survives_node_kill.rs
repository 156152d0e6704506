//! A 3-node cluster with an R3 topic: a producer with message-id retries keeps publishing
//! while one node is SIGKILLed and restarted; a fresh reader (connected to another node)
//! finds every record exactly once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::lineage::LineageAudit;
use exactly_nats::{ClientOptions, NatsLog, OutRecord, TopicOptions};
use std::time::{Duration, Instant};

const TOTAL: u64 = 6_000;

#[test]
fn every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut cluster) = common::cluster(dir.path()) else {
        return;
    };
    let url = cluster.url();
    let options = ClientOptions {
        request_timeout_ms: 3_000,
        ..ClientOptions::default()
    };
    // JetStream needs a meta leader first: retry creation for a while.
    let log = NatsLog::connect_with(&url, options.clone()).unwrap();
    let started = Instant::now();
    let name = common::unique_topic("r3");
    let r3 = TopicOptions {
        replicas: 3,
        ..TopicOptions::default()
    };
    let topic = loop {
        match log.create_topic(&name, 1, r3.clone()) {
            Ok(topic) => break topic,
            Err(error) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no JetStream cluster: {error}"
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    let mut next = 0u64;
    let mut killed = false;
    let mut retries = 0;
    while next < TOTAL {
        if next >= TOTAL / 3 && !killed {
            cluster.nodes[0].kill().unwrap();
            killed = true;
        }
        if killed && next >= 2 * TOTAL / 3 && cluster.nodes[0].pid().is_none() {
            cluster.nodes[0].restart().unwrap();
        }
        let batch: Vec<OutRecord> = (next..(next + 250).min(TOTAL))
            .map(|i| OutRecord {
                origin: None,
                msg_id: format!("r3.{i}"),
                epoch: None,
                key: None,
                timestamp_ms: i as i64,
                value: vec![7; 32],
            })
            .collect();
        match log.publish(&topic, 0, &batch, None) {
            Ok(acks) => next += acks.len() as u64,
            Err(failure) => {
                next += failure.acked.len() as u64;
                retries += 1;
                assert!(
                    retries < 200,
                    "the cluster did not recover: {}",
                    failure.error
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    eprintln!("{retries} retries");
    // A reader connected only to node 2.
    let fresh = NatsLog::connect_with(&cluster.nodes[2].url(), options).unwrap();
    // The restarted node may still be catching up and leaders re-electing: a user
    // retries opening for a bounded time, as creation above.
    let reopened = Instant::now();
    let topic = loop {
        match fresh.open_topic(&name) {
            Ok(topic) => break topic,
            Err(error) => {
                assert!(
                    reopened.elapsed() < Duration::from_secs(30),
                    "the cluster did not serve the topic again: {error}"
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    let mut reader = fresh.reader(&topic, 0, 1).unwrap();
    let mut audit = LineageAudit::default();
    // Reads may time out while the cluster settles after the kill: retried for a bounded
    // time (a failed read returns nothing it skipped; the next one starts where it stopped).
    let reading = Instant::now();
    loop {
        let batch = match reader.next_batch(2_000) {
            Ok(batch) => batch,
            Err(error) => {
                assert!(
                    reading.elapsed() < Duration::from_secs(30),
                    "the cluster did not serve reads again: {error}"
                );
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if batch.is_empty() {
            break;
        }
        batch.iter().for_each(|r| audit.add(r.msg_id.as_deref()));
    }
    let report = audit.report();
    assert_eq!(report.records, TOTAL, "{report:?}");
    assert!(report.is_exact(), "{report:?}");
}
