//! A client whose server is paused (SIGSTOP: the socket stays open, nothing answers)
//! notices within seconds — its pings go unanswered — and a publish fails with a typed
//! error instead of hanging; after SIGCONT the same client resumes from the stream's tail
//! (the failed publish may have landed after all) and every record is stored once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::{NatsError, NatsLog, OutRecord, TopicOptions};
use std::time::{Duration, Instant};

#[test]
fn within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = common::single_node(dir.path()) else {
        return;
    };
    let log = NatsLog::connect(&server.url()).unwrap();
    let topic = log
        .create_topic(&common::unique_topic("pause"), 1, TopicOptions::default())
        .unwrap();
    let record = |i: u64| OutRecord {
        origin: None,
        msg_id: format!("pause.{i}"),
        epoch: None,
        key: None,
        timestamp_ms: 0,
        value: b"x".to_vec(),
    };
    log.publish(&topic, 0, &[record(0)], Some(0)).unwrap();
    assert!(log.is_connected());

    server.pause().unwrap();
    let paused_at = Instant::now();
    // A publish to a paused server fails within the request timeout (5 s), typed.
    let failure = log.publish(&topic, 0, &[record(1)], Some(1)).unwrap_err();
    assert!(
        matches!(failure.error, NatsError::Publish { .. }),
        "{}",
        failure.error
    );
    assert!(
        paused_at.elapsed() < Duration::from_secs(8),
        "publish hung {:?}",
        paused_at.elapsed()
    );
    // The connection itself is declared lost after missed pings (2 s interval).
    while log.is_connected() {
        assert!(
            paused_at.elapsed() < Duration::from_secs(15),
            "the paused server was not noticed within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "paused server noticed after {} ms",
        paused_at.elapsed().as_millis()
    );

    server.resume().unwrap();
    // The failed publish may still have landed (it sat in the socket while the server was
    // stopped): resume from the tail, as a producer must once the outcome is unknown.
    let resumed_at = Instant::now();
    loop {
        let outcome = log.tail(&topic, 0).and_then(|tail| {
            let tail = tail.expect("record 0 is there");
            if tail.msg_id.as_deref() == Some("pause.1") {
                return Ok(());
            }
            log.publish(&topic, 0, &[record(1)], Some(tail.sequence))
                .map(|_| ())
                .map_err(|failure| failure.error)
        });
        match outcome {
            Ok(()) => break,
            Err(error) => {
                assert!(
                    resumed_at.elapsed() < Duration::from_secs(30),
                    "no recovery: {error}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    // Oracle: a fresh reader finds each record once.
    let mut reader = log.reader(&topic, 0, 1).unwrap();
    let ids: Vec<_> = reader
        .next_batch(10)
        .unwrap()
        .into_iter()
        .map(|r| r.msg_id)
        .collect();
    assert_eq!(
        ids,
        [Some("pause.0".to_string()), Some("pause.1".to_string())]
    );
}
