//! SIGKILL and restart of the nats-server (`sync_interval: always`) under a running
//! pipelined producer that retries unacknowledged records with the same message ids:
//! afterwards a fresh reader finds every record exactly once (oracle: lineage ids counted
//! from what is stored, against the count the producer sent).
//! `EXACTLY_SOAK=1` runs more records and kills.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::lineage::LineageAudit;
use exactly_nats::{ClientOptions, NatsLog, OutRecord, TopicOptions};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: u64 = 500;

#[test]
fn every_acknowledged_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = common::single_node(dir.path()) else {
        return;
    };
    let soak = std::env::var("EXACTLY_SOAK").is_ok_and(|v| v == "1");
    let (total, kills) = if soak {
        (200_000u64, 10)
    } else {
        (10_000u64, 3)
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(common::seed());
    let url = server.url();
    let options = ClientOptions {
        request_timeout_ms: 2_000,
        ..ClientOptions::default()
    };
    let log = NatsLog::connect_with(&url, options.clone()).unwrap();
    let topic = log
        .create_topic(&common::unique_topic("kill9"), 1, TopicOptions::default())
        .unwrap();
    let name = topic.name().to_string();

    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (acked, done) = (acked.clone(), done.clone());
        std::thread::spawn(move || {
            let mut retries = 0u64;
            let mut next = 0u64;
            while next < total {
                let batch: Vec<OutRecord> = (next..(next + BATCH).min(total))
                    .map(|i| OutRecord {
                        origin: None,
                        msg_id: format!("kill9.{i}"),
                        epoch: None,
                        key: None,
                        timestamp_ms: i as i64,
                        value: i.to_le_bytes().to_vec(),
                    })
                    .collect();
                match log.publish(&topic, 0, &batch, None) {
                    Ok(acks) => {
                        next += acks.len() as u64;
                        acked.store(next, Ordering::SeqCst);
                    }
                    // Retry what was not acknowledged, same ids (the window is 2 min).
                    Err(failure) => {
                        next += failure.acked.len() as u64;
                        acked.store(next, Ordering::SeqCst);
                        retries += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            done.store(true, Ordering::SeqCst);
            retries
        })
    };

    for kill in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1_200)));
        if done.load(Ordering::SeqCst) {
            break;
        }
        let before = acked.load(Ordering::SeqCst);
        server.kill().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(100..800)));
        server.restart().unwrap();
        server.wait_ready(10_000).unwrap();
        eprintln!("kill {kill}: {before} acknowledged before");
    }
    let started = Instant::now();
    let retries = producer.join().unwrap();
    eprintln!(
        "producer finished {} ms after the last restart, {retries} retries",
        started.elapsed().as_millis()
    );

    // Oracle: a fresh connection reads everything and counts lineage ids.
    let fresh = NatsLog::connect_with(&url, options).unwrap();
    let topic = fresh.open_topic(&name).unwrap();
    let mut reader = fresh.reader(&topic, 0, 1).unwrap();
    let mut audit = LineageAudit::default();
    loop {
        let batch = reader.next_batch(5_000).unwrap();
        if batch.is_empty() {
            break;
        }
        for record in &batch {
            audit.add(record.msg_id.as_deref());
        }
    }
    let report = audit.report();
    assert_eq!(report.records, total, "{report:?}");
    assert!(report.is_exact(), "{report:?}");
    assert_eq!(report.producers[0].last, total - 1);
}
