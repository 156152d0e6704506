//! A committed source position beyond the end of the source partition means the source
//! lost records we had already read (its writer's machine crashed before its fsync; the
//! writer republishes them at lower offsets). The source must re-read from the start
//! rather than wait past the end, so the republished messages are not skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::Timestamp;
use exactly_endpoint::message::encode_envelope;
use exactly_endpoint::{LogSource, MessageId, Position};
use exactly_log::{Log, LogConfig, Record};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn position_past_the_end_then_source_rereads_from_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), LogConfig::default()).unwrap());
    log.create_topic("credits", 1).unwrap();
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            timestamp: Timestamp(0),
            key: None,
            value: encode_envelope(MessageId::from_name(&format!("m{i}")), b"x"),
        })
        .collect();
    log.append("credits", 0, &records, None).unwrap();

    let within = [Position {
        topic: "credits".into(),
        partition: 0,
        next_offset: 2,
    }];
    let mut source = LogSource::new(Arc::clone(&log), "credits", &within).unwrap();
    let read = source.poll(10, Duration::from_millis(10)).unwrap();
    assert_eq!(
        read.len(),
        1,
        "a position within the partition is resumed as is"
    );

    let beyond = [Position {
        topic: "credits".into(),
        partition: 0,
        next_offset: 7,
    }];
    let mut source = LogSource::new(Arc::clone(&log), "credits", &beyond).unwrap();
    let read = source.poll(10, Duration::from_millis(10)).unwrap();
    assert_eq!(
        read.len(),
        3,
        "a position past the end re-reads the partition"
    );
    assert_eq!(read[0].message.id, MessageId::from_name("m0"));
}
