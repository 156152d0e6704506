//! A committed source position beyond the end of the source partition means the source
//! lost records the endpoint had already processed (its writer's machine crashed before
//! its fsync; the writer republishes them at new offsets). The source resumes at the
//! partition's durable end — it never re-reads the partition from its start, which would
//! rely on the inbox remembering every id ever processed — reports the gap, and the inbox
//! drops the republished ids while new messages are processed once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{ManualClock, Timestamp};
use exactly_endpoint::message::encode_envelope;
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, Handler, HandlerError, LogSource,
    LostTail, Message, MessageId, Outbox, Position, State, Store,
};
use exactly_log::{Log, LogConfig, Record};
use std::sync::Arc;
use std::time::Duration;

/// Counts the messages it processes in one state key.
struct Counter;

impl Handler for Counter {
    type Value = i64;
    fn keys(&self, _msg: &Message, keys: &mut Vec<Vec<u8>>) {
        keys.push(b"count".to_vec());
    }
    fn handle(
        &mut self,
        _msg: &Message,
        state: &mut State<'_, i64>,
        _out: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let count = state.get(b"count")?.copied().unwrap_or(0);
        state.put(b"count", count + 1)?;
        Ok(())
    }
}

fn append(log: &Log, names: &[&str]) {
    let records: Vec<Record> = names
        .iter()
        .map(|name| Record {
            timestamp: Timestamp(0),
            key: None,
            value: encode_envelope(MessageId::from_name(name), b"x"),
        })
        .collect();
    log.append("credits", 0, &records, None).unwrap();
}

fn source_log(dir: &std::path::Path, names: &[&str]) -> Arc<Log> {
    let log = Arc::new(Log::open(dir, LogConfig::default()).unwrap());
    log.create_topic("credits", 1).unwrap();
    append(&log, names);
    log
}

#[test]
fn position_past_the_end_then_source_resumes_at_end_and_inbox_drops_republished() {
    let temp = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(temp.path().join("store"), EmbeddedOptions::default()).unwrap();
    let mut endpoint = Endpoint::new(
        Counter,
        store,
        EndpointConfig::default(),
        Arc::new(ManualClock::new(0)),
    );

    // The endpoint processes m0..m4 of the source: its committed position is 5.
    let before = source_log(&temp.path().join("before"), &["m0", "m1", "m2", "m3", "m4"]);
    let mut source = LogSource::new(before, "credits", &[]).unwrap();
    let read = source.poll(10, Duration::from_millis(10)).unwrap();
    assert_eq!(read.len(), 5);
    endpoint.process(&read).unwrap();
    let committed = endpoint.store().positions().unwrap();
    assert_eq!(committed[0].next_offset, 5);

    // The source's machine crashed: only m0, m1 were durable; its writer republished m2.
    let after = source_log(&temp.path().join("after"), &["m0", "m1", "m2"]);
    let within = [Position {
        topic: "credits".into(),
        partition: 0,
        next_offset: 2,
    }];
    let resumed = LogSource::new(Arc::clone(&after), "credits", &within).unwrap();
    assert!(
        resumed.lost_tails().is_empty(),
        "a position within the end is no gap"
    );

    let mut source = LogSource::new(Arc::clone(&after), "credits", &committed).unwrap();
    assert_eq!(
        source.lost_tails(),
        [LostTail {
            topic: "credits".into(),
            partition: 0,
            end_offset: 3,
            committed_offset: 5,
        }],
        "the gap is reported"
    );
    assert!(
        source
            .poll(10, Duration::from_millis(10))
            .unwrap()
            .is_empty(),
        "nothing below the end is read again"
    );

    // The writer republishes m3, m4 and sends a new m5: read from the end, the copies
    // are dropped by the inbox and m5 is processed once.
    append(&after, &["m3", "m4", "m5"]);
    let read = source.poll(10, Duration::from_millis(10)).unwrap();
    let ids: Vec<MessageId> = read.iter().map(|d| d.message.id).collect();
    assert_eq!(
        ids,
        ["m3", "m4", "m5"].map(MessageId::from_name),
        "reading resumes at the end"
    );
    let report = endpoint.process(&read).unwrap();
    assert_eq!((report.duplicates, report.processed), (2, 1));
    let state = endpoint.store().state_entries().unwrap();
    assert_eq!(state, [(b"count".to_vec(), 6i64.to_le_bytes().to_vec())]);
}
