//! Endpoints over the embedded log: `LogSource` reads transfers (with a duplicate, a
//! record without an envelope, an unparseable body and an unknown account) from a topic,
//! `LogPublisher` writes credits and dead letters to topics. The good transfers produce one
//! credit each, each bad record exactly one dead letter with its reason, and a restarted
//! endpoint resumes from the committed position without re-reading.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{ManualClock, Offset, Timestamp};
use exactly_endpoint::bank::{transfer_id, Accounts, DebitHandler, Transfer, CREDITS_TOPIC};
use exactly_endpoint::message::{decode_envelope, encode_envelope};
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, LogPublisher, LogSource, MessageId,
    Store,
};
use exactly_log::{Log, LogConfig, Record};
use std::sync::Arc;
use std::time::Duration;

fn record(value: Vec<u8>) -> Record {
    Record {
        timestamp: Timestamp(0),
        key: None,
        value,
    }
}

fn transfer(n: u64, from: &str, amount: i64) -> Vec<u8> {
    let t = Transfer {
        from: from.into(),
        to: "b-0".into(),
        amount,
    };
    encode_envelope(transfer_id(n), &serde_json::to_vec(&t).unwrap())
}

fn read_all(log: &Log, topic: &str) -> Vec<(MessageId, String)> {
    log.read(topic, 0, Offset(0), 1000)
        .unwrap()
        .into_iter()
        .map(|r| {
            let (id, payload) = decode_envelope(&r.value).unwrap();
            (id, String::from_utf8_lossy(payload).into_owned())
        })
        .collect()
}

fn run_once(log: &Arc<Log>, store_dir: &std::path::Path) -> u64 {
    let store = EmbeddedStore::open(store_dir, EmbeddedOptions::default()).unwrap();
    let handler = DebitHandler {
        local: Accounts::new("a", 2),
        remote: Accounts::new("b", 2),
        batch_max: 3,
    };
    let mut ep = Endpoint::new(
        handler,
        store,
        EndpointConfig::default(),
        Arc::new(ManualClock::new(0)),
    );
    let positions = ep.store().positions().unwrap();
    let mut source = LogSource::new(Arc::clone(log), "transfers", &positions).unwrap();
    let mut publisher = LogPublisher::new(Arc::clone(log));
    let mut delivered = 0;
    loop {
        let batch = source.poll(4, Duration::from_millis(10)).unwrap();
        if batch.is_empty() {
            assert!(source.caught_up().unwrap());
            return delivered;
        }
        delivered += batch.len() as u64;
        ep.process(&batch).unwrap();
        ep.dispatch(&mut publisher).unwrap();
    }
}

#[test]
fn bad_records_are_dead_lettered_once_and_good_ones_credited() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("log"), LogConfig::default()).unwrap());
    for topic in ["transfers", CREDITS_TOPIC, "dead-letters"] {
        log.create_topic(topic, 1).unwrap();
    }
    let records = vec![
        record(transfer(1, "a-0", 10)),
        record(b"no envelope at all".to_vec()),
        record(transfer(2, "a-1", 20)),
        record(transfer(1, "a-0", 10)),
        record(encode_envelope(MessageId::from_name("junk"), b"{not json")),
        record(transfer(3, "zz-9", 5)),
    ];
    log.append("transfers", 0, &records, None).unwrap();

    let store_dir = dir.path().join("store");
    assert_eq!(run_once(&log, &store_dir), 6);
    let credits = read_all(&log, CREDITS_TOPIC);
    assert_eq!(
        credits.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![transfer_id(1).derive(0), transfer_id(2).derive(0)]
    );
    let dead = read_all(&log, "dead-letters");
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert!(dead[0].1.contains("envelope magic"), "{}", dead[0].1);
    assert!(dead[1].1.contains("unparseable transfer"), "{}", dead[1].1);
    assert!(dead[2].1.contains("unknown account zz-9"), "{}", dead[2].1);

    // A restart resumes after the committed position: nothing is read or published again.
    assert_eq!(run_once(&log, &store_dir), 0);
    assert_eq!(read_all(&log, CREDITS_TOPIC).len(), 2);
    assert_eq!(read_all(&log, "dead-letters").len(), 3);
}
