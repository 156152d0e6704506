//! Recovery after JetStream's duplicate window expired (window 1 s; crash; 3 s pass): a
//! producer that resumes from the stream's tail (its last lineage id there) with expected
//! last sequences stores nothing twice; one that merely retries its unconfirmed records
//! with the same message ids does store them twice — the window is not a guarantee.
//! Oracle: lineage ids counted by a fresh reader. On our own server the crash is a SIGKILL
//! of nats-server; on the machine's 2.9.10 only the producer's crash is simulated.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::lineage::LineageAudit;
use exactly_nats::scan::last_with_id_prefix;
use exactly_nats::server::NatsServer;
use exactly_nats::{NatsLog, OutRecord, Topic, TopicOptions};
use std::time::Duration;

const TOTAL: u64 = 2_000;
/// Records the producer wrote before its crash ...
const WRITTEN: u64 = 1_200;
/// ... of which it had recorded only these as confirmed (its checkpoint).
const CONFIRMED: u64 = 1_000;

fn records(partition: u32, range: std::ops::Range<u64>) -> Vec<OutRecord> {
    range
        .map(|i| OutRecord {
            origin: None,
            msg_id: format!("w{partition}.{i}"),
            epoch: None,
            key: None,
            timestamp_ms: i as i64,
            value: vec![1; 16],
        })
        .collect()
}

fn audit(log: &NatsLog, topic: &Topic, partition: u32) -> exactly_nats::lineage::LineageReport {
    let mut reader = log.reader(topic, partition, 1).unwrap();
    let mut audit = LineageAudit::default();
    loop {
        let batch = reader.next_batch(1_000).unwrap();
        if batch.is_empty() {
            return audit.report();
        }
        batch.iter().for_each(|r| audit.add(r.msg_id.as_deref()));
    }
}

fn crash_wait_resume(url: &str, mut server: Option<&mut NatsServer>) {
    let log = NatsLog::connect(url).unwrap();
    let options = TopicOptions {
        duplicate_window_ms: 1_000,
        ..TopicOptions::default()
    };
    let name = common::unique_topic("window");
    let topic = log.create_topic(&name, 2, options).unwrap();
    for partition in 0..2 {
        log.publish(&topic, partition, &records(partition, 0..WRITTEN), Some(0))
            .unwrap();
    }
    drop(log); // The producer crashes.
    if let Some(server) = server.as_deref_mut() {
        server.kill().unwrap();
    }
    std::thread::sleep(Duration::from_secs(3)); // The duplicate window (1 s) expires.
    if let Some(server) = server {
        server.restart().unwrap();
        server.wait_ready(10_000).unwrap();
    }
    let log = NatsLog::connect(url).unwrap();
    let topic = log.open_topic(&name).unwrap();

    // Partition 0, the protocol: find our last record in the stream, continue after it,
    // conditional on the tail.
    let last = last_with_id_prefix(&log, &topic, 0, "w0.")
        .unwrap()
        .unwrap();
    assert_eq!(last.msg_id.as_deref(), Some("w0.1199"));
    log.publish(&topic, 0, &records(0, WRITTEN..TOTAL), Some(last.sequence))
        .unwrap();
    let report = audit(&log, &topic, 0);
    assert!(report.is_exact(), "{report:?}");
    assert_eq!(report.records, TOTAL);

    // Partition 1, the naive retry from the checkpoint with the same ids.
    let acks = log
        .publish(&topic, 1, &records(1, CONFIRMED..TOTAL), None)
        .unwrap();
    assert!(acks.iter().all(|a| !a.duplicate), "the window had expired");
    let naive = audit(&log, &topic, 1);
    assert_eq!(naive.duplicates, WRITTEN - CONFIRMED, "{naive:?}");
    log.delete_topic(&topic).unwrap();
}

#[test]
fn on_a_sync_always_node_killed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = common::single_node(dir.path()) else {
        return;
    };
    let url = server.url();
    crash_wait_resume(&url, Some(&mut server));
}

#[test]
fn on_the_machines_2_9_server() {
    let Some(url) = common::machine_nats() else {
        return;
    };
    crash_wait_resume(&url, None);
}
