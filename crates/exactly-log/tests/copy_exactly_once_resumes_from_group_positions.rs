//! `exactly_log::copy` under exactly-once copies every input record once, transformed,
//! commits the group's positions with the outputs, and a second run over grown input
//! copies only the new records; under at-least-once the outputs are plain appends.

#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_core::{Offset, Timestamp};
use exactly_log::copy::{copy, CopyError, CopyOptions, Guarantee, Transform};
use exactly_log::{Isolation, Log, LogConfig, Record};

fn append(log: &Log, values: &[&str]) {
    for (i, value) in values.iter().enumerate() {
        let record = Record {
            timestamp: Timestamp(i as i64),
            key: Some(format!("k{value}").into_bytes()),
            value: value.as_bytes().to_vec(),
        };
        log.append("in", (i % 2) as u32, &[record], None)
            .expect("append input");
    }
}

fn outputs(log: &Log, topic: &str) -> Vec<String> {
    let mut all = Vec::new();
    for partition in 0..3 {
        let batch = log
            .read_with(
                topic,
                partition,
                Offset(0),
                10_000,
                Isolation::ReadCommitted,
            )
            .expect("read");
        all.extend(
            batch
                .records
                .into_iter()
                .map(|r| String::from_utf8(r.value).expect("utf-8")),
        );
    }
    all.sort();
    all
}

#[test]
fn exactly_once_copy_resumes_from_the_group_positions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), LogConfig::default()).expect("open");
    log.create_topic("in", 2).expect("create in");
    log.create_topic("out", 3).expect("create out");
    log.create_topic("plain", 3).expect("create plain");
    append(&log, &["a", "b", "c", "d", "e"]);
    let mut options = CopyOptions::new("in", "out", "g", Transform::Upper, Guarantee::ExactlyOnce);
    options.commit_interval = std::time::Duration::from_millis(5);

    let first = copy(&log, &options).expect("first copy");
    assert_eq!(first.copied, 5);
    assert!(first.commits >= 1);
    assert_eq!(outputs(&log, "out"), ["A", "B", "C", "D", "E"]);
    let committed = log.committed_offsets("g").expect("offsets");
    let total: u64 = committed.values().map(|o| o.0).sum();
    assert_eq!(
        total, 5,
        "the group's positions cover the input: {committed:?}"
    );

    append(&log, &["f", "g"]);
    let second = copy(&log, &options).expect("second copy");
    assert_eq!(second.copied, 2, "only the new input");
    assert_eq!(outputs(&log, "out"), ["A", "B", "C", "D", "E", "F", "G"]);

    let plain = CopyOptions::new(
        "in",
        "plain",
        "g2",
        Transform::Identity,
        Guarantee::AtLeastOnce,
    );
    assert_eq!(copy(&log, &plain).expect("at-least-once copy").copied, 7);
    assert_eq!(outputs(&log, "plain"), ["a", "b", "c", "d", "e", "f", "g"]);

    let same = CopyOptions::new(
        "in",
        "in",
        "g3",
        Transform::Identity,
        Guarantee::ExactlyOnce,
    );
    assert!(matches!(copy(&log, &same), Err(CopyError::SameTopic)));
    let unknown = CopyOptions::new(
        "nope",
        "out",
        "g3",
        Transform::Identity,
        Guarantee::ExactlyOnce,
    );
    assert!(matches!(copy(&log, &unknown), Err(CopyError::UnknownInput(t)) if t == "nope"));
}
